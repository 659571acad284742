//! The entrypoint wrapper as a container runs it: exit codes, signals, zombies as PID 1 (in a PID
//! namespace made with `unshare`), argv and stdio passed through, and its reports to a sidecar.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEFENDER: &str = env!("CARGO_BIN_EXE_palisade-defender");

/// Runs `palisade-defender exec -- argv` with no sidecar (a closed loopback port).
fn exec(argv: &[&str]) -> Output {
    Command::new(DEFENDER)
        .arg("exec")
        .arg("--")
        .args(argv)
        .env("PALISADE_LOCAL_ADDR", "127.0.0.1:9")
        .output()
        .unwrap()
}

#[test]
fn the_exit_code_is_the_workloads() {
    assert_eq!(exec(&["sh", "-c", "exit 0"]).status.code(), Some(0));
    assert_eq!(exec(&["sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(exec(&["sh", "-c", "exit 255"]).status.code(), Some(255));
    // Killed by a signal N: 128 + N, as a shell reports it.
    assert_eq!(
        exec(&["sh", "-c", "kill -KILL $$"]).status.code(),
        Some(137)
    );
    assert_eq!(
        exec(&["sh", "-c", "kill -TERM $$"]).status.code(),
        Some(143)
    );
    let missing = exec(&["/nonexistent/workload"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/workload"));
    assert_eq!(
        exec(&["/etc/hostname"]).status.code(),
        Some(126),
        "not executable"
    );
}

#[test]
fn argv_and_stdio_pass_through_unchanged() {
    let tricky = ["a b", "c'd", "e\"f", "", "$HOME", "--", "ünï"];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend(tricky);
    let output = exec(&argv);
    let expected: String = tricky.iter().map(|arg| format!("[{arg}]\n")).collect();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);

    let mut child = Command::new(DEFENDER)
        .args(["exec", "--", "sh", "-c", "cat; echo to-stderr >&2"])
        .env("PALISADE_LOCAL_ADDR", "127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.stdout, b"line one\nline two\n");
    assert_eq!(output.stderr, b"to-stderr\n");
}

#[test]
fn sigterm_reaches_the_workload_and_the_wrapper_exits_with_it() {
    let mut child = Command::new(DEFENDER)
        .args([
            "exec",
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .env("PALISADE_LOCAL_ADDR", "127.0.0.1:9")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(42));

    // SIGUSR1 is forwarded too (not only the stop signals).
    let output = Command::new(DEFENDER)
        .args([
            "exec",
            "--",
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 0' USR1; kill -USR1 $PPID; while :; do sleep 0.05; done",
        ])
        .env("PALISADE_LOCAL_ADDR", "127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got-usr1\n");
    assert_eq!(output.status.code(), Some(0));
}

/// The number of zombies in the PID namespace after orphans died, with the wrapper as PID 1.
fn zombies_left_as_pid_1(pid_1: impl FnOnce(&str) -> Vec<String>) -> String {
    // The workload leaves three orphans that die 0.2 s later (re-parented to PID 1), then counts
    // the zombies it sees in /proc.
    let workload = "for i in 1 2 3; do sh -c 'sleep 0.2 &'; done; sleep 0.8; \
                    n=0; for s in /proc/[0-9]*/stat; do state=$(sed 's/.*) //' \"$s\" | cut -d' ' -f1); \
                    [ \"$state\" = Z ] && n=$((n+1)); done; echo zombies=$n";
    let mut command = Command::new("unshare");
    command
        .args(["--pid", "--fork", "--mount-proc"])
        .args(pid_1(workload));
    let output = command
        .output()
        .expect("unshare (util-linux) must be installed");
    assert!(
        output.status.success(),
        "unshare needs root: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn as_pid_1_it_reaps_orphaned_zombies() {
    let wrapped = zombies_left_as_pid_1(|workload| {
        [DEFENDER, "exec", "--", "sh", "-c", workload]
            .map(String::from)
            .to_vec()
    });
    assert_eq!(wrapped, "zombies=0");
    // The same workload under a PID 1 that never reaps (sh exec'ing into sleep) leaves them, so
    // the check above can fail.
    let without = zombies_left_as_pid_1(|workload| {
        [
            "sh",
            "-c",
            "sh -c \"$1\" & exec sleep 1.5",
            "pid1",
            workload,
        ]
        .map(String::from)
        .to_vec()
    });
    assert_ne!(without, "zombies=0", "the control must show zombies");
}

#[test]
fn it_reports_start_and_end_to_the_sidecar() {
    let sidecar = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = sidecar.local_addr().unwrap().to_string();
    let status = Command::new(DEFENDER)
        .args(["exec", "--", "sh", "-c", "exit 7"])
        .env("PALISADE_LOCAL_ADDR", &addr)
        .env(
            "ECS_CONTAINER_METADATA_URI_V4",
            "http://169.254.170.2/v4/abc123-456",
        )
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    sidecar.set_nonblocking(true).unwrap();
    let mut reports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reports.len() < 2 && Instant::now() < deadline {
        match sidecar.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                let mut line = String::new();
                BufReader::new(stream).read_line(&mut line).unwrap();
                reports.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    reports.sort_by_key(|report| report["kind"]["event"].as_str().unwrap().to_owned());
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0]["container_id"], "abc123-456");
    assert_eq!(reports[0]["kind"]["event"], "workload_exited");
    assert_eq!(reports[0]["kind"]["code"], 7);
    assert_eq!(reports[1]["kind"]["event"], "workload_started");
    assert_eq!(
        reports[1]["kind"]["argv"],
        serde_json::json!(["sh", "-c", "exit 7"])
    );
}
