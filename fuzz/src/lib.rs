//! Helpers shared by the fuzz targets.
//!
//! Inputs that carry headers are written like an HTTP message (`name: value` lines), so the
//! seeds under `fuzz/seeds/` stay readable and libFuzzer's mutations stay close to real answers.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Parses `name: value` lines into a header map. Lines that are no valid header (no colon, a
/// bad name, a control character in the value) are skipped, as an HTTP client would never
/// hand them over. Repeated names are appended, so `get` sees the first, as in production.
pub fn headers(block: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// Splits `data` at the first blank line: the header block before, the body after.
pub fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    for sep in [&b"\r\n\r\n"[..], b"\n\n"] {
        if let Some(at) = data.windows(sep.len()).position(|w| w == sep) {
            return (&data[..at], &data[at + sep.len()..]);
        }
    }
    (data, &[])
}
