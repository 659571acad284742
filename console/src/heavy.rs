//! CPU work on what a caller sent (protecting or unprotecting a task definition or a template):
//! run off the async runtime, at most two at a time (a few more wait; past them, `Busy` at once),
//! and cancelled when the caller goes away (its future is dropped) or the console stops, so a
//! request nobody waits for stops holding a core and graceful shutdown never waits on one.

use crate::error::{Error, Result};
use crate::Console;
use palisade_taskdef::Cancel;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pieces of work running at once (this machine kind has two cores; people's requests need one).
const AT_ONCE: usize = 2;
/// Pieces that may wait for one of those.
const WAITING: usize = 32;

/// The work under way, and whether the console is stopping.
pub struct HeavyWork {
    running: Arc<tokio::sync::Semaphore>,
    admitted: AtomicUsize,
    flags: Mutex<HashMap<u64, Cancel>>,
    next: AtomicU64,
    stopping: AtomicBool,
}

impl Default for HeavyWork {
    fn default() -> Self {
        HeavyWork {
            running: Arc::new(tokio::sync::Semaphore::new(AT_ONCE)),
            admitted: AtomicUsize::new(0),
            flags: Mutex::default(),
            next: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }
}

/// One piece's place: dropping it raises its flag and gives the place back. The caller's future
/// holds it until the work starts; then the work itself does, so a caller that went away frees
/// its place only when the work has actually stopped (two at a time means two running).
struct Place {
    work: Arc<HeavyWork>,
    id: u64,
    cancel: Cancel,
}

/// Raises the piece's flag when the caller's future is dropped while the work runs.
struct RaiseOnDrop(Cancel);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.cancel.cancel();
        crate::lock(&self.work.flags).remove(&self.id);
        self.work.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HeavyWork {
    /// Cancels everything under way and refuses new work: the console is stopping.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for cancel in crate::lock(&self.flags).values() {
            cancel.cancel();
        }
    }

    fn stopping_error() -> Error {
        Error::busy(
            "the console is stopping: send it again in a moment (to the console that replaces it)",
            Duration::from_secs(2),
        )
    }
}

/// Whether `rejected` is only "the work was cancelled".
pub fn was_cancelled(rejected: &palisade_taskdef::Rejected) -> bool {
    rejected
        .problems
        .iter()
        .any(|problem| problem.kind == palisade_taskdef::ProblemKind::Cancelled)
}

impl Console {
    /// Runs `work` (which reads the flag it is given between its steps) as described in the
    /// module's header.
    pub async fn heavy<T: Send + 'static>(
        &self,
        doing: &'static str,
        work: impl FnOnce(&Cancel) -> T + Send + 'static,
    ) -> Result<T> {
        let heavy = self.heavy_work_shared();
        if heavy.stopping.load(Ordering::Acquire) {
            return Err(HeavyWork::stopping_error());
        }
        let admitted = heavy.admitted.fetch_add(1, Ordering::AcqRel);
        let place = Place {
            work: heavy.clone(),
            id: heavy.next.fetch_add(1, Ordering::Relaxed),
            cancel: Cancel::default(),
        };
        if admitted >= AT_ONCE + WAITING {
            return Err(Error::busy(
                "the console is working on many task definitions at once: send it again in a few seconds",
                Duration::from_secs(2),
            ));
        }
        crate::lock(&heavy.flags).insert(place.id, place.cancel.clone());
        let running = heavy
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|error| Error::internal(doing, error.to_string()))?;
        if place.cancel.is_cancelled() {
            return Err(HeavyWork::stopping_error());
        }
        let _raise = RaiseOnDrop(place.cancel.clone());
        let done = tokio::task::spawn_blocking(move || {
            let answer = work(&place.cancel);
            drop((place, running));
            answer
        })
        .await
        .map_err(|error| Error::internal(doing, error.to_string()))?;
        // Cancelled by the console stopping (a caller that went away reads nothing).
        if heavy.stopping.load(Ordering::Acquire) {
            return Err(HeavyWork::stopping_error());
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work that runs until its flag is raised, and says when it saw it.
    fn until_cancelled(seen: Arc<AtomicBool>) -> impl FnOnce(&Cancel) + Send + 'static {
        move |cancel: &Cancel| {
            while !cancel.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            seen.store(true, Ordering::Release);
        }
    }

    async fn eventually(flag: &AtomicBool) -> bool {
        for _ in 0..400 {
            if flag.load(Ordering::Acquire) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn work_stops_when_its_caller_goes_away() {
        let (_dir, db) = crate::testing::database().await;
        let console = Console::with_pool(db);
        let seen = Arc::new(AtomicBool::new(false));
        // The caller gives up (a client that disconnected drops its request's future).
        let gave_up = tokio::time::timeout(
            Duration::from_millis(50),
            console.heavy("testing", until_cancelled(seen.clone())),
        )
        .await;
        assert!(gave_up.is_err());
        assert!(eventually(&seen).await, "the work saw its flag raised");
        for _ in 0..400 {
            if crate::lock(&console.heavy_work().flags).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(crate::lock(&console.heavy_work().flags).is_empty());
    }

    #[tokio::test]
    async fn stopping_cancels_the_work_under_way_and_refuses_more() {
        let (_dir, db) = crate::testing::database().await;
        let console = Console::with_pool(db);
        let seen = Arc::new(AtomicBool::new(false));
        let running = {
            let console = console.clone();
            let seen = seen.clone();
            tokio::spawn(async move { console.heavy("testing", until_cancelled(seen)).await })
        };
        while crate::lock(&console.heavy_work().flags).is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        console.heavy_work().stop();
        let answered = running.await.unwrap();
        assert!(matches!(answered, Err(Error::Busy { .. })), "{answered:?}");
        assert!(seen.load(Ordering::Acquire));
        let refused = console.heavy("testing", |_| ()).await;
        assert!(matches!(refused, Err(Error::Busy { .. })));
    }

    #[tokio::test]
    async fn past_the_waiting_places_work_is_refused_at_once() {
        let (_dir, db) = crate::testing::database().await;
        let console = Console::with_pool(db);
        let release = Arc::new(AtomicBool::new(false));
        let mut held = Vec::new();
        for _ in 0..AT_ONCE + WAITING {
            let (console, release) = (console.clone(), release.clone());
            held.push(tokio::spawn(async move {
                console
                    .heavy("testing", move |_| {
                        while !release.load(Ordering::Acquire) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    })
                    .await
            }));
        }
        while console.heavy_work().admitted.load(Ordering::Acquire) < AT_ONCE + WAITING {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let refused = console.heavy("testing", |_| ()).await;
        assert!(matches!(refused, Err(Error::Busy { .. })), "{refused:?}");
        release.store(true, Ordering::Release);
        for done in held {
            assert!(done.await.unwrap().is_ok());
        }
    }
}
