//! The console's one time representation: Unix milliseconds (UTC), in the database, in the domain
//! types and on the wire. Views format them; nothing else does.

/// A point in time as Unix milliseconds.
pub type UnixMs = i64;

/// Now, as Unix milliseconds.
pub fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            UnixMs::try_from(elapsed.as_millis()).unwrap_or(UnixMs::MAX)
        })
}

/// A duration in milliseconds, saturating (a setting of years still fits).
pub fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Unix milliseconds as RFC 3339 (UTC), how lists show when something happened (the epoch for a
/// time out of range).
pub fn rfc3339(at_ms: UnixMs) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_342_272_123), "2026-11-22T10:11:12.123Z");
    }
}
