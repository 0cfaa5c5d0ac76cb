//! UTC wall-clock formatting in the exact shapes Azure puts into its messages.
//!
//! The crate pins no date library for the simulator, and the formats needed here are
//! fixed-width, so a days-to-civil conversion (and its inverse, for the RFC 3339 times an
//! Activity Log `$filter` carries) is all it takes.

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

fn civil(at: SystemTime) -> Civil {
    // Times before 1970 never occur here; clamp rather than fail.
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3_600) as u32,
        minute: (rem % 3_600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// Entra's `timestamp` field: `2024-01-31 13:05:09Z`.
pub(crate) fn entra_timestamp(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The round-trip time Entra prints in AADSTS700024, to 100 ns: `2024-08-05T10:07:04.2542067Z`.
pub(crate) fn entra_precise(at: SystemTime) -> String {
    let c = civil(at);
    let ticks = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() / 100)
        .unwrap_or(0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ticks:07}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The .NET invariant-culture time ARM prints in `ExpiredAuthenticationToken`: `1/31/2024 1:05:09 PM`.
pub(crate) fn dotnet_utc(at: SystemTime) -> String {
    let c = civil(at);
    let (hour12, half) = match c.hour {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{:02}:{:02} {}",
        c.month, c.day, c.year, hour12, c.minute, c.second, half
    )
}

/// The compact stamp inside `x-ms-routing-request-id`: `20240131T130509Z`.
pub(crate) fn compact_utc(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Microsoft Graph's `innerError.date`: `2024-02-20T13:53:31` (UTC, no zone, no fraction), as
/// in the error bodies quoted in microsoftgraph/microsoft-graph-docs#16208.
pub(crate) fn graph_date(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// .NET ticks (100 ns since 0001-01-01T00:00:00Z), the `…/ticks/<n>` suffix of an Activity Log
/// event id.
pub(crate) fn dotnet_ticks(at: SystemTime) -> u64 {
    const UNIX_EPOCH_TICKS: u64 = 621_355_968_000_000_000;
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ticks = since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100);
    UNIX_EPOCH_TICKS + ticks
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the times Azure Monitor accepts in a `$filter`: RFC 3339 / ISO 8601
/// (`2014-07-16T04:36:37.6407898Z`, `2024-01-31T13:05:09+01:00`, `2024-01-31T13:05Z`), a
/// space instead of the `T`, no zone meaning UTC, or a bare date (`2024-01-31`, midnight UTC).
/// Times before 1970 are refused (no Azure event is that old).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date = text.get(..10)?;
    let (year, rest) = date.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let (year, month, day) = (i64::from(number(year)?), number(month)?, number(day)?);
    if year.to_string().len() != 4 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0u32;
    let time = &text[10..];
    if !time.is_empty() {
        let time = time.strip_prefix(['T', 't', ' '])?;
        let (clock, zone) = match time.find(['Z', 'z', '+', '-']) {
            Some(i) => time.split_at(i),
            None => (time, ""),
        };
        let (hms, fraction) = match clock.split_once('.') {
            Some((hms, fraction)) => (hms, Some(fraction)),
            None => (clock, None),
        };
        let mut parts = hms.split(':');
        let hour = number(parts.next()?)?;
        let minute = number(parts.next()?)?;
        let second = parts.next().map_or(Some(0), number)?;
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        seconds += i64::from(hour * 3_600 + minute * 60 + second);
        if let Some(fraction) = fraction {
            number(fraction)?;
            let digits: String = fraction
                .chars()
                .chain("000000000".chars())
                .take(9)
                .collect();
            nanos = digits.parse().ok()?;
        }
        match zone {
            "" | "Z" | "z" => {}
            offset => {
                let sign = if offset.starts_with('-') { 1 } else { -1 };
                let (h, m) = offset[1..].split_once(':')?;
                let (h, m) = (number(h)?, number(m)?);
                if h > 23 || m > 59 {
                    return None;
                }
                seconds += sign * i64::from(h * 3_600 + m * 60);
            }
        }
    }
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn formats_known_instants() {
        // 2024-02-29 13:05:09 UTC: a leap day in the afternoon.
        let t = at(1_709_211_909);
        assert_eq!(entra_timestamp(t), "2024-02-29 13:05:09Z");
        assert_eq!(dotnet_utc(t), "2/29/2024 1:05:09 PM");
        assert_eq!(compact_utc(t), "20240229T130509Z");
        assert_eq!(entra_precise(t), "2024-02-29T13:05:09.0000000Z");
        assert_eq!(
            entra_precise(t + Duration::from_nanos(254_206_799)),
            "2024-02-29T13:05:09.2542067Z"
        );
        assert_eq!(entra_precise(at(0)), "1970-01-01T00:00:00.0000000Z");
    }

    #[test]
    fn parses_filter_times_and_formats_graph_dates() {
        let t = at(1_709_211_909);
        assert_eq!(parse_rfc3339("2024-02-29T13:05:09Z"), Some(t));
        assert_eq!(parse_rfc3339("2024-02-29 13:05:09"), Some(t));
        assert_eq!(parse_rfc3339("2024-02-29T14:05:09+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2024-02-29T12:05:09-01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T13:05Z"),
            Some(t - Duration::from_secs(9))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:05:09.2542067Z"),
            Some(t + Duration::from_nanos(254_206_700))
        );
        assert_eq!(parse_rfc3339("2024-02-29"), Some(at(1_709_164_800)));
        assert_eq!(parse_rfc3339(&entra_precise(t)), Some(t));
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-29T25:00:00Z",
            "2024-02-29X13:05:09Z",
            "1969-12-31T00:00:00Z",
            "2024-02-29T13:05:09.x",
            "24-02-29",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(graph_date(t), "2024-02-29T13:05:09");
        // 2015-01-21T22:14:26.9792776Z, the published Activity Log example's event.
        let example = parse_rfc3339("2015-01-21T22:14:26.9792776Z").expect("parses");
        assert_eq!(dotnet_ticks(example), 635_574_752_669_792_776);
    }

    #[test]
    fn midnight_and_noon_use_twelve() {
        assert_eq!(dotnet_utc(at(0)), "1/1/1970 12:00:00 AM");
        assert_eq!(dotnet_utc(at(12 * 3_600)), "1/1/1970 12:00:00 PM");
        assert_eq!(entra_timestamp(at(951_782_400)), "2000-02-29 00:00:00Z");
    }
}
