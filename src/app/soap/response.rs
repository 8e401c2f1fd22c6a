//! The SOAP answers: the rpc/literal response envelope and the Fault.
//!
//! Owns: the envelope's namespaces and escaping. Must never: put a character XML 1.0 cannot
//! carry into an answer.

use super::{FaultCode, Operation, NAMESPACE, SOAP_ENV_NS};

/// Appends `s` with `&`, `<`, `>`, `"` and `'` escaped, and characters XML 1.0 cannot carry at
/// all (control characters other than tab, LF, CR) replaced by `?`, so any message renders.
pub(super) fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
}

fn envelope(body: &str) -> Vec<u8> {
    let mut out = String::with_capacity(body.len() + 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<soap:Envelope xmlns:soap=\"");
    out.push_str(SOAP_ENV_NS);
    out.push_str("\" xmlns:tns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\"><soap:Body>");
    out.push_str(body);
    out.push_str("</soap:Body></soap:Envelope>\n");
    out.into_bytes()
}

/// The rpc/literal response: `<tns:storeTorrentResponse><infoHash>HASH</infoHash>…` (the
/// wrapper is the operation name + `Response` in the service namespace, the part accessor is
/// unqualified and named exactly as the WSDL's output part, as rpc/literal requires).
pub fn render_response(op: Operation, info_hash_hex: &str) -> Vec<u8> {
    let mut body = String::with_capacity(128);
    body.push_str("<tns:");
    body.push_str(op.name());
    body.push_str("Response><infoHash>");
    push_escaped(&mut body, info_hash_hex);
    body.push_str("</infoHash></tns:");
    body.push_str(op.name());
    body.push_str("Response>");
    envelope(&body)
}

/// A SOAP 1.1 Fault: `faultcode` `soap:Client` or `soap:Server`, `faultstring` the message.
/// Send it with status [`FAULT_HTTP_STATUS`].
pub fn render_fault(code: FaultCode, message: &str) -> Vec<u8> {
    let mut body = String::with_capacity(message.len() + 128);
    body.push_str("<soap:Fault><faultcode>");
    body.push_str(match code {
        FaultCode::Client => "soap:Client",
        FaultCode::Server => "soap:Server",
    });
    body.push_str("</faultcode><faultstring>");
    push_escaped(&mut body, message);
    body.push_str("</faultstring></soap:Fault>");
    envelope(&body)
}
