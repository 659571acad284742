//! The sidecar's judge: every process its `/proc` scan reports starting is judged with the policy
//! in force, and in prevent mode a process judged `kill` gets SIGKILL, through a pidfd opened
//! before its start time is checked, so a pid handed to another process meanwhile is never
//! killed. The wrappers judge their own workloads' execs (before they run) and send what they
//! found: those become alerts here too, and are never judged twice.
//!
//! Not judged: the sidecar itself and every process running the defender's binary (its own file
//! or the copy it delivered: the wrappers, the trampoline, the health check), told by the file
//! (device and inode), not its name; and a process traced by a wrapper (its wrapper judged it).

use crate::facts::{self, FileId, Process};
use crate::policy::InForce;
use crate::procs::{self, Fresh};
use palisade_policy::{judge, Action, Mode};
use palisade_protocol::{AlertReport, ProcessInfo, ProcessSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a kill of a process that ended first says.
pub const ENDED: &str = "ended before it could be killed";

/// Containers whose start is remembered at most (a task has at most 10).
const MAX_CONTAINERS: usize = 64;

pub struct Judging {
    proc_root: PathBuf,
    boot_time: Option<i64>,
    own_pid: u32,
    /// The defender's binaries: its own file and, once delivered, the copy in the volume.
    defender_files: Vec<FileId>,
    /// The copy in the volume, looked for until found.
    delivered: Option<PathBuf>,
    /// Each container's earliest process start seen, in seconds since the epoch: when it
    /// started, as far as the judge can tell (`not-from-image` compares executables' mtimes).
    container_started: HashMap<String, i64>,
}

impl Judging {
    pub fn new(proc_root: &Path, volume: &Path) -> Self {
        let own = facts::executable_id(&proc_root.join("self"));
        Judging {
            proc_root: proc_root.to_owned(),
            boot_time: facts::boot_time(proc_root),
            own_pid: std::process::id(),
            defender_files: own.into_iter().collect(),
            delivered: Some(volume.join("palisade-defender")),
            container_started: HashMap::new(),
        }
    }

    /// Whether the process runs the defender's binary.
    pub fn is_defender(&mut self, proc_dir: &Path) -> bool {
        if let Some(delivered) = &self.delivered {
            if let Some(id) = facts::file_id(delivered) {
                self.defender_files.push(id);
                self.delivered = None;
            }
        }
        facts::executable_id(proc_dir).is_some_and(|id| self.defender_files.contains(&id))
    }

    /// Whether `pid` is the sidecar itself or runs the defender's binary.
    pub fn is_defender_pid(&mut self, pid: u32) -> bool {
        pid == self.own_pid || self.is_defender(&self.proc_root.join(pid.to_string()))
    }

    /// Whether `pid` is a wrapper: it runs the defender's binary and is a container's entry
    /// process (ppid 0: its parent is outside the task's PID namespace). A process of the task
    /// running the binary from the shared volume itself is none: what it traces is judged here.
    pub fn is_wrapper_pid(&mut self, pid: u32) -> bool {
        let proc_dir = self.proc_root.join(pid.to_string());
        pid != self.own_pid
            && self.is_defender(&proc_dir)
            && procs::stat(&proc_dir).is_some_and(|(ppid, _)| procs::is_entry_parent(ppid))
    }

    /// Judges a process the scan reported: the alert to report (after a kill, in prevent mode,
    /// when the verdict says so), or `None`.
    pub fn scanned(&mut self, in_force: &InForce, fresh: Fresh) -> Option<AlertReport> {
        if let (Some(container), Some(boot)) = (&fresh.container, self.boot_time) {
            let started = facts::started_at(boot, fresh.start_time);
            if self.container_started.len() < MAX_CONTAINERS
                || self.container_started.contains_key(container)
            {
                let earliest = self
                    .container_started
                    .entry(container.clone())
                    .or_insert(started);
                *earliest = (*earliest).min(started);
            }
        }
        if in_force.policy.mode == Mode::Off {
            return None;
        }
        let proc_dir = self.proc_root.join(fresh.pid.to_string());
        if fresh.pid == self.own_pid
            || self.is_defender(&proc_dir)
            || (fresh.tracer != 0 && self.is_wrapper_pid(fresh.tracer))
        {
            return None;
        }
        let workload_root = self.is_wrapper_pid(fresh.ppid);
        let exec = facts::exec_facts(Process {
            proc_dir: &proc_dir,
            pid: fresh.pid,
            ppid: fresh.ppid,
            uid: fresh.uid,
            executable: &fresh.executable,
            argv: fresh.argv.clone(),
            container: fresh.container.clone(),
            container_started: fresh
                .container
                .as_ref()
                .and_then(|name| self.container_started.get(name).copied()),
            workload_root,
        });
        let verdict = judge(&in_force.policy, &exec);
        if verdict.alerts.is_empty() {
            return None;
        }
        let outcome =
            (verdict.action == Action::Kill).then(|| kill(&proc_dir, fresh.pid, fresh.start_time));
        Some(AlertReport {
            policy_revision: in_force.revision,
            alerts: verdict.alerts,
            action: verdict.action,
            outcome,
            process: Some(ProcessInfo {
                pid: fresh.pid,
                ppid: fresh.ppid,
                uid: fresh.uid,
                user: fresh.user,
                executable: fresh.executable,
                command_line: palisade_protocol::truncate_chars(
                    &fresh.argv.join(" "),
                    palisade_protocol::MAX_COMMAND_LINE_CHARS,
                ),
                container: fresh.container,
                source: ProcessSource::Scan,
                killed: false,
            }),
            port: None,
        })
    }
}

/// A wrapper's judgement of an exec, as the alert to report: the process as reported.
pub fn traced(process: ProcessInfo, alert: Option<Box<AlertReport>>) -> Option<AlertReport> {
    let mut alert = *alert?;
    if alert.alerts.is_empty() {
        return None;
    }
    alert.process = Some(process);
    alert.port = None;
    Some(alert)
}

/// SIGKILL to the process `pid` that started at `start_time` (clock ticks after boot), and what
/// came of it: `killed`, [`ENDED`], or `kill refused: EPERM`.
pub fn kill(proc_dir: &Path, pid: u32, start_time: u64) -> String {
    use std::os::fd::AsFd;
    let raw = i32::try_from(pid).unwrap_or(i32::MAX);
    // Opened first: from here on it names this process, whatever the pid becomes.
    let pidfd = match palisade_ptrace::pidfd_open(raw) {
        Ok(pidfd) => Some(pidfd),
        Err(error) if error.raw_os_error() == Some(nix::libc::ESRCH) => return ENDED.into(),
        // Before Linux 5.3: the start time is checked right before the kill instead.
        Err(_) => None,
    };
    if procs::stat(proc_dir).map(|(_, started)| started) != Some(start_time) {
        return ENDED.into();
    }
    let sent = match &pidfd {
        Some(pidfd) => palisade_ptrace::pidfd_send_signal(pidfd.as_fd(), nix::libc::SIGKILL),
        None => nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(raw),
            nix::sys::signal::Signal::SIGKILL,
        )
        .map_err(std::io::Error::from),
    };
    match sent {
        Ok(()) => "killed".into(),
        Err(error) if error.raw_os_error() == Some(nix::libc::ESRCH) => ENDED.into(),
        Err(error) => {
            let errno = nix::errno::Errno::from_raw(error.raw_os_error().unwrap_or(0));
            format!("kill refused: {errno:?}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{ListEntry, Policy};
    use std::sync::Arc;

    fn prevent(deny: &str) -> InForce {
        InForce {
            revision: 9,
            policy: Arc::new(Policy {
                mode: Mode::Prevent,
                deny: vec![ListEntry::new(deny)],
                ..Policy::default()
            }),
        }
    }

    #[test]
    fn a_scanned_process_judged_kill_is_killed_and_a_reused_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("sleeper");
        std::fs::copy("/bin/sleep", &copy).unwrap();
        let mut child = std::process::Command::new(&copy).arg("30").spawn().unwrap();
        let proc_dir = Path::new("/proc").join(child.id().to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while crate::trace::argv(&proc_dir).first().map(String::as_str)
            != Some(copy.to_str().unwrap())
        {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (ppid, start_time) = procs::stat(&proc_dir).unwrap();
        let fresh = Fresh {
            pid: child.id(),
            ppid,
            uid: 0,
            user: None,
            start_time,
            executable: copy.to_string_lossy().into_owned(),
            argv: vec![copy.to_string_lossy().into_owned(), "30".into()],
            container: None,
            tracer: 0,
        };
        let mut judging = Judging::new(Path::new("/proc"), dir.path());
        // Another start time: a process that is not the one judged is left alone.
        assert_eq!(kill(&proc_dir, child.id(), start_time + 1), ENDED);
        assert_eq!(child.try_wait().unwrap(), None);
        let alert = judging
            .scanned(&prevent(copy.to_str().unwrap()), fresh.clone())
            .unwrap();
        assert_eq!(alert.action, Action::Kill);
        assert_eq!(alert.outcome.as_deref(), Some("killed"));
        assert_eq!(alert.policy_revision, 9);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert_eq!(kill(&proc_dir, fresh.pid, start_time), ENDED);
        // Its own process is never judged.
        let own = Fresh {
            pid: std::process::id(),
            ..fresh
        };
        assert_eq!(judging.scanned(&prevent("/**"), own), None);
    }
}
