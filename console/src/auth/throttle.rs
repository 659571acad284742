//! Failed sign-ins slow down further attempts, per account and per client address: a few mistakes
//! cost nothing, then each attempt must wait twice as long as the one before (up to five minutes).
//! Kept in memory: a restart forgets it, which costs an attacker a restart they cannot cause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures that cost nothing.
const FREE_FAILURES: u32 = 5;
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Keys kept at most (an address flood must not grow memory without bound).
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The throttle. One per console process.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl SignInThrottle {
    fn keys(username: &str, address: &str) -> [String; 2] {
        [
            format!("user:{}", username.trim().to_lowercase()),
            format!("address:{address}"),
        ]
    }

    fn wait_after(failures: Failures) -> Duration {
        if failures.count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (failures.count - FREE_FAILURES).min(16);
        Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
    }

    /// `Err(wait)` while an attempt for `username` from `address` must wait that much longer.
    pub fn check(&self, username: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let failures = crate::lock(&self.failures);
        let wait = Self::keys(username, address)
            .iter()
            .filter_map(|key| failures.get(key))
            .filter(|failures| now.duration_since(failures.last) < WINDOW)
            .map(|failures| {
                (failures.last + Self::wait_after(*failures)).saturating_duration_since(now)
            })
            .max()
            .unwrap_or_default();
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// A failed attempt.
    pub fn failed(&self, username: &str, address: &str, now: Instant) {
        let mut failures = crate::lock(&self.failures);
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, f| now.duration_since(f.last) < WINDOW);
        }
        for key in Self::keys(username, address) {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(entry.last) >= WINDOW {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A successful sign-in: the account's slate is clean (the address's is not: it may be trying
    /// many accounts).
    pub fn succeeded(&self, username: &str, address: &str) {
        let [user, _] = Self::keys(username, address);
        crate::lock(&self.failures).remove(&user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_mistakes_are_free_then_each_attempt_waits_longer() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed("alice", "10.0.0.1", start);
            assert_eq!(throttle.check("alice", "10.0.0.1", start), Ok(()));
        }
        throttle.failed("alice", "10.0.0.1", start);
        assert_eq!(
            throttle.check("alice", "10.0.0.1", start),
            Err(Duration::from_secs(1))
        );
        // The account is slowed from any address, and the address for any account.
        assert!(throttle.check("ALICE", "10.0.0.2", start).is_err());
        assert!(throttle.check("bob", "10.0.0.1", start).is_err());
        assert_eq!(throttle.check("bob", "10.0.0.2", start), Ok(()));
        throttle.failed("alice", "10.0.0.1", start);
        assert_eq!(
            throttle.check("alice", "10.0.0.3", start),
            Err(Duration::from_secs(2))
        );
        assert_eq!(
            throttle.check("alice", "10.0.0.3", start + Duration::from_secs(2)),
            Ok(())
        );
        // Long forgotten after the window.
        assert_eq!(throttle.check("alice", "10.0.0.1", start + WINDOW), Ok(()));
        throttle.succeeded("alice", "10.0.0.1");
        assert_eq!(throttle.check("alice", "10.0.0.9", start), Ok(()));
        assert!(
            throttle.check("carol", "10.0.0.1", start).is_err(),
            "the address still waits"
        );
    }
}
