//! ARM's answers as the operator reads them: error classification and the contact's wire type.
//!
//! Input: an HTTP-like response, `STATUS\nname: value\n...\n\nBODY`. The body alone is also
//! parsed as a `SecurityContact`, since the same bytes reach both paths in production.
#![no_main]

use std::time::{Duration, SystemTime};

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use security_contact_operator::arm::{ArmError, retry_after, wire::SecurityContact};
use security_contact_operator_fuzz::{headers, split_head};

fuzz_target!(|data: &[u8]| {
    let (head, body) = split_head(data);
    let (status_line, header_block) = match head.iter().position(|&b| b == b'\n') {
        Some(at) => (&head[..at], &head[at + 1..]),
        None => (head, &[][..]),
    };
    // An unparsable status line still exercises the body: ARM's usual error status.
    let status = std::str::from_utf8(status_line)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let headers = headers(header_block);
    // A fixed clock: 2015-10-21T07:27:00Z, one minute before the seeds' HTTP-date.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_420);

    let error = ArmError::from_response(status, &headers, body, now);
    // Display, summary, ids and reason are shown to people and metrics: they must not panic.
    let shown = error.to_string();
    let summary = error.summary();
    assert!(shown.starts_with(&summary), "{shown:?} vs {summary:?}");
    let _ = (error.request_ids(), error.reason(), error.is_transient());
    let ArmError::Response {
        status: kept,
        code,
        retry_after: wait,
        from_arm,
        ..
    } = &error
    else {
        panic!("from_response built {error:?}");
    };
    assert_eq!(*kept, status.as_u16());
    // The code names metrics and statuses: there is always one.
    assert!(!code.is_empty(), "{error:?}");
    assert_eq!(*wait, retry_after::parse(&headers, now));
    // Only ARM's own 404 means "no contact"; anything else must not create a contact over one.
    if error.is_missing_contact() {
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(*from_arm);
        assert!(!error.is_subscription_level());
    }

    // Unknown fields are kept at every level, so what we send back is what ARM gave us.
    if let Ok(contact) = serde_json::from_slice::<SecurityContact>(body) {
        let written = serde_json::to_vec(&contact).expect("a parsed contact serialises");
        let again: SecurityContact =
            serde_json::from_slice(&written).expect("our own output parses");
        assert_eq!(again, contact, "{}", String::from_utf8_lossy(&written));
    }
});
