//! What the judge reads of a process, from `/proc`: the same for the wrapper (at an exec stop)
//! and the sidecar (at a scan), so both judge alike.

use palisade_policy::ExecFacts;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Linux's clock ticks per second as `/proc/PID/stat` counts them (`USER_HZ`: 100 on every
/// architecture the defender ships for).
const TICKS_PER_SECOND: u64 = 100;

/// A file as the kernel names it: (device, inode). Tells the defender's own binary from a file
/// that merely has its name.
pub type FileId = (u64, u64);

/// What `/proc/PID` says of a process, with the caller's view of its container.
pub struct Process<'a> {
    pub proc_dir: &'a Path,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// `/proc/PID/exe` (with ` (deleted)` when the file is gone).
    pub executable: &'a str,
    pub argv: Vec<String>,
    pub container: Option<String>,
    pub container_started: Option<i64>,
    pub workload_root: bool,
}

/// The judge's facts: the parent's executable, the executable's modification time and whether
/// it was deleted are read here.
pub fn exec_facts(process: Process<'_>) -> ExecFacts {
    let parent = process
        .proc_dir
        .parent()
        .map(|root| root.join(process.ppid.to_string()).join("exe"));
    let parent_executable = parent
        .and_then(|link| std::fs::read_link(link).ok())
        .map(|path| path.to_string_lossy().into_owned());
    // The later of the content's and the inode's change: a process of the task can set a file's
    // mtime back (`touch -r`), never its ctime (and a copy-up or chmod moves it too).
    let exe_mtime = std::fs::metadata(process.proc_dir.join("exe"))
        .ok()
        .map(|meta| meta.mtime().max(meta.ctime()));
    ExecFacts {
        container: process.container,
        pid: process.pid,
        ppid: process.ppid,
        uid: process.uid,
        executable: process.executable.to_owned(),
        argv: process.argv,
        parent_executable,
        exe_deleted: process.executable.ends_with(" (deleted)"),
        exe_mtime,
        container_started: process.container_started,
        workload_root: process.workload_root,
    }
}

/// The file `/proc/PID/exe` leads to.
pub fn executable_id(proc_dir: &Path) -> Option<FileId> {
    std::fs::metadata(proc_dir.join("exe"))
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// The file at `path`.
pub fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// When the machine booted, in seconds since the epoch (`btime` of `/proc/stat`).
pub fn boot_time(proc_root: &Path) -> Option<i64> {
    std::fs::read_to_string(proc_root.join("stat"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// A start time in clock ticks after boot, in seconds since the epoch.
pub fn started_at(boot_time: i64, start_ticks: u64) -> i64 {
    boot_time + i64::try_from(start_ticks / TICKS_PER_SECOND).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_processs_facts_name_its_parent_and_its_files_time() {
        let me = Path::new("/proc/self");
        let executable = std::fs::read_link(me.join("exe")).unwrap();
        let executable = executable.to_string_lossy();
        let (ppid, start) = crate::procs::stat(me).unwrap();
        let facts = exec_facts(Process {
            proc_dir: &Path::new("/proc").join(std::process::id().to_string()),
            pid: std::process::id(),
            ppid,
            uid: 0,
            executable: &executable,
            argv: vec!["test".into()],
            container: None,
            container_started: None,
            workload_root: false,
        });
        assert!(facts.parent_executable.is_some());
        assert!(facts.exe_mtime.unwrap() > 1_500_000_000);
        assert!(!facts.exe_deleted);
        let boot = boot_time(Path::new("/proc")).unwrap();
        let now = crate::log::now_ms() / 1000;
        let started = started_at(boot, start);
        assert!(started <= now && started > now - 3600, "{started} {now}");
        assert_eq!(
            executable_id(me),
            file_id(Path::new(executable.as_ref())),
            "the link leads to the file"
        );
    }
}
