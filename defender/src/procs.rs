//! Processes of the task, read from `/proc` (with `pidMode: task` the sidecar sees every process
//! of every container). A full scan compares with the previous one: new pids are reported as
//! started, vanished ones as exited; a pid reused between two scans is told apart by its start
//! time. Between full scans, a probe reads the last pid the kernel handed out in this PID
//! namespace (`/proc/loadavg`, one small read) and looks at just the new pids, so a process that
//! lives a few tens of milliseconds is still seen, at almost no cost while nothing starts.
//!
//! Processes a wrapper traces are reported by the wrapper (every exec, before it runs): its
//! records become known processes here, so the scan reports their exits but not their starts. A
//! traced process the scan finds before the wrapper's record (a few milliseconds behind) waits a
//! little; one still unreported then (traced by something else: gdb, strace) is reported.

use crate::shared::TracedExec;
use palisade_protocol::{
    truncate_chars, ContainerIdentity, EventKind, ProcessInfo, MAX_COMMAND_LINE_CHARS,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Known {
    start_time: u64,
    container: Option<String>,
    /// What it ran when reported: a later exec (same pid, same start time) is reported again.
    executable: String,
}

fn executable(proc_dir: &Path) -> String {
    std::fs::read_link(proc_dir.join("exe"))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A process the scan reported starting, as the sidecar's judge reads it.
#[derive(Clone, Debug, Default)]
pub struct Fresh {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub user: Option<String>,
    /// Clock ticks after boot: with the pid, names the process (a kill checks it first).
    pub start_time: u64,
    pub executable: String,
    pub argv: Vec<String>,
    pub container: Option<String>,
    /// Its tracer's pid (0: none).
    pub tracer: u32,
}

/// Reported processes waiting for the judge at most (it takes them after every probe and scan).
const MAX_FRESH: usize = 4096;

pub struct Scanner {
    root: PathBuf,
    known: HashMap<u32, Known>,
    /// uid -> user name, per container (each has its own /etc/passwd).
    users: HashMap<Option<String>, HashMap<u32, String>>,
    /// The last pid seen handed out, for the probe.
    last_pid: Option<u32>,
    /// Pids the probe saw mid-exec, or traced and not reported yet, to look at once more.
    retry: Vec<(u32, u8)>,
    /// Traced processes a full scan found unreported: (start time, executable) when seen. The
    /// next scan reports them if no wrapper did meanwhile.
    awaiting_wrapper: HashMap<u32, (u64, String)>,
    /// What was reported starting since the judge last took it.
    fresh: Vec<Fresh>,
    /// Whether a process (its `/proc/PID`) is traced by a wrapper, whose records then stand for
    /// the scan's: [`traced_by_a_wrapper`] (a unit test, which cannot start a container's entry
    /// process, puts its own).
    by_a_wrapper: fn(&Path) -> bool,
}

/// `/proc/PID/stat`: the parent pid and the start time (clock ticks after boot).
pub(crate) fn stat(proc_dir: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses: split after the last `)`.
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... starttime(19).
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Whether the process whose `/proc/PID` is `proc_dir` is traced by a wrapper: a container's
/// entry process (its parent is outside the task's PID namespace, so its ppid reads 0), which is
/// what `palisade-defender exec` is. A process of the task that traces another (or runs the
/// defender's binary from the shared volume itself) has a parent in the task: its records do not
/// silence the scan, and what it traces is judged by the sidecar.
pub(crate) fn traced_by_a_wrapper(proc_dir: &Path) -> bool {
    let Some(tracer) = status_field(proc_dir, "TracerPid:").filter(|tracer| *tracer != 0) else {
        return false;
    };
    let Some(root) = proc_dir.parent() else {
        return false;
    };
    stat(&root.join(tracer.to_string())).is_some_and(|(ppid, _)| is_entry_parent(ppid))
}

/// Whether a process with parent `ppid` is a container's entry process: its parent is outside
/// the task's PID namespace (0). Debug builds (the tests', whose wrappers some tests start
/// outside any task) take any parent when `PALISADE_TEST_WRAPPERS_ANY_PARENT` is set; a release
/// build ignores it.
pub(crate) fn is_entry_parent(ppid: u32) -> bool {
    static ANY_PARENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    ppid == 0
        || *ANY_PARENT.get_or_init(|| {
            cfg!(debug_assertions)
                && std::env::var_os("PALISADE_TEST_WRAPPERS_ANY_PARENT").is_some()
        })
}

/// A field of `/proc/PID/status` (its first number).
pub(crate) fn status_field(proc_dir: &Path, field: &str) -> Option<u32> {
    let text = std::fs::read_to_string(proc_dir.join("status")).ok()?;
    field_of(&text, field)
}

/// A field of a `/proc/PID/status` text (its first number).
fn field_of(text: &str, field: &str) -> Option<u32> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The last pid handed out in this PID namespace (threads take pids too).
fn last_pid(root: &Path) -> Option<u32> {
    std::fs::read_to_string(root.join("loadavg"))
        .ok()?
        .split_whitespace()
        .nth(4)?
        .parse()
        .ok()
}

/// How many probes look again at a process caught mid-exec.
const MAX_LOOKS: u8 = 5;

/// Probing more new pids than this at once is slower than a full scan.
const MAX_PROBED: u32 = 512;

fn command_line(proc_dir: &Path) -> String {
    let raw = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    truncate_chars(
        text.trim_end_matches('\0').replace('\0', " ").as_str(),
        MAX_COMMAND_LINE_CHARS,
    )
}

/// The task container a process runs in: its cgroup path names the container's Docker ID.
pub(crate) fn container_of(proc_dir: &Path, containers: &[ContainerIdentity]) -> Option<String> {
    let cgroup = std::fs::read_to_string(proc_dir.join("cgroup")).ok()?;
    containers
        .iter()
        .filter(|c| !c.docker_id.is_empty())
        .find(|c| cgroup.contains(&c.docker_id))
        .map(|c| c.name.clone())
}

/// The most of a container's /etc/passwd read: the workload owns that file and may make it a
/// symlink to /dev/zero or a FIFO.
const MAX_PASSWD_BYTES: u64 = 256 * 1024;

/// uid -> user name from the container's /etc/passwd (through /proc/<pid>/root), read with a
/// bound and without blocking on a FIFO.
fn passwd(proc_dir: &Path) -> HashMap<u32, String> {
    passwd_at(&proc_dir.join("root/etc/passwd"))
}

fn passwd_at(path: &Path) -> HashMap<u32, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::new();
    let opened = std::fs::OpenOptions::new()
        .read(true)
        // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOFOLLOW is not used because
        // /etc/passwd may legitimately be a link inside the image.
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path);
    if let Ok(file) = opened {
        let regular = file.metadata().is_ok_and(|meta| meta.is_file());
        if regular {
            let _ = file.take(MAX_PASSWD_BYTES).read_to_string(&mut text);
        }
    }
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

impl Scanner {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Scanner {
            root: root.into(),
            known: HashMap::new(),
            users: HashMap::new(),
            last_pid: None,
            retry: Vec::new(),
            awaiting_wrapper: HashMap::new(),
            fresh: Vec::new(),
            by_a_wrapper: traced_by_a_wrapper,
        }
    }

    /// The processes reported starting since the last call, for the judge.
    pub fn take_fresh(&mut self) -> Vec<Fresh> {
        std::mem::take(&mut self.fresh)
    }

    /// The `/proc` this scanner reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The new processes since the last look, reading only the pids handed out since; `None`
    /// when a full scan is needed instead (pids wrapped around, or too many to probe).
    pub fn probe(&mut self, containers: &[ContainerIdentity]) -> Option<Vec<EventKind>> {
        let now = last_pid(&self.root)?;
        let before = self.last_pid.replace(now)?;
        if now == before && self.retry.is_empty() {
            return Some(Vec::new());
        }
        if now < before || now - before > MAX_PROBED {
            return None;
        }
        let mut events = Vec::new();
        let retry = std::mem::take(&mut self.retry);
        for (pid, looks) in retry
            .into_iter()
            .chain((before + 1..=now).map(|pid| (pid, 0)))
        {
            let proc_dir = self.root.join(pid.to_string());
            let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
            // Threads have pids too; only thread group leaders are processes.
            if field_of(&status, "Tgid:") != Some(pid) {
                continue;
            }
            let Some((ppid, start_time)) = stat(&proc_dir) else {
                continue;
            };
            if self
                .known
                .get(&pid)
                .is_some_and(|known| known.start_time == start_time)
            {
                continue;
            }
            // Traced: its wrapper's record is probably on its way; look again a few times.
            if looks < MAX_LOOKS && field_of(&status, "TracerPid:").is_some_and(|t| t != 0) {
                self.retry.push((pid, looks + 1));
                continue;
            }
            // Caught in the middle of exec (the new program is mapped, its arguments not yet):
            // look again on the next probes rather than report it without a command line (a
            // zombie never gets one: after a few looks it is reported as it is).
            if looks < MAX_LOOKS
                && std::fs::metadata(proc_dir.join("cmdline")).is_ok()
                && command_line(&proc_dir).is_empty()
            {
                self.retry.push((pid, looks + 1));
                continue;
            }
            if let Some(previous) = self.known.remove(&pid) {
                events.push(EventKind::ProcessExited {
                    pid,
                    container: previous.container,
                });
            }
            events.push(self.started(pid, ppid, start_time, &proc_dir, containers));
        }
        Some(events)
    }

    /// Records a process as known and describes its start.
    fn started(
        &mut self,
        pid: u32,
        ppid: u32,
        start_time: u64,
        proc_dir: &Path,
        containers: &[ContainerIdentity],
    ) -> EventKind {
        let container = container_of(proc_dir, containers);
        let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
        let uid = field_of(&status, "Uid:").unwrap_or(u32::MAX);
        let user = self.user(&container, uid, proc_dir);
        let executable = executable(proc_dir);
        let argv = crate::trace::argv(proc_dir);
        let event = EventKind::ProcessStarted(ProcessInfo {
            pid,
            ppid,
            uid,
            user: user.clone(),
            executable: executable.clone(),
            command_line: truncate_chars(&argv.join(" "), MAX_COMMAND_LINE_CHARS),
            container: container.clone(),
            ..ProcessInfo::default()
        });
        if self.fresh.len() < MAX_FRESH {
            self.fresh.push(Fresh {
                pid,
                ppid,
                uid,
                user,
                start_time,
                executable: executable.clone(),
                argv,
                container: container.clone(),
                tracer: field_of(&status, "TracerPid:").unwrap_or(0),
            });
        }
        self.known.insert(
            pid,
            Known {
                start_time,
                container,
                executable,
            },
        );
        event
    }

    /// The name of `uid` in the container's /etc/passwd (read through a process of it, once per
    /// container; not kept while the process is gone or the container has no users).
    fn user(&mut self, container: &Option<String>, uid: u32, proc_dir: &Path) -> Option<String> {
        if !self.users.contains_key(container) {
            let users = passwd(proc_dir);
            if users.is_empty() {
                return None;
            }
            self.users.insert(container.clone(), users);
        }
        self.users.get(container)?.get(&uid).cloned()
    }

    /// An exec a wrapper's tracer reported: its start event (the process as reported is
    /// answered), and a known process from now on
    /// while it runs, traced, what the record says (the scan reports its exit, not its start). One already gone (most short
    /// ones: the record is up to a probe interval old) or killed at its exec gets no exit event,
    /// as the scan never reported the exit of a process it did not see.
    pub fn traced(
        &mut self,
        exec: TracedExec,
        containers: &[ContainerIdentity],
        events: &mut Vec<EventKind>,
    ) -> ProcessInfo {
        let TracedExec {
            start_time,
            mut process,
            ..
        } = exec;
        let pid = process.pid;
        let proc_dir = self.root.join(pid.to_string());
        if process.container.is_none() {
            process.container = container_of(&proc_dir, containers);
        }
        process.user = self.user(&process.container, process.uid, &proc_dir);
        self.awaiting_wrapper.remove(&pid);
        // Any process of the task can send a record: it only silences the scan for a process
        // that is traced and runs what the record says (a lie about another process leaves the
        // scan to report it as it is).
        let running = stat(&proc_dir).is_some_and(|(_, started)| started == start_time)
            && (self.by_a_wrapper)(&proc_dir)
            && executable(&proc_dir) == process.executable;
        if running && !process.killed {
            let now = Known {
                start_time,
                container: process.container.clone(),
                executable: process.executable.clone(),
            };
            match self.known.insert(pid, now) {
                Some(before) if before.start_time != start_time => {
                    events.push(EventKind::ProcessExited {
                        pid,
                        container: before.container,
                    });
                }
                _ => {}
            }
        }
        events.push(EventKind::ProcessStarted(process.clone()));
        process
    }

    /// A traced process no wrapper reported: the first full scan that finds it waits (true: its
    /// wrapper's record is a few milliseconds behind); the next one reports it (false), unless
    /// the record came meanwhile and made it known.
    fn awaits_wrapper(&mut self, pid: u32, start_time: u64, proc_dir: &Path) -> bool {
        if status_field(proc_dir, "TracerPid:").is_none_or(|tracer| tracer == 0) {
            return false;
        }
        let now = (start_time, executable(proc_dir));
        if self.awaiting_wrapper.get(&pid) == Some(&now) {
            self.awaiting_wrapper.remove(&pid);
            return false;
        }
        self.awaiting_wrapper.insert(pid, now);
        true
    }

    pub fn process_count(&self) -> u32 {
        u32::try_from(self.known.len()).unwrap_or(u32::MAX)
    }

    /// One scan: the events since the previous one, and how many processes run now.
    pub fn scan(&mut self, containers: &[ContainerIdentity]) -> (Vec<EventKind>, u32) {
        // Read first: a process started during the scan is then probed again, not skipped.
        let last_pid_before = last_pid(&self.root);
        let mut events = Vec::new();
        let mut seen: HashMap<u32, Known> = HashMap::with_capacity(self.known.len() + 8);
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return (events, 0);
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let proc_dir = entry.path();
            let Some((ppid, start_time)) = stat(&proc_dir) else {
                continue; // gone since the directory was listed
            };
            // Kernel threads (children of kthreadd) are not processes of the task.
            if pid == 2 || ppid == 2 {
                continue;
            }
            self.scan_one(
                pid,
                ppid,
                start_time,
                &proc_dir,
                containers,
                &mut events,
                &mut seen,
            );
        }
        let root = &self.root;
        self.awaiting_wrapper
            .retain(|pid, _| root.join(pid.to_string()).exists());
        for (pid, gone) in self.known.drain() {
            events.push(EventKind::ProcessExited {
                pid,
                container: gone.container,
            });
        }
        self.known = seen;
        self.last_pid = last_pid_before.or(self.last_pid);
        (events, self.process_count())
    }

    /// One process of a full scan: known as it was (kept in `seen`), or what changed reported.
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of `scan`, with its state"
    )]
    fn scan_one(
        &mut self,
        pid: u32,
        ppid: u32,
        start_time: u64,
        proc_dir: &Path,
        containers: &[ContainerIdentity],
        events: &mut Vec<EventKind>,
        seen: &mut HashMap<u32, Known>,
    ) {
        match self.known.remove(&pid) {
            // The same (a zombie's executable reads empty: it ran nothing new).
            Some(known)
                if known.start_time == start_time
                    && [known.executable.as_str(), ""].contains(&executable(proc_dir).as_str()) =>
            {
                seen.insert(pid, known);
            }
            // Mid-exec (arguments not mapped yet) or a zombie: not reported until it shows
            // what it runs; a zombie never will, and it is already dead.
            None if command_line(proc_dir).is_empty() => {}
            // Traced, and not reported by its wrapper yet: it is about to be (or the next scan
            // reports it).
            Some(known) if self.awaits_wrapper(pid, start_time, proc_dir) => {
                seen.insert(pid, known);
            }
            None if self.awaits_wrapper(pid, start_time, proc_dir) => {}
            // The same process exec'd something else since it was reported: report what it
            // runs now (an exec is not an exit).
            Some(known) if known.start_time == start_time => {
                events.push(self.started(pid, ppid, start_time, proc_dir, containers));
                if let Some(now) = self.known.remove(&pid) {
                    seen.insert(pid, now);
                }
            }
            previous => {
                if let Some(previous) = previous {
                    events.push(EventKind::ProcessExited {
                        pid,
                        container: previous.container,
                    });
                }
                events.push(self.started(pid, ppid, start_time, proc_dir, containers));
                if let Some(known) = self.known.remove(&pid) {
                    seen.insert(pid, known);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_passwd_costs_a_bounded_read_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        // A FIFO nobody writes to: opening or reading it must not hang the scanner.
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(passwd_at(&fifo).is_empty());
        // An endless file: read up to the bound, not until memory runs out.
        assert!(passwd_at(Path::new("/dev/zero")).is_empty());
        let huge = dir.path().join("huge");
        let mut text = "root:x:0:0::/root:/bin/sh\n".to_owned();
        text.push_str(&"x".repeat(10 * 1024 * 1024));
        text.push_str("\nlate:x:7:7::/:/bin/sh\n");
        std::fs::write(&huge, text).unwrap();
        let users = passwd_at(&huge);
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert!(!users.contains_key(&7), "past the bound is not read");
    }

    #[test]
    fn a_child_is_seen_starting_and_exiting() {
        let mut scanner = Scanner::new("/proc");
        scanner.scan(&[]);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Caught mid-exec (no arguments yet) it is left for the next scan, as the sidecar's
        // scanner does; a few scans 20 ms apart must report it, once.
        let mut reports = Vec::new();
        for _ in 0..10 {
            let (events, count) = scanner.scan(&[]);
            assert!(count > 1);
            reports.extend(events.into_iter().filter_map(|event| match event {
                EventKind::ProcessStarted(info) if info.pid == pid => Some(info),
                _ => None,
            }));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(reports.len(), 1, "reported once: {reports:?}");
        let started = reports.remove(0);
        assert_eq!(started.ppid, std::process::id());
        assert_eq!(started.command_line, "sleep 30");
        assert!(
            started.executable.ends_with("sleep"),
            "{}",
            started.executable
        );
        assert_eq!(started.uid, nix_uid());
        child.kill().unwrap();
        child.wait().unwrap();
        let (events, _) = scanner.scan(&[]);
        assert!(events.contains(&EventKind::ProcessExited {
            pid,
            container: None
        }));
        let (events, _) = scanner.scan(&[]);
        assert!(!events
            .iter()
            .any(|e| matches!(e, EventKind::ProcessExited { pid: p, .. } if *p == pid)));
    }

    #[test]
    fn the_probe_sees_a_process_that_lives_only_briefly() {
        let mut scanner = Scanner::new("/proc");
        scanner.scan(&[]);
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Probes as the sidecar makes them, between two full scans (other tests start processes
        // too: a full scan is the answer when too many did).
        let mut events = Vec::new();
        for _ in 0..5 {
            events.extend(scanner.probe(&[]).unwrap_or_else(|| scanner.scan(&[]).0));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let reports: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, EventKind::ProcessStarted(info) if info.pid == pid))
            .collect();
        assert_eq!(reports.len(), 1, "{events:?}");
        assert!(
            matches!(reports[0], EventKind::ProcessStarted(info) if info.command_line == "sleep 0.3")
        );
        child.wait().unwrap();
        let again = scanner.probe(&[]).unwrap_or_default();
        assert!(
            !again
                .iter()
                .any(|e| matches!(e, EventKind::ProcessStarted(info) if info.pid == pid)),
            "reported once"
        );
    }

    /// `sleep 30` traced by strace (a tracer that is no wrapper): strace's pid and sleep's.
    #[expect(
        clippy::zombie_processes,
        reason = "the caller kills and waits for strace"
    )]
    fn traced_sleep() -> (std::process::Child, u32) {
        let mut strace = std::process::Command::new("strace")
            .args(["-o", "/dev/null", "sleep", "30"])
            .spawn()
            .expect("strace must be installed (Debian's strace)");
        let children = format!("/proc/{0}/task/{0}/children", strace.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let child = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = child.split_whitespace().next().and_then(|p| p.parse().ok()) {
                let dir = Path::new("/proc").join(child.trim());
                if command_line(&dir) == "sleep 30" && status_field(&dir, "TracerPid:") != Some(0) {
                    return (strace, pid);
                }
            }
            if std::time::Instant::now() > deadline {
                let _ = strace.kill();
                let _ = strace.wait();
                panic!("strace started no sleep");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn starts(events: &[EventKind], pid: u32) -> usize {
        let started = |event: &&EventKind| matches!(event, EventKind::ProcessStarted(info) if info.pid == pid);
        events.iter().filter(started).count()
    }

    #[test]
    fn a_wrappers_exec_is_reported_once_and_another_tracers_after_one_scan() {
        let mut scanner = Scanner::new("/proc");
        // Here any tracer stands for a wrapper (a container's entry process cannot be made in a
        // unit test; the integration tests run real wrappers as entry processes of a task).
        scanner.by_a_wrapper =
            |dir| status_field(dir, "TracerPid:").is_some_and(|tracer| tracer != 0);
        let (mut wrapped, wrapped_pid) = traced_sleep();
        let (mut other, other_pid) = traced_sleep();
        // Really, strace is no wrapper: its parent is this test, a process of "the task" tracing
        // another (as a workload running the defender's binary from the volume would).
        assert!(!traced_by_a_wrapper(
            &Path::new("/proc").join(other_pid.to_string())
        ));
        // The wrapper's record of the first one arrives.
        let dir = Path::new("/proc").join(wrapped_pid.to_string());
        let (ppid, start_time) = stat(&dir).unwrap();
        let process = ProcessInfo {
            pid: wrapped_pid,
            ppid,
            executable: executable(&dir),
            command_line: "sleep 30".into(),
            source: palisade_protocol::ProcessSource::Trace,
            ..ProcessInfo::default()
        };
        let mut events = Vec::new();
        scanner.traced(
            TracedExec {
                start_time,
                process,
                alert: None,
            },
            &[],
            &mut events,
        );
        assert_eq!(starts(&events, wrapped_pid), 1);
        // The scans never report it again; the other traced one waits one scan (its wrapper's
        // record could be on its way), then is reported.
        let (first, _) = scanner.scan(&[]);
        assert_eq!(starts(&first, wrapped_pid), 0);
        assert_eq!(starts(&first, other_pid), 0, "waits for a wrapper");
        let (second, _) = scanner.scan(&[]);
        assert_eq!(starts(&second, wrapped_pid), 0);
        assert_eq!(starts(&second, other_pid), 1);
        for (tracer, pid) in [(&mut wrapped, wrapped_pid), (&mut other, other_pid)] {
            let _ = tracer.kill();
            let _ = tracer.wait();
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Gone (once PID 1 reaped it): its exit is the scan's to report.
        let gone = Path::new("/proc").join(wrapped_pid.to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gone.exists() && std::time::Instant::now() < deadline {
            let (zombie, _) = scanner.scan(&[]);
            assert_eq!(starts(&zombie, wrapped_pid), 0, "a zombie ran nothing new");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (third, _) = scanner.scan(&[]);
        assert!(third.contains(&EventKind::ProcessExited {
            pid: wrapped_pid,
            container: None
        }));
    }

    #[test]
    fn a_record_lying_about_a_process_does_not_silence_the_scan() {
        let mut scanner = Scanner::new("/proc");
        scanner.scan(&[]);
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read _", "not-traced"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let dir = Path::new("/proc").join(pid.to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while command_line(&dir) != "sh -c read _ not-traced" {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // A process of the task claims it ran something harmless, traced.
        let (ppid, start_time) = stat(&dir).unwrap();
        let process = ProcessInfo {
            pid,
            ppid,
            executable: "/usr/bin/true".into(),
            command_line: "true".into(),
            ..ProcessInfo::default()
        };
        let mut events = Vec::new();
        scanner.traced(
            TracedExec {
                start_time,
                process,
                alert: None,
            },
            &[],
            &mut events,
        );
        // It is not traced: the scan reports it as it is.
        let (found, _) = scanner.scan(&[]);
        let _ = child.kill();
        let _ = child.wait();
        let reported = found.iter().any(|event| {
            matches!(event, EventKind::ProcessStarted(info)
                if info.pid == pid && info.command_line == "sh -c read _ not-traced")
        });
        assert!(reported, "{found:?}");
    }

    fn nix_uid() -> u32 {
        status_field(Path::new("/proc/self"), "Uid:").unwrap()
    }
}
