//! The entrypoint wrapper as a container runs it: exit codes, signals, zombies as PID 1 (in a PID
//! namespace made with `unshare`), argv and stdio passed through, and its reports to a sidecar;
//! traced (the default) and with `PALISADE_TRACE=off`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEFENDER: &str = env!("CARGO_BIN_EXE_palisade-defender");

thread_local! {
    /// `PALISADE_TRACE` for the wrappers this test thread starts (unset: traced).
    static TRACE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// `palisade-defender exec` as a command, with no sidecar (a closed loopback port).
pub fn wrapper() -> Command {
    let mut command = Command::new(DEFENDER);
    command
        .arg("exec")
        .env("PALISADE_LOCAL_ADDR", "127.0.0.1:9");
    if let Some(trace) = TRACE.get() {
        command.env("PALISADE_TRACE", trace);
    }
    command
}

/// Runs `palisade-defender exec -- argv` with no sidecar.
fn exec(argv: &[&str]) -> Output {
    wrapper().arg("--").args(argv).output().unwrap()
}

/// A sidecar stand-in on loopback: every line of every connection, as JSON, in order (but the
/// status requests, which it answers, as the sidecar does). Each stream gets what a sidecar
/// sends first: `welcome` and the built-in default policy.
pub struct FakeSidecar {
    pub addr: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl FakeSidecar {
    pub fn start() -> FakeSidecar {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let collected = collected.clone();
                std::thread::spawn(move || {
                    let mut answer = stream.try_clone().unwrap();
                    let _ = answer.write_all(
                        b"{\"type\":\"welcome\",\"mode\":\"availability\"}\n\
                          {\"type\":\"policy\",\"revision\":0,\"policy\":{\"version\":1}}\n",
                    );
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                        if value["type"] == "status_request" {
                            let _ = answer.write_all(
                                b"{\"type\":\"status\",\"binary_ready\":true,\"connected\":true,\"healthy\":true}\n",
                            );
                            continue;
                        }
                        collected.lock().unwrap().push(value);
                    }
                });
            }
        });
        FakeSidecar { addr, lines }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The lines once `enough` says they are complete (within 10 s).
    pub fn lines_once(&self, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.lines();
            if enough(&lines) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The wrapper's reports (`report` lines) of this kind of event.
pub fn reports<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["type"] == "report" && line["kind"]["event"] == event)
        .map(|line| &line["kind"])
        .collect()
}

/// The exec records among the lines.
pub fn execs(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|line| line["type"] == "exec")
        .map(|line| &line["process"])
        .collect()
}

#[test]
fn the_exit_code_is_the_workloads() {
    exit_codes_pass_through();
}

#[test]
fn untraced_the_wrapper_behaves_as_before() {
    TRACE.set(Some("off"));
    exit_codes_pass_through();
    argv_and_stdio_pass_through();
    signals_reach_the_workload();
    as_pid_1_zombies_are_reaped();
}

fn exit_codes_pass_through() {
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
    argv_and_stdio_pass_through();
}

fn argv_and_stdio_pass_through() {
    let tricky = ["a b", "c'd", "e\"f", "", "$HOME", "--", "ünï"];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend(tricky);
    let output = exec(&argv);
    let expected: String = tricky.iter().map(|arg| format!("[{arg}]\n")).collect();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);

    let mut child = wrapper()
        .args(["--", "sh", "-c", "cat; echo to-stderr >&2"])
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
    signals_reach_the_workload();
}

fn signals_reach_the_workload() {
    let mut child = wrapper()
        .args([
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
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
    let output = wrapper()
        .args([
            "--",
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 0' USR1; kill -USR1 $PPID; while :; do sleep 0.05; done",
        ])
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
    as_pid_1_zombies_are_reaped();
}

fn as_pid_1_zombies_are_reaped() {
    let trace = format!("PALISADE_TRACE={}", TRACE.get().unwrap_or("on"));
    let wrapped = zombies_left_as_pid_1(|workload| {
        ["env", &trace, DEFENDER, "exec", "--", "sh", "-c", workload]
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
    let sidecar = FakeSidecar::start();
    let status = wrapper()
        .args(["--", "sh", "-c", "exit 7"])
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .env(
            "ECS_CONTAINER_METADATA_URI_V4",
            "http://169.254.170.2/v4/abc123-456",
        )
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    // On one connection, in order: the stream's first line, the start, the exec, the end.
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    assert_eq!(lines[0]["type"], "stream", "{lines:?}");
    assert_eq!(lines[1]["container_id"], "abc123-456");
    let started = &lines[1]["kind"];
    assert_eq!(started["event"], "workload_started");
    assert_eq!(started["argv"], serde_json::json!(["sh", "-c", "exit 7"]));
    assert_eq!(started["tracing"], "ptrace");
    assert_eq!(lines[2]["process"]["command_line"], "sh -c exit 7");
    let ended = &lines.last().unwrap()["kind"];
    assert_eq!(ended["event"], "workload_exited");
    assert_eq!(ended["code"], 7);
    assert_eq!(ended["pid"], started["pid"]);
}

#[test]
fn with_tracing_turned_off_the_start_says_so_and_no_exec_is_reported() {
    let sidecar = FakeSidecar::start();
    let status = wrapper()
        .args(["--", "sh", "-c", "/bin/true; exit 4"])
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .env("PALISADE_TRACE", "off")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(4));
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    let started = reports(&lines, "workload_started");
    assert_eq!(started[0]["tracing"], "off: PALISADE_TRACE=off");
    assert!(execs(&lines).is_empty(), "{lines:?}");
}
