//! Processes of the task, read from `/proc` (with `pidMode: task` the sidecar sees every process
//! of every container). Each scan compares with the previous one: new pids are reported as
//! started, vanished ones as exited. A pid reused between two scans is told apart by its start
//! time.

use palisade_protocol::{
    truncate_chars, ContainerIdentity, EventKind, ProcessInfo, MAX_COMMAND_LINE_CHARS,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Known {
    start_time: u64,
    container: Option<String>,
}

pub struct Scanner {
    root: PathBuf,
    known: HashMap<u32, Known>,
    /// uid -> user name, per container (each has its own /etc/passwd).
    users: HashMap<Option<String>, HashMap<u32, String>>,
}

/// `/proc/PID/stat`: the parent pid and the start time (clock ticks after boot).
fn stat(proc_dir: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses: split after the last `)`.
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... starttime(19).
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn uid(proc_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(proc_dir.join("status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn command_line(proc_dir: &Path) -> String {
    let raw = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    truncate_chars(
        text.trim_end_matches('\0').replace('\0', " ").as_str(),
        MAX_COMMAND_LINE_CHARS,
    )
}

/// The task container a process runs in: its cgroup path names the container's Docker ID.
fn container_of(proc_dir: &Path, containers: &[ContainerIdentity]) -> Option<String> {
    let cgroup = std::fs::read_to_string(proc_dir.join("cgroup")).ok()?;
    containers
        .iter()
        .filter(|c| !c.docker_id.is_empty())
        .find(|c| cgroup.contains(&c.docker_id))
        .map(|c| c.name.clone())
}

fn passwd(proc_dir: &Path) -> HashMap<u32, String> {
    let text = std::fs::read_to_string(proc_dir.join("root/etc/passwd")).unwrap_or_default();
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
        }
    }

    /// One scan: the events since the previous one, and how many processes run now.
    pub fn scan(&mut self, containers: &[ContainerIdentity]) -> (Vec<EventKind>, u32) {
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
            match self.known.remove(&pid) {
                Some(known) if known.start_time == start_time => {
                    seen.insert(pid, known);
                }
                previous => {
                    if let Some(previous) = previous {
                        events.push(EventKind::ProcessExited {
                            pid,
                            container: previous.container,
                        });
                    }
                    let container = container_of(&proc_dir, containers);
                    let uid = uid(&proc_dir).unwrap_or(u32::MAX);
                    let user = self
                        .users
                        .entry(container.clone())
                        .or_insert_with(|| passwd(&proc_dir))
                        .get(&uid)
                        .cloned();
                    events.push(EventKind::ProcessStarted(ProcessInfo {
                        pid,
                        ppid,
                        uid,
                        user,
                        executable: std::fs::read_link(proc_dir.join("exe"))
                            .map(|path| path.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        command_line: command_line(&proc_dir),
                        container: container.clone(),
                    }));
                    seen.insert(
                        pid,
                        Known {
                            start_time,
                            container,
                        },
                    );
                }
            }
        }
        for (pid, gone) in self.known.drain() {
            events.push(EventKind::ProcessExited {
                pid,
                container: gone.container,
            });
        }
        let count = u32::try_from(seen.len()).unwrap_or(u32::MAX);
        self.known = seen;
        (events, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_seen_starting_and_exiting() {
        let mut scanner = Scanner::new("/proc");
        scanner.scan(&[]);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let (events, count) = scanner.scan(&[]);
        assert!(count > 1);
        let started = events.iter().find_map(|event| match event {
            EventKind::ProcessStarted(info) if info.pid == pid => Some(info.clone()),
            _ => None,
        });
        let started = started.expect("the new process is reported");
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

    fn nix_uid() -> u32 {
        uid(Path::new("/proc/self")).unwrap()
    }
}
