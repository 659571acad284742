//! The wrapper's tracer: every exec of the workload and of all its descendants is stopped after
//! the new program is loaded and before its first instruction, read from `/proc`, judged, and
//! handed to the reporter; everything else a tracee does (forks, threads, signals, job control)
//! goes on as without a tracer.
//!
//! How the workload comes to be traced with no race before its first exec: the wrapper starts a
//! copy of itself (the trampoline, `/proc/self/exe`) that waits on a pipe, seizes it
//! (`PTRACE_SEIZE` with exec, fork, vfork and clone tracing; no exit-kill, so the workload
//! outlives a killed wrapper), then closes the pipe: the trampoline execs the workload, already
//! traced. When the kernel refuses (no `SYS_PTRACE` under a seccomp profile or a security module,
//! or the wrapper is itself traced) the trampoline is killed before it ran anything and the
//! workload is started untraced, as without tracing.
//!
//! Stops, as a seized tracee reports them:
//! - an exec event: recorded and judged (the first exec of the wrapper's own child as the
//!   workload root); allowed, it continues; killed, it gets SIGKILL there;
//! - fork, vfork and clone events, and a new tracee's first stop: continued;
//! - a signal-delivery stop: continued with that signal (any number, real-time ones too);
//! - a group-stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): `PTRACE_LISTEN`, so the process stays
//!   stopped, its parent sees it stopped, and a SIGCONT resumes it: job control is kept.

use crate::log::info;
use crate::procs;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use palisade_protocol::{AlertReport, MAX_COMMAND_LINE_CHARS};
use palisade_ptrace::Change;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The hidden command the trampoline runs as: `palisade-defender __exec-traced FD -- ARGV...`.
pub const TRAMPOLINE: &str = "__exec-traced";

/// The most of `/proc/PID/cmdline` read at an exec: enough for the longest command line kept.
const MAX_CMDLINE_BYTES: u64 = 4 * MAX_COMMAND_LINE_CHARS as u64;

/// One exec, as the tracer saw it while the new program was stopped before its first
/// instruction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecRecord {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// Clock ticks after boot (`/proc/PID/stat`): with the pid, names this process.
    pub start_time: u64,
    pub executable: String,
    /// Its arguments, cut once they pass the longest command line kept.
    pub argv: Vec<String>,
    /// The judge killed it before it ran.
    pub killed: bool,
    /// The wrapper's own child's first exec: the container's main process.
    pub workload_root: bool,
    /// What the judge found, when anything fired (the kill's outcome added by the tracer).
    pub alert: Option<Box<AlertReport>>,
}

/// What becomes of an exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// SIGKILL while it is stopped at the exec: the new program never runs.
    Kill,
}

/// Decides each exec, while the process waits (keep it quick), and may attach what it found
/// to the record (`alert`). The wrapper's judge is the policy's (`guard.rs`).
pub trait Judge {
    fn on_exec(&mut self, exec: &mut ExecRecord) -> Verdict;
}

/// Kills every exec of one executable path: a test hook, the stand-in for a policy
/// (`exec --test-kill-executable PATH`, a hidden flag).
pub struct KillExecutable(pub String);

impl Judge for KillExecutable {
    fn on_exec(&mut self, exec: &mut ExecRecord) -> Verdict {
        if exec.executable == self.0 {
            Verdict::Kill
        } else {
            Verdict::Allow
        }
    }
}

/// What the tracer tells the wrapper as it goes.
pub enum Seen {
    /// The workload's own first exec succeeded: it runs.
    WorkloadStarted,
    Exec(ExecRecord),
}

/// How the workload ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Ended {
    /// Its exit code, or 128+N when signal N killed it.
    pub code: i32,
    pub signal: Option<i32>,
    /// False when it never got to run (its program could not be executed).
    pub started: bool,
}

/// Why tracing is off when the container's environment says so.
pub const TURNED_OFF: &str = "off: PALISADE_TRACE=off";

/// `PALISADE_TRACE=off` (or `0`, `false`, `no`) in the container's environment turns tracing off.
pub fn wanted() -> Result<(), String> {
    let setting = std::env::var("PALISADE_TRACE").unwrap_or_default();
    match setting.trim().to_ascii_lowercase().as_str() {
        "off" | "0" | "false" | "no" => Err(TURNED_OFF.into()),
        _ => Ok(()),
    }
}

/// Starts `program` traced (through the trampoline); answers its pid, or why it is not traced
/// (nothing of the workload ran then: the caller starts it untraced).
pub fn spawn_traced(program: &OsString, args: &[OsString]) -> Result<u32, String> {
    let (wait_end, go_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|error| format!("off: no pipe for the trampoline: {error}"))?;
    // The trampoline inherits the read end only (the write end stays close-on-exec).
    nix::fcntl::fcntl(
        &wait_end,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|error| format!("off: no pipe for the trampoline: {error}"))?;
    let child = Command::new("/proc/self/exe")
        .arg0("palisade-defender")
        .arg(TRAMPOLINE)
        .arg(wait_end.as_raw_fd().to_string())
        .arg("--")
        .arg(program)
        .args(args)
        .spawn()
        .map_err(|error| format!("off: cannot start the trampoline (/proc/self/exe): {error}"))?;
    drop(wait_end);
    let pid = Pid::from_raw(child.id() as i32);
    let options = Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE;
    if let Err(error) = ptrace::seize(pid, options) {
        let why = refusal(error, pid);
        // It waits on the pipe and has run nothing of the workload: it goes, unreaped by
        // anything but this wait.
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(why);
    }
    // The trampoline reads end-of-file and execs the workload, traced.
    drop(go_end);
    Ok(child.id())
}

/// Why the kernel refused to let the wrapper trace the trampoline.
fn refusal(error: nix::errno::Errno, trampoline: Pid) -> String {
    let status = |pid: String| std::fs::read_to_string(format!("/proc/{pid}/status"));
    let field = |text: &str, name: &str| -> Option<String> {
        let value = text.lines().find_map(|line| line.strip_prefix(name))?;
        Some(value.trim().to_owned())
    };
    let tracer = status(trampoline.to_string())
        .ok()
        .and_then(|text| field(&text, "TracerPid:"))
        .filter(|pid| pid != "0");
    let seccomp = status("self".into())
        .ok()
        .and_then(|text| field(&text, "Seccomp:"))
        .is_some_and(|mode| mode == "2");
    let cause = match tracer {
        Some(pid) => format!("the wrapper runs under another tracer (pid {pid})"),
        None if seccomp => "a seccomp filter (add SYS_PTRACE to the container)".into(),
        None => "no SYS_PTRACE, or a security module refuses it".into(),
    };
    format!("off: ptrace refused ({error}): {cause}")
}

/// `palisade-defender __exec-traced FD -- ARGV...`: waits until the wrapper closes its end of
/// the pipe `FD` (it is traced by then, or tracing was refused and it is killed), then becomes
/// the workload. Answers only when the workload cannot be executed (127 not found, 126 found but
/// not runnable), after saying why on stderr as the wrapper always did.
pub fn trampoline(mut args: impl Iterator<Item = OsString>) -> i32 {
    let fd: Option<i32> = args.next().and_then(|fd| fd.to_str()?.parse().ok());
    let argv: Vec<OsString> = args.skip_while(|arg| arg != "--").skip(1).collect();
    let (Some(fd), Some((program, rest))) = (fd, argv.split_first()) else {
        eprintln!("palisade-defender: {TRAMPOLINE} is the wrapper's own step, not a command");
        return 2;
    };
    wait_for_the_wrapper(fd);
    let error = exec_as_spawn_does(program, rest);
    eprintln!(
        "palisade-defender exec: cannot run {}: {error}",
        program.to_string_lossy()
    );
    if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// Becomes `program` as `Command::spawn` would start it (posix_spawnp): the `PATH` searched
/// when the name has no slash, and no shell fallback for a file the kernel cannot execute
/// (`Command::exec` uses execvp, which runs such a file with /bin/sh). Answers why not.
fn exec_as_spawn_does(program: &OsString, args: &[OsString]) -> std::io::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstring = |text: &std::ffi::OsStr| CString::new(text.as_bytes());
    let argv: Result<Vec<CString>, _> = std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(cstring)
        .collect();
    let Ok(argv) = argv else {
        return std::io::Error::new(std::io::ErrorKind::InvalidInput, "nul byte found in argv");
    };
    let candidates: Vec<std::path::PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![program.into()]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
        std::env::split_paths(&path)
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    ".".into()
                } else {
                    dir
                }
            })
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut refused = None;
    let mut last = nix::errno::Errno::ENOENT;
    for candidate in candidates {
        let Ok(path) = cstring(candidate.as_os_str()) else {
            continue;
        };
        let Err(errno) = nix::unistd::execv(&path, &argv);
        use nix::errno::Errno;
        match errno {
            // Not here: the next directory.
            Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV | Errno::ETIMEDOUT => {
                last = errno;
            }
            // There but not executable: said unless a later directory has it.
            Errno::EACCES => refused = Some(errno),
            _ => return errno.into(),
        }
    }
    refused.unwrap_or(last).into()
}

/// Blocks until the pipe's write end is closed, then closes the inherited read end so the
/// workload does not inherit it.
fn wait_for_the_wrapper(fd: i32) {
    use std::os::unix::fs::OpenOptionsExt;
    // Opened anew through /proc (no unsafe code to adopt a raw descriptor). Non-blocking, or
    // opening a pipe whose writer is already gone would wait for a writer forever; blocking
    // again for the read, which ends at end-of-file.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{fd}"));
    if let Ok(mut pipe) = opened {
        let blocking = nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty());
        let _ = nix::fcntl::fcntl(&pipe, blocking);
        let _ = pipe.read(&mut [0u8; 1]);
    }
    let _ = nix::unistd::close(fd);
}

/// Waits for the workload (`root`) and every tracee until the workload ends, handling each stop
/// as the module says; reaps every child, orphans re-parented to a PID-1 wrapper included.
/// `started` is true when the workload runs untraced (it was reported at spawn).
pub fn run(root: u32, started: bool, judge: &mut dyn Judge, seen: &mut dyn FnMut(Seen)) -> Ended {
    let root = root as i32;
    let mut started = started;
    // The trampoline's own exec may still be under way when it is seized (spawn returns once
    // the exec dropped the close-on-exec descriptors, before it ends): its exec event is the
    // wrapper's, not the workload's.
    let mut trampoline_exec = !started;
    loop {
        match palisade_ptrace::wait_any() {
            Ok((pid, Change::Exited(code))) if pid == root => {
                return Ended {
                    code,
                    signal: None,
                    started,
                }
            }
            Ok((pid, Change::Killed(signal))) if pid == root => {
                return Ended {
                    code: 128 + signal,
                    signal: Some(signal),
                    started,
                }
            }
            Ok((pid, Change::Stopped { signal, event })) => {
                if event == Event::PTRACE_EVENT_EXEC as i32 {
                    if pid == root && std::mem::take(&mut trampoline_exec) && is_trampoline(pid) {
                        let _ = palisade_ptrace::cont(pid, 0);
                        continue;
                    }
                    let first = pid == root && !started;
                    started |= first;
                    on_exec(pid, pid == root, first, judge, seen);
                } else {
                    on_stop(pid, signal, event);
                }
            }
            Ok(_) => {}
            Err(error) => {
                info!("exec: waiting for the workload failed: {error}");
                return Ended {
                    code: 1,
                    signal: None,
                    started,
                };
            }
        }
    }
}

/// Whether the process runs the trampoline (`palisade-defender __exec-traced ...`).
fn is_trampoline(pid: i32) -> bool {
    argv(&Path::new("/proc").join(pid.to_string()))
        .get(1)
        .is_some_and(|command| command == TRAMPOLINE)
}

/// Every stop but an exec. A tracee may vanish at any moment (SIGKILL, a sibling thread's exec):
/// a failed restart (ESRCH) is nothing to act on.
fn on_stop(pid: i32, signal: i32, event: i32) {
    let job_control = [
        nix::libc::SIGSTOP,
        nix::libc::SIGTSTP,
        nix::libc::SIGTTIN,
        nix::libc::SIGTTOU,
    ];
    let _ = if event == Event::PTRACE_EVENT_STOP as i32 && job_control.contains(&signal) {
        // Group-stop: stays stopped until SIGCONT, which the kernel then reports.
        palisade_ptrace::listen(pid)
    } else if event == 0 {
        // Signal-delivery stop: the signal goes on to the process.
        palisade_ptrace::cont(pid, signal)
    } else {
        // Fork, vfork, clone; a new tracee's first stop; SIGCONT ending a group-stop.
        palisade_ptrace::cont(pid, 0)
    };
}

/// An exec stop: the process (its pid is the thread group's, even when a thread exec'd) runs
/// its new program once it is recorded and judged.
/// `root`: the container's main process, in every program it execs (`sh -c 'exec java ...'`,
/// an entrypoint script that execs the server): a model alert alone never kills it.
fn on_exec(pid: i32, root: bool, first: bool, judge: &mut dyn Judge, seen: &mut dyn FnMut(Seen)) {
    let mut record = read_exec(pid as u32);
    record.workload_root = root;
    let verdict = judge.on_exec(&mut record);
    if first {
        seen(Seen::WorkloadStarted);
    }
    match verdict {
        Verdict::Allow => {
            let _ = palisade_ptrace::cont(pid, 0);
        }
        Verdict::Kill => {
            // Stopped before its first instruction: SIGKILL ends it there.
            let killed = kill(Pid::from_raw(pid), Signal::SIGKILL);
            record.killed = killed.is_ok();
            if let Some(alert) = &mut record.alert {
                alert.outcome = Some(match killed {
                    Ok(()) => "killed before it ran".into(),
                    Err(nix::errno::Errno::ESRCH) => crate::judging::ENDED.into(),
                    Err(errno) => format!("kill refused: {errno:?}"),
                });
            }
        }
    }
    seen(Seen::Exec(record));
}

/// What `/proc` says of a process stopped at its exec (fields it no longer has stay empty).
pub fn read_exec(pid: u32) -> ExecRecord {
    let dir = Path::new("/proc").join(pid.to_string());
    let (ppid, start_time) = procs::stat(&dir).unwrap_or_default();
    ExecRecord {
        pid,
        ppid,
        uid: procs::status_field(&dir, "Uid:").unwrap_or(u32::MAX),
        start_time,
        executable: std::fs::read_link(dir.join("exe"))
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_default(),
        argv: argv(&dir),
        ..ExecRecord::default()
    }
}

/// `/proc/PID/cmdline` as arguments, read up to [`MAX_CMDLINE_BYTES`] (a cut argument ends
/// with `…`).
pub(crate) fn argv(dir: &Path) -> Vec<String> {
    let mut raw = Vec::new();
    if let Ok(file) = std::fs::File::open(dir.join("cmdline")) {
        let _ = file.take(MAX_CMDLINE_BYTES).read_to_end(&mut raw);
    }
    let cut = raw.len() as u64 == MAX_CMDLINE_BYTES && raw.last() != Some(&0);
    if raw.last() == Some(&0) {
        raw.pop();
    }
    if raw.is_empty() {
        return Vec::new();
    }
    let mut argv: Vec<String> = raw
        .split(|byte| *byte == 0)
        .map(|argument| String::from_utf8_lossy(argument).into_owned())
        .collect();
    if cut {
        if let Some(last) = argv.last_mut() {
            last.push('…');
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_read_as_an_exec_record() {
        // A shell waiting on its stdin with a builtin: no child of its own to catch instead.
        let mut child = Command::new("sh")
            .args(["-c", "read _", "a b"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Until the exec is done the child shows the test binary's command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let record = loop {
            let record = read_exec(child.id());
            if record.argv.first().is_some_and(|first| first == "sh") {
                break record;
            }
            assert!(std::time::Instant::now() < deadline, "{record:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(record.argv, ["sh", "-c", "read _", "a b"]);
        assert_eq!(record.ppid, std::process::id());
        assert!(record.executable.ends_with("sh"), "{record:?}");
        assert!(record.start_time > 0);
        assert_eq!(
            read_exec(u32::MAX).executable,
            "",
            "a vanished process reads empty"
        );
    }

    #[test]
    fn a_long_command_line_is_read_within_its_bound() {
        let long = "x".repeat(20_000);
        let mut child = Command::new("sh")
            .args(["-c", "read _", &long])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let argv = loop {
            let argv = argv(&Path::new("/proc").join(child.id().to_string()));
            if argv.first().is_some_and(|first| first == "sh") {
                break argv;
            }
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let total: usize = argv.iter().map(String::len).sum();
        assert!(total <= MAX_CMDLINE_BYTES as usize + 3, "{total}");
        assert!(argv[3].ends_with('…'), "{}", argv[3].len());
    }

    #[test]
    fn only_the_named_executable_is_killed() {
        let mut judge = KillExecutable("/usr/bin/touch".into());
        let exec = |executable: &str| ExecRecord {
            executable: executable.into(),
            ..ExecRecord::default()
        };
        assert_eq!(judge.on_exec(&mut exec("/usr/bin/touch")), Verdict::Kill);
        assert_eq!(judge.on_exec(&mut exec("/usr/bin/touchy")), Verdict::Allow);
    }
}
