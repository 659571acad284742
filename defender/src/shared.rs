//! What the sidecar's threads (channel, `/proc` watcher, loopback endpoint, binary install) share:
//! the event buffer and the sidecar's state, behind one lock.

use crate::buffer::EventBuffer;
use crate::config::Mode;
use crate::log::now_ms;
use palisade_protocol::{EventKind, LocalMessage, ProcessInfo, TaskIdentity};
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
    /// Execs the wrappers reported, for the `/proc` watcher to turn into events (it knows the
    /// users, and its scan must not report them again). At most [`MAX_TRACED_WAITING`].
    pub traced: Vec<TracedExec>,
}

/// An exec a wrapper's tracer saw.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedExec {
    /// `/proc/PID/stat`'s start time: with the pid, names the process.
    pub start_time: u64,
    /// The container's name when the wrapper's Docker ID is one of the task's.
    pub process: ProcessInfo,
}

/// Wrapper execs waiting for the watcher (which takes them every probe, 50 ms); more are
/// dropped and counted, so a flood from a process of the task costs bounded memory.
pub const MAX_TRACED_WAITING: usize = 10_000;

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
                traced: Vec::new(),
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
        let name = state.container_name(container_id);
        let kind = match kind {
            EventKind::WorkloadStarted {
                container,
                pid,
                argv,
                tracing,
            } => EventKind::WorkloadStarted {
                container: name.or(container),
                pid,
                argv,
                tracing,
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

    /// An exec a wrapper's tracer saw, left for the `/proc` watcher.
    pub fn record_exec(&self, container_id: Option<&str>, start_time: u64, process: ProcessInfo) {
        let mut state = self.lock();
        if state.traced.len() >= MAX_TRACED_WAITING {
            state.buffer.dropped += 1;
            return;
        }
        let container = state.container_name(container_id);
        let process = ProcessInfo {
            container,
            user: None,
            source: palisade_protocol::ProcessSource::Trace,
            ..process
        };
        state.traced.push(TracedExec {
            start_time,
            process,
        });
    }

    /// Exec records a wrapper could not deliver: counted with the events lost.
    pub fn record_dropped(&self, count: u64) {
        if count > 0 {
            crate::log::info!("a wrapper dropped {count} exec records (its queue was full)");
            self.lock().buffer.dropped += count;
        }
    }
}

impl State {
    /// The task's name for a container's Docker ID.
    fn container_name(&self, docker_id: Option<&str>) -> Option<String> {
        let id = docker_id?;
        self.identity
            .as_ref()?
            .containers
            .iter()
            .find(|c| c.docker_id == id)
            .map(|c| c.name.clone())
    }
}
