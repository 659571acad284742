//! `palisade-defender exec -- ARGV...`: runs the workload so that it behaves exactly as without
//! Palisade. The wrapper stays the child's parent (so it can report how it ended): it forwards
//! every signal it may catch, reaps orphaned zombies when it is PID 1, keeps stdio untouched and
//! exits with the child's code (128+N when a signal N killed it). It traces the workload (see
//! `trace.rs`) so every exec is judged and reported, unless `PALISADE_TRACE=off` or the kernel
//! refuses. Reports to the sidecar never delay or stop the workload; only its start waits for the
//! sidecar's policy (2 s at most), and in `security` mode a sidecar gone for good stops it
//! (`guard.rs`).

use crate::guard::{self, PolicyJudge};
use crate::kept::Kept;
use crate::log::info;
use crate::report::Reporter;
use crate::trace::{self, Judge, Seen};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use palisade_protocol::EventKind;
use signal_hook::consts::signal::*;
use signal_hook::iterator::Signals;
use std::ffi::OsString;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Everything a process may catch, except those that report a fault of the wrapper itself
/// (SIGSEGV...), SIGCHLD (ours) and SIGPIPE (Rust ignores it in the wrapper; the child gets the
/// default back).
const FORWARDED: &[i32] = &[
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, SIGWINCH, SIGSYS,
];

/// The most the wrapper's exit waits for its last reports when the sidecar hangs or is away.
const REPORT_BUDGET: Duration = Duration::from_millis(600);
/// The most the workload's start waits for the sidecar's policy (when the sidecar answers the
/// connection at all: a sidecar that is not there costs nothing).
const FIRST_POLICY_BUDGET: Duration = Duration::from_secs(2);

/// The container this wrapper runs in: the last segment of its metadata URI is the container's
/// Docker ID, which the sidecar maps to a name.
fn container_id() -> Option<String> {
    let uri = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok()?;
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_owned)
}

/// Runs the workload `argv`, each of its execs judged with the policy the sidecar sends (or, as a
/// test hook, killed when it runs `test_kill`); answers the exit code.
pub fn exec(argv: Vec<OsString>, test_kill: Option<String>) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("palisade-defender exec: nothing to run: give the workload's argv after `--`");
        return 2;
    };
    // Handlers go in before the child exists, so no signal sent right after start is lost.
    let signals = match Signals::new(FORWARDED) {
        Ok(signals) => Some(signals),
        Err(error) => {
            info!("exec: signals will not be forwarded: {error}");
            None
        }
    };
    let container = container_id();
    let kept = Arc::new(Kept::default());
    let reporter = Reporter::start(crate::config::local_addr(), container.clone(), kept.clone());
    kept.wait_first_policy(FIRST_POLICY_BUDGET);
    let (pid, tracing) = match spawn(program, args) {
        Ok(spawned) => spawned,
        Err(code) => {
            reporter.finish(REPORT_BUDGET);
            return code;
        }
    };
    let mut judge: Box<dyn Judge> = match test_kill {
        Some(path) => Box::new(trace::KillExecutable(path)),
        None => Box::new(PolicyJudge::new(kept.clone())),
    };
    guard::watch_the_watcher(kept, pid);
    let started = EventKind::WorkloadStarted {
        container: container.clone(),
        pid,
        argv: argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        tracing: Some(tracing.clone().err().unwrap_or_else(|| "ptrace".into())),
    };
    // Traced, it is reported once its program is loaded (not when it cannot be run); untraced,
    // once spawned, as it always was.
    let mut pending_start = match &tracing {
        Ok(()) => Some(started),
        Err(why) => {
            if why != trace::TURNED_OFF {
                info!("exec: the workload's processes are not traced: {why}");
            }
            reporter.workload(started);
            None
        }
    };
    if let Some(signals) = signals {
        forward(signals, pid);
    }
    let ended = trace::run(
        pid,
        tracing.is_err(),
        judge.as_mut(),
        &mut |seen| match seen {
            Seen::WorkloadStarted => {
                if let Some(started) = pending_start.take() {
                    reporter.workload(started);
                }
            }
            Seen::Exec(record) => reporter.exec(record),
        },
    );
    report_the_end(reporter, container, pid, &ended);
    ended.code
}

/// The workload's end (when it ran), what could not be reported, and the last reports out.
fn report_the_end(reporter: Reporter, container: Option<String>, pid: u32, ended: &trace::Ended) {
    if ended.started {
        reporter.workload(EventKind::WorkloadExited {
            container,
            pid,
            code: ended.signal.is_none().then_some(ended.code),
            signal: ended.signal,
        });
    }
    if reporter.dropped() > 0 {
        info!(
            "exec: {} exec records found the queue to the sidecar full",
            reporter.dropped()
        );
    }
    reporter.finish(REPORT_BUDGET);
}

/// Starts the workload, traced when possible: its pid, and `Err(why)` when it is not traced.
/// `Err(code)` when it cannot be started (the reason is on stderr).
fn spawn(program: &OsString, args: &[OsString]) -> Result<(u32, Result<(), String>), i32> {
    let why_not = match trace::wanted().and_then(|()| trace::spawn_traced(program, args)) {
        Ok(pid) => return Ok((pid, Ok(()))),
        Err(why) => why,
    };
    match Command::new(program).args(args).spawn() {
        // The child is reaped with waitpid; `child` is never waited on.
        Ok(child) => Ok((child.id(), Err(why_not))),
        Err(error) => {
            eprintln!(
                "palisade-defender exec: cannot run {}: {error}",
                program.to_string_lossy()
            );
            // What a shell answers: 127 not found, 126 found but not runnable.
            Err(if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            })
        }
    }
}

/// Passes every signal the wrapper catches on to the workload, on a thread of its own.
fn forward(mut signals: Signals, pid: u32) {
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if let Ok(signal) = Signal::try_from(signal) {
                let _ = kill(Pid::from_raw(pid as i32), signal);
            }
        }
    });
}
