//! One-line logs on stderr (ECS sends them to the task's log driver); no logging framework, to
//! keep the binary small.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

macro_rules! info {
    ($($arg:tt)*) => { eprintln!("palisade-defender: {}", format_args!($($arg)*)) };
}
pub(crate) use info;
