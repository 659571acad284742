//! How the console words numbers for people, the same in the browser, on the server and in the CLI.

/// "3 min", "2 h 5 min", "4 d 3 h": a duration as the dashboard says it.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

/// "3 min ago": how long before `now` something happened (both Unix ms).
/// An RFC 3339 time (`2026-11-30T14:02:03.123456789Z`) to the minute, as lists show it:
/// `2026-11-30 14:02 UTC`. Anything shorter is shown as it is.
pub fn minute(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(minute) if rfc3339.ends_with('Z') => format!("{} UTC", minute.replace('T', " ")),
        Some(minute) => minute.replace('T', " "),
        None => rfc3339.to_owned(),
    }
}

pub fn ago(now: i64, at: i64) -> String {
    format!("{} ago", human_duration(now - at))
}

/// A token's last use: "3 min ago", or "never".
pub fn last_used(now: i64, at: Option<i64>) -> String {
    at.map_or_else(|| "never".into(), |at| ago(now, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_lists_read_to_the_minute() {
        assert_eq!(
            minute("2026-11-30T14:02:03.123456789Z"),
            "2026-11-30 14:02 UTC"
        );
        assert_eq!(minute("2026-11-30T14:02:03+01:00"), "2026-11-30 14:02");
        assert_eq!(minute("soon"), "soon");
    }

    #[test]
    fn moments_read_relative_to_now() {
        assert_eq!(ago(200_000, 20_000), "3 min ago");
        assert_eq!(last_used(200_000, None), "never");
        assert_eq!(last_used(200_000, Some(199_000)), "1 s ago");
    }

    #[test]
    fn durations_read_like_the_dashboard_says_them() {
        assert_eq!(human_duration(-5), "0 s");
        assert_eq!(human_duration(59_999), "59 s");
        assert_eq!(human_duration(3 * 60_000 + 5_000), "3 min");
        assert_eq!(human_duration((2 * 60 + 5) * 60_000), "2 h 5 min");
        assert_eq!(human_duration((4 * 24 + 3) * 3_600_000), "4 d 3 h");
    }
}
