//! What the sidecar's threads (channel, `/proc` watcher, loopback endpoint, binary install) share:
//! the event buffer and the sidecar's state, behind one lock.

use crate::buffer::EventBuffer;
use crate::config::Mode;
use crate::log::now_ms;
use palisade_protocol::{EventKind, LocalMessage, TaskIdentity};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the sidecar's threads share.
pub struct Shared {
    pub mode: Mode,
    state: Mutex<State>,
    /// Set by SIGTERM / SIGINT: close the channel cleanly and exit.
    pub stopping: Arc<AtomicBool>,
}

pub struct State {
    pub buffer: EventBuffer,
    pub binary_ready: bool,
    pub connected: bool,
    pub process_count: u32,
    pub identity: Option<TaskIdentity>,
}

impl Shared {
    pub fn new(mode: Mode, buffer_events: usize) -> Self {
        Shared {
            mode,
            state: Mutex::new(State {
                buffer: EventBuffer::new(buffer_events),
                binary_ready: false,
                connected: false,
                process_count: 0,
                identity: None,
            }),
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one thread must not take the others down with a poisoned lock.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> LocalMessage {
        let state = self.lock();
        let healthy = state.binary_ready && (self.mode == Mode::Availability || state.connected);
        LocalMessage::Status {
            binary_ready: state.binary_ready,
            connected: state.connected,
            healthy,
        }
    }

    /// A wrapper's report: its container's Docker ID becomes the container name.
    pub fn record_workload(&self, container_id: Option<&str>, kind: EventKind) {
        let mut state = self.lock();
        let name = container_id.and_then(|id| {
            state
                .identity
                .as_ref()?
                .containers
                .iter()
                .find(|c| c.docker_id == id)
                .map(|c| c.name.clone())
        });
        let kind = match kind {
            EventKind::WorkloadStarted {
                container,
                pid,
                argv,
            } => EventKind::WorkloadStarted {
                container: name.or(container),
                pid,
                argv,
            },
            EventKind::WorkloadExited {
                container,
                pid,
                code,
                signal,
            } => EventKind::WorkloadExited {
                container: name.or(container),
                pid,
                code,
                signal,
            },
            // Wrappers only report their workload.
            _ => return,
        };
        state.buffer.push(now_ms(), kind);
    }
}
