//! Failed sign-ins slow down further attempts, per account (or per device, see below) and per
//! client address: a few mistakes cost nothing, then each attempt must wait twice as long as the
//! one before (up to five minutes).
//!
//! An attempt is charged as a failure *before* its password is checked ([`SignInThrottle::reserve`],
//! atomic under one lock) and refunded when it succeeds: sixty guesses sent at once are sixty
//! charges, not sixty checks before the first failure is told.
//!
//! A browser that signed in to an account before carries a device cookie for it: its attempts are
//! charged to that device instead of the account, so guesses for `admin` from everywhere else
//! keep the account slow for them and never for the real admin's own browser (OWASP's "device
//! cookies"); a stolen device cookie is throttled on its own.
//!
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
/// Keys kept at most (an address flood must not grow memory without bound): past it, the oldest
/// tenth goes.
const MAX_KEYS: usize = 100_000;
/// Attempts of one address checked at once: a flood from one address (or one signed-in viewer
/// signing in again and again) cannot take all of Argon2's places.
const AT_ONCE_PER_ADDRESS: u32 = 2;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Whom an attempt is charged to besides its address.
#[derive(Clone, Copy, Debug)]
pub enum Charged<'a> {
    /// The account, for a browser it does not know.
    Account(&'a str),
    /// A browser that signed in to the account before (its device cookie's id).
    Device(&'a str),
}

/// The throttle. One per console process.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, Failures>>,
    /// Attempts under way, by address.
    under_way: Mutex<HashMap<String, u32>>,
}

/// An attempt charged as a failure until it is settled otherwise.
#[must_use = "an attempt stays charged as a failure unless it is settled"]
pub struct Reservation<'a> {
    throttle: &'a SignInThrottle,
    charged: String,
    address: String,
}

impl SignInThrottle {
    fn keys(charged: Charged<'_>, address: &str) -> (String, String) {
        let charged = match charged {
            Charged::Account(username) => format!("user:{}", username.trim().to_lowercase()),
            Charged::Device(id) => format!("device:{id}"),
        };
        (charged, format!("address:{address}"))
    }

    fn wait_after(failures: Failures) -> Duration {
        if failures.count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (failures.count - FREE_FAILURES).min(16);
        Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
    }

    /// Charges an attempt as a failure now, unless the account (or device) or the address must
    /// wait: then `Err(how long)` and nothing is charged.
    pub fn reserve<'a>(
        &'a self,
        charged: Charged<'_>,
        address: &str,
        now: Instant,
    ) -> Result<Reservation<'a>, Duration> {
        let (charged, address) = Self::keys(charged, address);
        {
            let mut under_way = crate::lock(&self.under_way);
            let mine = under_way.entry(address.clone()).or_default();
            if *mine >= AT_ONCE_PER_ADDRESS {
                return Err(Duration::from_secs(1));
            }
            *mine += 1;
        }
        let mut failures = crate::lock(&self.failures);
        let wait = [&charged, &address]
            .into_iter()
            .filter_map(|key| failures.get(key))
            .filter(|failures| now.duration_since(failures.last) < WINDOW)
            .map(|failures| {
                (failures.last + Self::wait_after(*failures)).saturating_duration_since(now)
            })
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            drop(failures);
            self.done(&address);
            return Err(wait);
        }
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, f| now.duration_since(f.last) < WINDOW && f.count > 0);
            if failures.len() >= MAX_KEYS {
                let mut ages: Vec<Instant> = failures.values().map(|f| f.last).collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 10];
                failures.retain(|_, f| f.last > cutoff);
            }
        }
        for key in [&charged, &address] {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(entry.last) >= WINDOW {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
        Ok(Reservation {
            throttle: self,
            charged,
            address,
        })
    }

    fn refund(&self, key: &str) {
        let mut failures = crate::lock(&self.failures);
        if let Some(entry) = failures.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                failures.remove(key);
            }
        }
    }

    /// An attempt of `address` is no longer under way.
    fn done(&self, address: &str) {
        let mut under_way = crate::lock(&self.under_way);
        if let Some(mine) = under_way.get_mut(address) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                under_way.remove(address);
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.throttle.done(&self.address);
    }
}

impl Reservation<'_> {
    /// The password was right: the account's (or device's) slate is clean, and the address gets
    /// this attempt back (but keeps its other failures: it may be trying many accounts).
    pub fn succeeded(self) {
        crate::lock(&self.throttle.failures).remove(&self.charged);
        self.throttle.refund(&self.address);
    }

    /// The password was never checked (the console was too busy): nothing is charged.
    pub fn not_checked(self) {
        self.throttle.refund(&self.charged);
        self.throttle.refund(&self.address);
    }

    /// The password was wrong: the charge stays.
    pub fn failed(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        throttle: &SignInThrottle,
        user: &str,
        address: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        throttle
            .reserve(Charged::Account(user), address, now)
            .map(Reservation::failed)
    }

    #[test]
    fn a_few_mistakes_are_free_then_each_attempt_waits_longer() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(attempt(&throttle, "alice", "10.0.0.1", start), Ok(()));
        }
        assert_eq!(
            attempt(&throttle, "alice", "10.0.0.1", start),
            Err(Duration::from_secs(1))
        );
        // The account is slowed from any address, and the address for any account.
        assert!(attempt(&throttle, "ALICE", "10.0.0.2", start).is_err());
        assert!(attempt(&throttle, "bob", "10.0.0.1", start).is_err());
        assert_eq!(attempt(&throttle, "bob", "10.0.0.2", start), Ok(()));
        let later = start + Duration::from_secs(1);
        assert_eq!(attempt(&throttle, "alice", "10.0.0.3", later), Ok(()));
        assert_eq!(
            attempt(&throttle, "alice", "10.0.0.3", later),
            Err(Duration::from_secs(2))
        );
        // Long forgotten after the window.
        assert_eq!(
            attempt(&throttle, "alice", "10.0.0.1", start + WINDOW * 2),
            Ok(())
        );
    }

    #[test]
    fn concurrent_guesses_are_charged_before_any_is_checked() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        // Sixty guesses at once from sixty addresses: each reservation is taken before any
        // password is checked, so only the free ones are.
        let held: Vec<_> = (0..60)
            .filter_map(|n| {
                throttle
                    .reserve(Charged::Account("admin"), &format!("203.0.113.{n}"), now)
                    .ok()
            })
            .collect();
        assert_eq!(held.len(), FREE_FAILURES as usize);
        held.into_iter().for_each(Reservation::failed);
        // And from one address, two at most are under way at once.
        let first = throttle.reserve(Charged::Account("bob"), "198.51.100.1", now);
        let second = throttle.reserve(Charged::Account("carol"), "198.51.100.1", now);
        let third = throttle.reserve(Charged::Account("dave"), "198.51.100.1", now);
        assert!(first.is_ok() && second.is_ok() && third.is_err());
        drop(first);
        assert!(throttle
            .reserve(Charged::Account("erin"), "198.51.100.1", now)
            .is_ok());
    }

    #[test]
    fn a_known_device_signs_in_while_its_account_is_under_attack() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for n in 0..40 {
            let _ = attempt(&throttle, "admin", &format!("198.51.100.{n}"), now);
        }
        assert!(
            attempt(&throttle, "admin", "192.0.2.1", now).is_err(),
            "the account waits"
        );
        // The real admin's browser is charged on its own.
        let reservation = throttle
            .reserve(Charged::Device("d1"), "192.0.2.1", now)
            .unwrap();
        reservation.succeeded();
        // A stolen device cookie is throttled like an account.
        for _ in 0..FREE_FAILURES {
            throttle
                .reserve(Charged::Device("d2"), "203.0.113.50", now)
                .unwrap()
                .failed();
        }
        assert!(throttle
            .reserve(Charged::Device("d2"), "203.0.113.51", now)
            .is_err());
    }

    #[test]
    fn a_success_or_an_unchecked_attempt_gives_the_charge_back() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            attempt(&throttle, "carol", "10.0.0.9", now).unwrap();
        }
        throttle
            .reserve(Charged::Account("carol"), "10.0.0.9", now)
            .unwrap()
            .succeeded();
        // The account is clean; the address kept its four failures and got this one back.
        for _ in 0..(FREE_FAILURES - (FREE_FAILURES - 1)) {
            attempt(&throttle, "dave", "10.0.0.9", now).unwrap();
        }
        assert!(attempt(&throttle, "dave", "10.0.0.9", now).is_err());
        for _ in 0..20 {
            throttle
                .reserve(Charged::Account("erin"), "10.0.0.10", now)
                .unwrap()
                .not_checked();
        }
        assert_eq!(attempt(&throttle, "erin", "10.0.0.10", now), Ok(()));
    }
}
