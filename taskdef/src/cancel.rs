//! Cooperative cancellation: a flag the caller raises when the answer is no longer wanted (the
//! client went away, the console is stopping) and that long work reads between its steps, so a
//! request nobody waits for stops holding a core. Work that is cancelled answers a [`Rejected`]
//! with the one [`ProblemKind::Cancelled`] problem.

use crate::problem::{Problem, ProblemKind, Rejected};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation flag shared by the caller and the work: every clone reads and raises the same
/// flag. The default is a flag nobody has raised.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    cancelled: Arc<AtomicBool>,
    /// Tests stop work at an exact step: the flag raises itself at that check.
    #[cfg(test)]
    raise_at_check: Option<(usize, Arc<std::sync::atomic::AtomicUsize>)>,
}

impl Cancel {
    /// A flag nobody will raise: what the functions that take no `Cancel` pass on.
    pub fn never() -> Self {
        Cancel::default()
    }

    /// Raises the flag: the work stops at its next check.
    pub fn cancel(&self) {
        // A flag guards no other data: ordering with other memory is not needed.
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        #[cfg(test)]
        if let Some((raise_at, checks)) = &self.raise_at_check {
            if checks.fetch_add(1, Ordering::Relaxed) + 1 >= *raise_at {
                self.cancel();
            }
        }
        self.cancelled.load(Ordering::Relaxed)
    }

    /// What the work calls between its steps: `cancel.check()?` stops it once the flag is raised.
    pub fn check(&self) -> Result<(), Rejected> {
        if self.is_cancelled() {
            return Err(Rejected::one(cancelled_problem()));
        }
        Ok(())
    }

    /// A flag that raises itself at its `check`-th check (the first is 1), and counts them.
    #[cfg(test)]
    pub(crate) fn raised_at_check(check: usize) -> Self {
        Cancel {
            raise_at_check: Some((check, Arc::default())),
            ..Cancel::default()
        }
    }

    /// How many times the work asked (a flag made by [`Cancel::raised_at_check`]).
    #[cfg(test)]
    pub(crate) fn checks(&self) -> usize {
        self.raise_at_check
            .as_ref()
            .map_or(0, |(_, checks)| checks.load(Ordering::Relaxed))
    }
}

fn cancelled_problem() -> Problem {
    Problem {
        kind: ProblemKind::Cancelled,
        pointer: None,
        line: None,
        column: None,
        message: "the work was cancelled (the client went away or the console is stopping)"
            .to_owned(),
        hint: Some("send it again if the answer is still wanted".to_owned()),
        container: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_flag_is_seen_by_every_clone_and_stops_the_work() {
        let cancel = Cancel::never();
        let work = cancel.clone();
        assert!(work.check().is_ok());
        cancel.cancel();
        assert!(work.is_cancelled());
        let rejected = work.check().unwrap_err();
        assert!(rejected.has(ProblemKind::Cancelled));
        assert!(rejected.problems[0].message.contains("cancelled"));
    }

    #[test]
    fn a_flag_for_tests_raises_itself_at_the_check_it_names() {
        let cancel = Cancel::raised_at_check(3);
        assert!(cancel.check().is_ok());
        assert!(cancel.check().is_ok());
        assert!(cancel.check().is_err());
        assert_eq!(cancel.checks(), 3);
    }
}
