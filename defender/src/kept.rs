//! What the wrapper keeps of what the sidecar says on its stream: the policy in force (the last
//! one, also once the sidecar is gone), the defender's mode, the container's name, and when the
//! sidecar was last heard from, which tells whether the workload is still watched.

use crate::log::info;
use crate::policy::InForce;
use crate::stream::{Lines, Next, MAX_LINE_TO_WRAPPER};
use palisade_protocol::LocalMessage;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Kept {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
pub struct State {
    pub policy: InForce,
    /// A policy came from the sidecar (else `policy` is the built-in default).
    pub got_policy: bool,
    /// The defender's mode, from `welcome`.
    pub mode: Option<String>,
    /// This container's name, from `welcome`.
    pub container: Option<String>,
    /// When the sidecar last said anything; `None` until it first did.
    pub last_heard: Option<Instant>,
    /// The stream is open (as far as the wrapper knows).
    pub connected: bool,
    /// The first attempt to reach the sidecar is over (failed, or a policy came).
    pub first_attempt_over: bool,
}

impl Kept {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the sidecar's first policy came or the first attempt to reach it is over,
    /// at most `budget`: the workload's first exec is judged with the family's policy when the
    /// sidecar is there, and is not held up when it is not.
    pub fn wait_first_policy(&self, budget: Duration) {
        let deadline = Instant::now() + budget;
        let mut state = self.lock();
        while !state.got_policy && !state.first_attempt_over {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The first attempt to reach the sidecar failed.
    pub fn first_attempt_failed(&self) {
        self.lock().first_attempt_over = true;
        self.changed.notify_all();
    }

    pub fn set_connected(&self, connected: bool) {
        self.lock().connected = connected;
    }

    /// How long the sidecar has been silent; `None` until it first spoke.
    pub fn silent_for(&self) -> Option<Duration> {
        self.lock().last_heard.map(|heard| heard.elapsed())
    }

    /// A line from the sidecar.
    fn heard(&self, message: LocalMessage) {
        let mut state = self.lock();
        state.last_heard = Some(Instant::now());
        match message {
            LocalMessage::Welcome { mode, container } => {
                state.mode = Some(mode);
                state.container = container;
            }
            LocalMessage::Policy(update) => {
                let revision = update.revision;
                match InForce::checked(*update) {
                    Ok(in_force) => {
                        state.policy = in_force;
                        state.got_policy = true;
                        state.first_attempt_over = true;
                        self.changed.notify_all();
                    }
                    Err(why) => {
                        info!("exec: the sidecar's policy revision {revision} is refused: {why}")
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reads what the sidecar says on one stream, on its own thread, until the stream ends; then
/// `alive` turns false (the reporter opens a new one).
pub fn listen(socket: &TcpStream, kept: Arc<Kept>, alive: Arc<AtomicBool>) {
    let Ok(mut socket) = socket.try_clone() else {
        alive.store(false, Ordering::Relaxed);
        return;
    };
    let unheard = alive.clone();
    let spawned = std::thread::Builder::new()
        .name("sidecar listener".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            // Blocking: the reporter shuts the socket down to end this read.
            let _ = socket.set_read_timeout(None);
            let mut lines = Lines::new(Vec::new(), MAX_LINE_TO_WRAPPER);
            while let Next::Line(line) = lines.next(&mut socket) {
                match serde_json::from_slice::<LocalMessage>(&line) {
                    Ok(message) => kept.heard(message),
                    Err(error) => info!("exec: the sidecar said something malformed: {error}"),
                }
            }
            alive.store(false, Ordering::Relaxed);
            kept.set_connected(false);
        });
    if let Err(error) = spawned {
        info!("exec: cannot listen to the sidecar: {error}");
        unheard.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_protocol::PolicyUpdate;
    use std::io::Write;

    #[test]
    fn the_last_policy_is_kept_once_the_sidecar_is_gone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut sidecar, _) = listener.accept().unwrap();
        let kept = Arc::new(Kept::default());
        let alive = Arc::new(AtomicBool::new(true));
        listen(&socket, kept.clone(), alive.clone());
        // A policy line far longer than a wrapper's own lines may be.
        let update = PolicyUpdate {
            revision: 7,
            policy: palisade_policy::Policy {
                deny: (0..256)
                    .map(|i| {
                        palisade_policy::ListEntry::new(format!("/opt/{i:03}/{}", "x".repeat(240)))
                    })
                    .collect(),
                ..palisade_policy::Policy::default()
            },
        };
        let welcome = LocalMessage::Welcome {
            mode: "security".into(),
            container: Some("web".into()),
        };
        let text = crate::stream::line_of(&welcome)
            + &crate::stream::line_of(&LocalMessage::Policy(Box::new(update)));
        assert!(text.len() > 64 * 1024);
        sidecar.write_all(text.as_bytes()).unwrap();
        kept.wait_first_policy(Duration::from_secs(5));
        drop(sidecar);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        let state = kept.lock();
        assert_eq!(state.policy.revision, 7);
        assert_eq!(state.mode.as_deref(), Some("security"));
        assert_eq!(state.container.as_deref(), Some("web"));
        assert!(!state.connected);
    }
}
