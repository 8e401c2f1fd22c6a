//! Helpers shared by the fuzz targets: a byte-driven chooser, and reference base64 coding
//! written independently of the `base64` crate the service uses.

/// Takes decisions from the front of the fuzz input; the rest is the payload.
pub struct Choices<'a> {
    pub data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data }
    }

    /// One byte (0 when the input is exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// One of `options`.
    pub fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[self.byte() as usize % options.len()]
    }

    /// The rest of the input.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

pub fn b64_value(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Reference decoder for what the SOAP part accepts: symbols of the standard alphabet, then
/// optional `=` padding that stays inside the last group of four and follows at least two
/// symbols there (so `QQ`, `QQ=` and `QQ==` all decode), trailing bits ignored, a lone symbol
/// in the last group refused. `None` when not valid.
pub fn b64_decode_ref(s: &[u8]) -> Option<Vec<u8>> {
    let symbols = s.iter().take_while(|&&c| c != b'=').count();
    let pad = s.len() - symbols;
    if !s[symbols..].iter().all(|&c| c == b'=') {
        return None;
    }
    if symbols % 4 == 1 {
        return None;
    }
    if pad > 0 && (symbols % 4 == 0 || symbols % 4 + pad > 4) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in &s[..symbols] {
        acc = acc << 6 | u32::from(b64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// XML whitespace plus form feed: what the SOAP collector strips from the base64.
pub fn is_b64_ws(c: u8) -> bool {
    c.is_ascii_whitespace()
}
