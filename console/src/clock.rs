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
