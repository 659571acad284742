//! The sidecar keeps its token from the task's other processes: it is non-dumpable, so even a
//! process of its own uid (root in a task, here nobody) cannot read its `/proc/PID/environ`.

use crate::exec::DEFENDER;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The user both sides run as: the same uid and no capabilities, so only the sidecar's being
/// non-dumpable can refuse the read.
const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

fn environ_as_nobody(pid: u32) -> Output {
    Command::new("setpriv")
        .args(NOBODY)
        .args(["cat", &format!("/proc/{pid}/environ")])
        .output()
        .expect("setpriv (util-linux) must be installed")
}

#[test]
fn the_sidecars_environment_is_unreadable_to_a_process_of_its_own_uid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut sidecar = Command::new("setpriv")
        .args(NOBODY)
        .args([DEFENDER, "run"])
        .env("PALISADE_TOKEN", "pal_not-for-the-workload")
        .env("PALISADE_LOCAL_ADDR", &addr)
        .env("PALISADE_VOLUME", dir.path())
        .env("PALISADE_STATE_DIR", dir.path().join("state"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first line is logged once it has made itself non-dumpable.
    let mut first = String::new();
    BufReader::new(sidecar.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("starting"), "{first}");
    let refused = environ_as_nobody(sidecar.id());
    let _ = sidecar.kill();
    let _ = sidecar.wait();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Permission denied"),
        "{refused:?}"
    );

    // The control: an ordinary process of that uid shows its environment, token and all.
    let mut control = Command::new("setpriv")
        .args(NOBODY)
        .args(["sh", "-c", "read _"])
        .env("PALISADE_TOKEN", "pal_not-for-the-workload")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let read = loop {
        let read = environ_as_nobody(control.id());
        if read.status.success() || Instant::now() > deadline {
            break read;
        }
        // Until setpriv has exec'd, it is not dumpable either (it changed its uid).
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = control.kill();
    let _ = control.wait();
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("PALISADE_TOKEN=pal_not-for-the-workload"),
        "{read:?}"
    );
}
