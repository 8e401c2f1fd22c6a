//! Request bodies built for tests: synthetic torrents of any size and multipart forms.

/// A valid single-file torrent, distinct for each `n`, whose `pieces` holds `pieces` hashes
/// (each 20 bytes; the file is `pieces` × 16 KiB long), so its size can be chosen.
pub fn sized_torrent(n: u64, pieces: usize) -> Vec<u8> {
    let pieces = pieces.max(1);
    let name = format!("file-{n}.bin");
    let mut info = Vec::new();
    info.extend_from_slice(format!("d6:lengthi{}e4:name", pieces as u64 * 16384).as_bytes());
    info.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
    info.extend_from_slice(format!("12:piece lengthi16384e6:pieces{}:", pieces * 20).as_bytes());
    let start = info.len();
    info.resize(start + pieces * 20, 0);
    info[start..start + 8].copy_from_slice(&n.to_le_bytes());
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    t
}

/// The boundary [`multipart`] uses.
pub const BOUNDARY: &str = "thetorrent-test-boundary-7d93";

/// A `multipart/form-data` body with one `torrent` file part per entry (name, bytes);
/// its Content-Type is `multipart/form-data; boundary=` + [`BOUNDARY`].
pub fn multipart(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, bytes) in files {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"torrent\"; \
                 filename=\"{name}\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}
