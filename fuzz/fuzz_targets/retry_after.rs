//! `Retry-After` and its millisecond variants, as ARM and the token endpoint send them.
//!
//! Input: header lines, `name: value` (e.g. `retry-after: 120`).
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use security_contact_operator::arm::retry_after::parse;
use security_contact_operator_fuzz::headers;

/// A header's first value, as a non-empty run of ASCII digits (with optional blanks), as u64.
fn digits(headers: &http::HeaderMap, name: &str) -> Option<u64> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

fuzz_target!(|data: &[u8]| {
    let headers = headers(data);
    // 2015-10-21T07:27:00Z: the seeds' HTTP-date is one minute later.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_420);
    let wait = parse(&headers, now);

    // The millisecond headers win, then delta-seconds; each plain number means exactly that.
    if let Some(ms) = digits(&headers, "x-ms-retry-after-ms") {
        assert_eq!(wait, Some(Duration::from_millis(ms)));
    } else if let Some(ms) =
        digits(&headers, "retry-after-ms").filter(|_| !headers.contains_key("x-ms-retry-after-ms"))
    {
        assert_eq!(wait, Some(Duration::from_millis(ms)));
    } else if let Some(secs) = digits(&headers, "retry-after").filter(|_| {
        !headers.contains_key("x-ms-retry-after-ms") && !headers.contains_key("retry-after-ms")
    }) {
        assert_eq!(wait, Some(Duration::from_secs(secs)));
        // The same wait as an HTTP-date means the same thing (whole seconds, before year 9999).
        if secs < 1 << 32 {
            let at = httpdate::fmt_http_date(now + Duration::from_secs(secs));
            let mut dated = http::HeaderMap::new();
            dated.insert("retry-after", at.parse().unwrap());
            assert_eq!(parse(&dated, now), Some(Duration::from_secs(secs)), "{at}");
        }
    }

    // The clock only matters for an HTTP-date, and then a later clock never waits longer,
    // nor less than the time that passed allows: it counts down, to zero and not below.
    let later = parse(&headers, now + Duration::from_secs(10));
    match (wait, later) {
        (None, None) => {}
        (Some(w), Some(l)) => assert!(
            l <= w && l >= w.saturating_sub(Duration::from_secs(10)),
            "{w:?} then {l:?}"
        ),
        other => panic!("the clock changed whether there is a wait: {other:?}"),
    }
});
