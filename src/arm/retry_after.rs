//! How long ARM asks us to wait. Pure: the clock is a parameter.
//!
//! `x-ms-retry-after-ms` (and `retry-after-ms`) are preferred for their precision; `Retry-After`
//! is delta-seconds or an HTTP-date. A value in the past means "now", never a negative wait.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

pub fn parse(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn seconds() {
        assert_eq!(
            parse(&headers(&[("retry-after", "30")]), SystemTime::UNIX_EPOCH),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn milliseconds_win() {
        let h = headers(&[("retry-after", "2"), ("x-ms-retry-after-ms", "1500")]);
        assert_eq!(
            parse(&h, SystemTime::UNIX_EPOCH),
            Some(Duration::from_millis(1500))
        );
        let h = headers(&[("retry-after-ms", "250")]);
        assert_eq!(
            parse(&h, SystemTime::UNIX_EPOCH),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn http_date_relative_to_the_given_clock() {
        let now = httpdate::parse_http_date("Sun, 22 Nov 2026 10:00:00 GMT").unwrap();
        let h = headers(&[("retry-after", "Sun, 22 Nov 2026 10:01:05 GMT")]);
        assert_eq!(parse(&h, now), Some(Duration::from_secs(65)));
        let past = headers(&[("retry-after", "Sun, 22 Nov 2026 09:00:00 GMT")]);
        assert_eq!(parse(&past, now), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_and_absence() {
        assert_eq!(
            parse(&headers(&[("retry-after", "soon")]), SystemTime::UNIX_EPOCH),
            None
        );
        assert_eq!(parse(&HeaderMap::new(), SystemTime::UNIX_EPOCH), None);
    }
}
