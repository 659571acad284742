//! What the sidecar's threads (channel, `/proc` watcher, loopback endpoint, binary install) share:
//! the event buffer and the sidecar's state, behind one lock.

use crate::buffer::EventBuffer;
use crate::config::Mode;
use crate::log::{info, now_ms};
use crate::policy::InForce;
use palisade_protocol::{
    AlertReport, EventKind, LocalMessage, PolicyUpdate, ProcessInfo, TaskIdentity,
};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the sidecar's threads share.
pub struct Shared {
    pub mode: Mode,
    state: Mutex<State>,
    /// Set by SIGTERM / SIGINT: close the channel cleanly and exit.
    pub stopping: Arc<AtomicBool>,
    /// Where the policy in force is kept across restarts (`None`: not kept, in unit tests).
    state_dir: Option<PathBuf>,
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
    /// The policy every process is judged with, here and (pushed on their streams) in the
    /// wrappers.
    pub policy: InForce,
    /// Grows with every policy put in force: a wrapper's stream sends the policy again when it
    /// changed since it last sent one.
    pub policy_generation: u64,
}

/// An exec a wrapper's tracer saw.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedExec {
    /// `/proc/PID/stat`'s start time: with the pid, names the process.
    pub start_time: u64,
    /// The container's name when the wrapper's Docker ID is one of the task's.
    pub process: ProcessInfo,
    /// What the wrapper's judge found at the exec.
    pub alert: Option<Box<AlertReport>>,
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
                policy: InForce::default(),
                policy_generation: 0,
            }),
            stopping: Arc::new(AtomicBool::new(false)),
            state_dir: None,
        }
    }

    /// Keeps the policy in force in `dir`, and starts with the one kept there (if any passes
    /// its check), so a restarted sidecar judges with it before the console answers.
    pub fn with_state_dir(mut self, dir: PathBuf) -> Self {
        match crate::policy::load(&dir) {
            Ok(Some(kept)) => {
                info!(
                    "judging with the kept policy, revision {}, until the console sends one",
                    kept.revision
                );
                let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
                state.policy = kept;
                state.policy_generation += 1;
            }
            Ok(None) => info!("no policy kept yet: judging with the built-in default"),
            Err(error) => info!("the kept policy is not used: {error}"),
        }
        self.state_dir = Some(dir);
        self
    }

    /// The console's policy: put in force when it passes its check (else refused, and the one
    /// in force stays), and kept for a restart.
    pub fn take_policy(&self, update: PolicyUpdate) {
        let revision = update.revision;
        let in_force = match InForce::checked(update) {
            Ok(in_force) => in_force,
            Err(why) => {
                let kept = self.lock().policy.revision;
                info!("policy revision {revision} refused ({why}); revision {kept} stays in force");
                return;
            }
        };
        {
            let mut state = self.lock();
            if state.policy == in_force {
                return;
            }
            state.policy = in_force.clone();
            state.policy_generation += 1;
        }
        info!(
            "policy revision {revision} in force ({} mode)",
            match in_force.policy.mode {
                palisade_policy::Mode::Off => "off",
                palisade_policy::Mode::Alert => "alert",
                palisade_policy::Mode::Prevent => "prevent",
            }
        );
        if let Some(dir) = &self.state_dir {
            if let Err(error) = crate::policy::persist(dir, &in_force.update()) {
                info!("cannot keep the policy in {}: {error}", dir.display());
            }
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

    /// An exec a wrapper's tracer saw (and what its judge found), left for the `/proc` watcher.
    pub fn record_exec(
        &self,
        container_id: Option<&str>,
        start_time: u64,
        process: ProcessInfo,
        alert: Option<Box<AlertReport>>,
    ) {
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
            alert,
        });
    }

    /// Exec records a wrapper could not deliver: counted with the events lost.
    pub fn record_dropped(&self, count: u64) {
        if count > 0 {
            crate::log::info!("a wrapper dropped {count} exec records (its queue was full)");
            let mut state = self.lock();
            state.buffer.dropped = state.buffer.dropped.saturating_add(count);
        }
    }
}

impl State {
    /// The task's name for a container's Docker ID.
    pub fn container_name(&self, docker_id: Option<&str>) -> Option<String> {
        let id = docker_id?;
        self.identity
            .as_ref()?
            .containers
            .iter()
            .find(|c| c.docker_id == id)
            .map(|c| c.name.clone())
    }
}
