//! What a defender saw, as the rules read it: a process that started ([`ExecFacts`]) or a port that
//! began listening ([`ListeningPort`]), and the path helpers every rule shares.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Linux's mark on `/proc/PID/exe` when the file was removed while the process runs.
const DELETED_SUFFIX: &str = " (deleted)";

/// A process that started, as the defender saw it at its exec. The caller reads the clock and the
/// file system; this crate only compares what it is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecFacts {
    /// The container the process belongs to, when the defender could tell.
    pub container: Option<String>,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// The executable as `/proc/PID/exe` names it (a script's interpreter, not the script);
    /// empty when it could not be read.
    pub executable: String,
    pub argv: Vec<String>,
    /// The parent process's executable, when known.
    pub parent_executable: Option<String>,
    /// The executable file was deleted while the process runs.
    pub exe_deleted: bool,
    /// The executable file's modification time, in seconds since the epoch.
    pub exe_mtime: Option<i64>,
    /// When the process's container started, in seconds since the epoch.
    pub container_started: Option<i64>,
    /// The process the entrypoint wrapper itself started: the container's main process.
    pub workload_root: bool,
}

/// The transport a port listens on, as `/proc/net/{tcp,tcp6,udp,udp6}` tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl Protocol {
    /// The protocol without its address family: a service that listens on `::` one start and on
    /// `0.0.0.0` the next has not opened a new port, so models and lists compare this.
    pub fn transport(self) -> Protocol {
        match self {
            Protocol::Tcp | Protocol::Tcp6 => Protocol::Tcp,
            Protocol::Udp | Protocol::Udp6 => Protocol::Udp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Tcp6 => "tcp6",
            Protocol::Udp => "udp",
            Protocol::Udp6 => "udp6",
        }
    }
}

/// A socket that began listening in the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListeningPort {
    pub protocol: Protocol,
    pub port: u16,
    #[serde(default)]
    pub container: Option<String>,
}

impl ExecFacts {
    /// The executable's path as the rules compare it: without Linux's ` (deleted)` mark, `.` and
    /// `..` resolved and doubled slashes folded, so `/tmp/../usr/bin/x` is `/usr/bin/x`.
    pub fn executable_path(&self) -> Cow<'_, str> {
        clean_path(&self.executable)
    }

    /// The parent's executable path, cleaned the same way.
    pub fn parent_path(&self) -> Option<Cow<'_, str>> {
        self.parent_executable.as_deref().map(clean_path)
    }

    /// The executable's file is gone: deleted while running, or never on disk (`memfd_create`,
    /// which `/proc/PID/exe` shows as `/memfd:NAME (deleted)`).
    pub fn is_deleted(&self) -> bool {
        self.exe_deleted
            || self.executable.ends_with(DELETED_SUFFIX)
            || self.executable.starts_with("/memfd:")
    }

    /// The executable file changed after its container started: a comparison of the two times
    /// the caller read, `false` when either is unknown.
    pub fn modified_after_start(&self) -> bool {
        matches!((self.exe_mtime, self.container_started), (Some(mtime), Some(started)) if mtime > started)
    }
}

/// `path` without the ` (deleted)` mark, lexically normalized (borrowed when already clean).
pub(crate) fn clean_path(path: &str) -> Cow<'_, str> {
    let path = path.strip_suffix(DELETED_SUFFIX).unwrap_or(path);
    let clean = path.starts_with('/')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..");
    if clean || !path.starts_with('/') {
        return Cow::Borrowed(path);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    Cow::Owned(format!("/{}", parts.join("/")))
}

/// The last component of a path (`/usr/bin/pip3` -> `pip3`).
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Cuts `text` to `max` characters, marking the cut, so an alert's message stays short.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_compared_without_the_deleted_mark_and_with_dots_resolved() {
        assert_eq!(clean_path("/usr/bin/x (deleted)"), "/usr/bin/x");
        assert_eq!(clean_path("/usr/../tmp/./x"), "/tmp/x");
        assert_eq!(clean_path("//tmp//x"), "/tmp/x");
        assert_eq!(clean_path("/../../x"), "/x");
        assert_eq!(clean_path("/usr/bin/.."), "/usr");
        assert!(matches!(clean_path("/usr/bin/env"), Cow::Borrowed(_)));
        assert_eq!(clean_path("relative/x"), "relative/x");
    }

    #[test]
    fn deleted_and_fileless_executables_are_told_apart_from_ordinary_ones() {
        let mut facts = ExecFacts {
            executable: "/usr/bin/x (deleted)".into(),
            ..ExecFacts::default()
        };
        assert!(facts.is_deleted());
        facts.executable = "/memfd:payload (deleted)".into();
        assert!(facts.is_deleted());
        facts.executable = "/usr/bin/x".into();
        assert!(!facts.is_deleted());
        facts.exe_deleted = true;
        assert!(facts.is_deleted());
    }

    #[test]
    fn modification_after_start_needs_both_times() {
        let mut facts = ExecFacts {
            exe_mtime: Some(1_700_000_100),
            ..ExecFacts::default()
        };
        assert!(!facts.modified_after_start());
        facts.container_started = Some(1_700_000_000);
        assert!(facts.modified_after_start());
        facts.container_started = Some(1_700_000_100);
        assert!(
            !facts.modified_after_start(),
            "the same second is not after"
        );
    }

    #[test]
    fn tcp6_and_tcp_are_one_transport() {
        assert_eq!(Protocol::Tcp6.transport(), Protocol::Tcp);
        assert_eq!(Protocol::Udp6.transport(), Protocol::Udp);
        let port: ListeningPort =
            serde_json::from_str(r#"{"protocol":"tcp6","port":8080}"#).unwrap();
        assert_eq!(port.container, None);
    }
}
