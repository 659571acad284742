//! `palisade-defender exec -- ARGV...`: runs the workload so that it behaves exactly as without
//! Palisade. The wrapper stays the child's parent (so it can report how it ended): it forwards
//! every signal it may catch, reaps orphaned zombies when it is PID 1, keeps stdio untouched and
//! exits with the child's code (128+N when a signal N killed it). Reports to the sidecar never
//! delay or stop the workload.

use crate::local;
use crate::log::info;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use palisade_protocol::EventKind;
use signal_hook::consts::signal::*;
use signal_hook::iterator::Signals;
use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

/// Everything a process may catch, except those that report a fault of the wrapper itself
/// (SIGSEGV...), SIGCHLD (ours) and SIGPIPE (Rust ignores it in the wrapper; the child gets the
/// default back).
const FORWARDED: &[i32] = &[
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, SIGWINCH, SIGSYS,
];

/// How long a report may take (connect, then write) before the wrapper gives up on it: the
/// most an exit is delayed when the sidecar hangs is twice this.
const REPORT_BUDGET: Duration = Duration::from_millis(300);

/// The container this wrapper runs in: the last segment of its metadata URI is the container's
/// Docker ID, which the sidecar maps to a name.
fn container_id() -> Option<String> {
    let uri = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok()?;
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_owned)
}

pub fn exec(argv: Vec<OsString>) -> i32 {
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
    let child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "palisade-defender exec: cannot run {}: {error}",
                program.to_string_lossy()
            );
            // What a shell answers: 127 not found, 126 found but not runnable.
            return if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let pid = child.id();
    // The child is reaped below with waitpid; `child` is never waited on.
    drop(child);
    let container = container_id();
    let argv_text: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let started = EventKind::WorkloadStarted {
        container: container.clone(),
        pid,
        argv: argv_text,
    };
    let started_container = container.clone();
    // In the background, so the workload never waits for it.
    let start_report = std::thread::spawn(move || {
        local::report(started_container, started, REPORT_BUDGET);
    });

    if let Some(mut signals) = signals {
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if let Ok(signal) = Signal::try_from(signal) {
                    let _ = kill(Pid::from_raw(pid as i32), signal);
                }
            }
        });
    }

    let (code, signal) = reap_until_exit(Pid::from_raw(pid as i32));
    let ended = EventKind::WorkloadExited {
        container: container.clone(),
        pid,
        code: signal.is_none().then_some(code),
        signal,
    };
    // A workload shorter than the start report: the start goes first, within its own budget.
    let _ = start_report.join();
    local::report(container, ended, REPORT_BUDGET);
    code
}

/// Waits for any child (reaping orphans re-parented to us when we are PID 1) until `child`
/// ends; answers the exit code and the signal that killed it, if one did.
fn reap_until_exit(child: Pid) -> (i32, Option<i32>) {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return (code, None),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                return (128 + signal as i32, Some(signal as i32))
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(error) => {
                info!("exec: waiting for the workload failed: {error}");
                return (1, None);
            }
        }
    }
}
