//! UTC wall-clock formatting in the exact shapes Azure puts into its messages.
//!
//! The crate pins no date library for the simulator, and the three formats needed here are
//! fixed-width, so a days-to-civil conversion is all it takes.

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
    fn midnight_and_noon_use_twelve() {
        assert_eq!(dotnet_utc(at(0)), "1/1/1970 12:00:00 AM");
        assert_eq!(dotnet_utc(at(12 * 3_600)), "1/1/1970 12:00:00 PM");
        assert_eq!(entra_timestamp(at(951_782_400)), "2000-02-29 00:00:00Z");
    }
}
