//! The service description: `wsdl/thetorrent.wsdl` with its address filled in.
//!
//! Owns: the WSDL text served at `/api/soap?wsdl`. Must never: put an unescaped URL into it.

use super::response::push_escaped;

const WSDL_TEMPLATE: &str = include_str!("../../../wsdl/thetorrent.wsdl");
const BASE_URL_PLACEHOLDER: &str = "{{BASE_URL}}";

/// The WSDL with its `soap:address` set to `<base_url>/api/soap` (`base_url` without a trailing
/// slash is expected; one is removed if present). The URL is XML-escaped.
pub fn wsdl(base_url: &str) -> String {
    let mut escaped = String::with_capacity(base_url.len() + 8);
    push_escaped(&mut escaped, base_url.trim_end_matches('/'));
    WSDL_TEMPLATE.replace(BASE_URL_PLACEHOLDER, &escaped)
}
