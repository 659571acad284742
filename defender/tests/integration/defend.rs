//! The defender defends: the real sidecar and wrapper in a task of their own (`task.rs`), the
//! family's policy from a console stand-in (`fake_console.rs`), and what they judge, kill and
//! report.

use crate::fake_console::{kind, FakeConsole};
use crate::task::Task;
use palisade_policy::{ListEntry, Mode, Model, Policy, Protocol, MAX_POLICY_BYTES};
use palisade_protocol::{ConsoleMessage, PolicyUpdate};
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

fn message(revision: u64, policy: &Policy) -> String {
    serde_json::to_string(&ConsoleMessage::Policy(Box::new(PolicyUpdate {
        revision,
        policy: policy.clone(),
    })))
    .unwrap()
}

/// The path `/proc/PID/exe` shows for a program (`/bin/sh` is `/usr/bin/dash` here).
pub fn real(path: &str) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A model in which the container `app` ran `executables` and listens on `ports` (TCP).
pub fn model(executables: &[&str], ports: &[u16]) -> Model {
    let mut model = Model::default();
    for executable in executables {
        model.add_exec("app", &real(executable), 0);
    }
    for port in ports {
        model.add_port("app", Protocol::Tcp, *port, 0);
    }
    model
}

/// A console with `policy` at `revision`, and a task whose sidecar has it in force.
pub fn defended(revision: u64, policy: &Policy, mode: &'static str) -> (FakeConsole, Task) {
    defended_with(revision, policy, mode, &[])
}

pub fn defended_with(
    revision: u64,
    policy: &Policy,
    mode: &'static str,
    extra: &[(&str, &str)],
) -> (FakeConsole, Task) {
    let console = FakeConsole::start();
    console.set_policy(message(revision, policy));
    let task = Task::start(&console.url(), mode, extra);
    task.wait_log(&format!("policy revision {revision} in force"));
    (console, task)
}

/// The alerts about the process running `executable`.
pub fn about<'a>(alerts: &'a [Value], executable: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|alert| alert["process"]["executable"] == executable)
        .collect()
}

fn rules(alert: &Value) -> Vec<&str> {
    alert["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fired| fired["rule"].as_str().unwrap())
        .collect()
}

/// A copy of `program` at `DIR/x`, in a new folder under /tmp (a temporary folder to the rules).
pub fn dropped(program: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let x = dir.path().join("x");
    std::fs::copy(program, &x).unwrap();
    (dir, x.to_string_lossy().into_owned())
}

#[test]
fn in_alert_mode_a_program_dropped_in_tmp_is_not_from_the_image_nor_in_the_model() {
    let policy = Policy {
        model: Some(model(&["/bin/sh", "/bin/sleep"], &[])),
        ..Policy::default()
    };
    let (console, task) = defended(5, &policy, "availability");
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let x = dir.path().join("x").to_string_lossy().into_owned();
    let status = task
        .wrapper(
            true,
            false,
            "cp /bin/sleep \"$1\" && \"$1\" 0.2; /bin/sleep 0",
            &[&x],
        )
        .status()
        .unwrap();
    assert!(status.success());
    let cp = real("/bin/cp");
    let events = console.events_once(20, |events| {
        let alerts = kind(events, "alert");
        !about(&alerts, &x).is_empty() && !about(&alerts, &cp).is_empty()
    });
    let alerts = kind(&events, "alert");
    let dropped = about(&alerts, &x);
    assert_eq!(dropped.len(), 1, "{alerts:?}");
    assert_eq!(rules(dropped[0]), ["not-from-image", "not-in-model"]);
    assert_eq!(dropped[0]["action"], "allow");
    assert_eq!(dropped[0]["policy_revision"], 5);
    assert_eq!(dropped[0]["process"]["source"], "trace");
    assert_eq!(dropped[0]["process"]["container"], "app");
    assert_eq!(rules(about(&alerts, &cp)[0]), ["not-in-model"]);
    // What the model knows raises nothing, by the wrapper or by the scan.
    std::thread::sleep(Duration::from_millis(1500));
    let alerts = console.alerts();
    assert!(about(&alerts, &real("/bin/sh")).is_empty(), "{alerts:?}");
    assert!(about(&alerts, &real("/bin/sleep")).is_empty(), "{alerts:?}");
    assert_eq!(about(&alerts, &x).len(), 1, "judged once: {alerts:?}");
}

#[test]
fn in_prevent_mode_a_dropped_program_dies_before_it_runs_and_the_root_lives() {
    // The model knows neither the shell (the workload root) nor the program.
    let policy = Policy {
        mode: Mode::Prevent,
        model: Some(model(&["/bin/sleep"], &[])),
        ..Policy::default()
    };
    let (console, task) = defended(6, &policy, "availability");
    let (dir, x) = dropped("/usr/bin/touch");
    let marker = dir.path().join("marker");
    let output = task
        .wrapper(
            true,
            false,
            "\"$1\" \"$2\"; echo x=$?",
            &[&x, marker.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "x=137\n");
    assert_eq!(output.status.code(), Some(0), "the root ran on");
    assert!(!marker.exists(), "x never ran its first instruction");
    let sh = real("/bin/sh");
    let events = console.events_once(20, |events| {
        let alerts = kind(events, "alert");
        !about(&alerts, &x).is_empty() && !about(&alerts, &sh).is_empty()
    });
    let alerts = kind(&events, "alert");
    let killed = about(&alerts, &x);
    assert_eq!(killed[0]["action"], "kill", "{alerts:?}");
    assert_eq!(killed[0]["outcome"], "killed before it ran");
    assert_eq!(killed[0]["process"]["killed"], true);
    assert_eq!(killed[0]["policy_revision"], 6);
    assert!(rules(killed[0]).contains(&"not-from-image"));
    // The root raised its model alert and was not killed for it.
    let root = about(&alerts, &sh);
    assert_eq!(rules(root[0]), ["not-in-model"]);
    assert_eq!(root[0]["action"], "allow");
}

#[test]
fn a_scanned_process_judged_kill_is_killed_and_reported() {
    let (dir, x) = dropped("/usr/bin/sleep");
    let policy = Policy {
        mode: Mode::Prevent,
        deny: vec![ListEntry::new(x.clone())],
        ..Policy::default()
    };
    let (console, task) = defended(2, &policy, "availability");
    let started = Instant::now();
    let output = task
        .wrapper(false, false, "\"$1\" 30; echo x=$?", &[&x])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "x=137\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed, not slept out"
    );
    let events = console.events_once(20, |events| !about(&kind(events, "alert"), &x).is_empty());
    let alerts = kind(&events, "alert");
    let killed = about(&alerts, &x);
    assert_eq!(killed.len(), 1, "{alerts:?}");
    assert_eq!(killed[0]["outcome"], "killed");
    assert_eq!(killed[0]["action"], "kill");
    assert_eq!(killed[0]["process"]["source"], "scan");
    assert!(rules(killed[0]).contains(&"deny-list"));
    drop(dir);
}

#[test]
fn a_workload_running_its_own_wrapper_copy_is_still_judged_and_killed() {
    // A workload that got out of its wrapper's tracing (simulated: tracing off) runs the
    // defender's binary from the shared volume itself, as a "wrapper" that reports nowhere, to
    // have the sidecar leave what it traces alone. That copy is no container entry process: the
    // sidecar judges the program and kills it.
    let (dir, x) = dropped("/usr/bin/sleep");
    let policy = Policy {
        mode: Mode::Prevent,
        deny: vec![ListEntry::new(x.clone())],
        ..Policy::default()
    };
    let (console, task) = defended(3, &policy, "availability");
    let copy = task.dir.path().join("volume").join("palisade-defender");
    assert!(
        copy.is_file(),
        "the sidecar delivered its binary to the volume"
    );
    let output = task
        .wrapper(
            false,
            false,
            "PALISADE_TRACE=on PALISADE_LOCAL_ADDR=127.0.0.1:1 \"$2\" exec -- \"$1\" 30; echo x=$?",
            &[&x, copy.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "x=137\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = console.events_once(20, |events| !about(&kind(events, "alert"), &x).is_empty());
    let alerts = kind(&events, "alert");
    let killed = about(&alerts, &x);
    assert_eq!(killed.len(), 1, "{alerts:?}");
    assert_eq!(killed[0]["outcome"], "killed");
    drop(dir);
}

#[test]
fn a_port_opened_after_learning_alerts_once_and_a_learned_one_does_not() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (learned, new) = (free(), free());
    let policy = Policy {
        model: Some(model(&["/bin/sh"], &[learned])),
        ..Policy::default()
    };
    let (console, task) = defended(8, &policy, "availability");
    let server = format!(
        "import socket, time\n\
         for port in ({learned}, {new}):\n\
         \x20   s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         \x20   s.bind(('127.0.0.1', port)); s.listen(); globals()['s%d' % port] = s\n\
         time.sleep(4)\n"
    );
    let mut workload = task
        .wrapper(true, true, "exec python3 -c \"$1\"", &[&server])
        .spawn()
        .unwrap();
    let opened = |events: &[Value], port: u16| {
        kind(events, "port_listening")
            .into_iter()
            .filter(|event| event["port"] == port && event["container"] == "app")
            .count()
    };
    let events = console.events_once(20, |events| {
        opened(events, learned) > 0 && opened(events, new) > 0
    });
    assert_eq!((opened(&events, learned), opened(&events, new)), (1, 1));
    // Scans go on (every second) while it listens: still one of each.
    assert!(workload.wait().unwrap().success());
    let events = console.events();
    assert_eq!((opened(&events, learned), opened(&events, new)), (1, 1));
    let port_alerts: Vec<Value> = kind(&events, "alert")
        .into_iter()
        .filter(|alert| rules(alert) == ["new-listening-port"])
        .collect();
    assert_eq!(port_alerts.len(), 1, "{port_alerts:?}");
    assert_eq!(port_alerts[0]["port"]["port"], new);
    assert_eq!(port_alerts[0]["port"]["container"], "app");
    assert_eq!(port_alerts[0]["policy_revision"], 8);
}

#[test]
fn with_the_console_away_a_restarted_sidecar_judges_with_the_kept_policy_and_loses_nothing() {
    let policy = Policy {
        deny: vec![ListEntry::new("/tmp/**/x*")],
        ..Policy::default()
    };
    let (console, mut task) = defended(4, &policy, "availability");
    console.stop();
    // Restarted while the console is away: the kept policy is in force at once.
    task.kill_sidecar();
    task.start_sidecar();
    task.wait_log("judging with the kept policy, revision 4");
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let programs: Vec<String> = (1..=5)
        .map(|i| {
            let path = dir.path().join(format!("x{i}"));
            std::fs::copy("/bin/true", &path).unwrap();
            path.to_string_lossy().into_owned()
        })
        .collect();
    let script = "for x in \"$@\"; do \"$x\"; done";
    let args: Vec<&str> = programs.iter().map(String::as_str).collect();
    assert!(task
        .wrapper(true, false, script, &args)
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(1));
    console.restart();
    let events = console.events_once(20, |events| {
        let alerts = kind(events, "alert");
        programs.iter().all(|x| !about(&alerts, x).is_empty())
    });
    let alerts = kind(&events, "alert");
    for x in &programs {
        let found = about(&alerts, x);
        assert_eq!(found.len(), 1, "{x}: {alerts:?}");
        assert_eq!(found[0]["policy_revision"], 4);
        assert!(rules(found[0]).contains(&"deny-list"));
    }
    assert!(console.hellos() >= 2);
}

/// A policy whose compact JSON weighs exactly [`MAX_POLICY_BYTES`], denying `deny`.
fn policy_at_the_limit(deny: &str) -> Policy {
    let mut policy = Policy {
        mode: Mode::Prevent,
        deny: vec![ListEntry::new(deny)],
        model: Some(Model::default()),
        ..Policy::default()
    };
    let size = |policy: &Policy| serde_json::to_vec(policy).unwrap().len();
    let add = |policy: &mut Policy, path: &str| {
        policy.model.as_mut().unwrap().add_exec("padding", path, 0);
    };
    let path = |i: usize, length: usize| format!("/{i:04}{}", "p".repeat(length - 5));
    for i in 0.. {
        // What one more executable adds besides its path, and the path the last one needs to
        // fill the policy up exactly.
        let mut probe = policy.clone();
        add(&mut probe, "/q");
        let overhead = size(&probe) - size(&policy) - 2;
        let left = MAX_POLICY_BYTES - size(&policy) - overhead;
        if left <= 1000 {
            add(&mut policy, &path(i, left));
            break;
        }
        add(&mut policy, &path(i, (left - 1000).clamp(10, 900)));
    }
    assert_eq!(size(&policy), MAX_POLICY_BYTES);
    policy
}

#[test]
fn a_policy_at_the_size_limit_is_accepted_and_one_that_fails_its_check_is_refused() {
    let (dir, x) = dropped("/usr/bin/touch");
    let big = policy_at_the_limit(&x);
    assert!(big.check().is_ok());
    let (console, task) = defended(7, &big, "availability");
    let broken = Policy {
        version: 99,
        deny: vec![ListEntry::new("not/absolute")],
        ..Policy::default()
    };
    console.set_policy(message(8, &broken));
    task.wait_log("policy revision 8 refused");
    assert!(
        task.log().contains("revision 7 stays in force"),
        "{}",
        task.log()
    );
    // The wrapper got the 240 KiB policy on its stream and judges with it.
    let marker = dir.path().join("marker");
    let output = task
        .wrapper(
            true,
            false,
            "\"$1\" \"$2\"; echo x=$?",
            &[&x, marker.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "x=137\n");
    let events = console.events_once(20, |events| !about(&kind(events, "alert"), &x).is_empty());
    let alerts = kind(&events, "alert");
    assert_eq!(about(&alerts, &x)[0]["policy_revision"], 7, "{alerts:?}");
}

#[test]
fn killing_the_sidecar_in_security_mode_stops_the_workload_and_says_why() {
    let (_console, mut task) = defended(1, &Policy::default(), "security");
    let mut workload = task
        .wrapper(true, false, "exec sleep 60", &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let killed_at = Instant::now();
    task.kill_sidecar();
    let output = wait_with_output(&mut workload, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(killed_at.elapsed() < Duration::from_secs(15));
    assert!(
        stderr.contains("the workload is not watched by the sidecar"),
        "{stderr}"
    );
    assert!(
        stderr.contains("security mode: stopping the workload"),
        "{stderr}"
    );
}

#[test]
fn a_stopped_sidecar_is_noticed_and_in_availability_mode_the_wrapper_judges_on() {
    let (dir, x) = dropped("/usr/bin/touch");
    let policy = Policy {
        mode: Mode::Prevent,
        deny: vec![ListEntry::new(x.clone())],
        ..Policy::default()
    };
    let (_console, task) = defended(3, &policy, "availability");
    let marker = dir.path().join("marker");
    let mut workload = task
        .wrapper(
            true,
            false,
            "sleep 9; \"$1\" \"$2\"; echo x=$?",
            &[&x, marker.to_str().unwrap()],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    task.signal_sidecar("-STOP");
    let output = wait_with_output(&mut workload, Duration::from_secs(30));
    task.signal_sidecar("-CONT");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the sidecar does not answer"), "{stderr}");
    assert!(
        stderr.contains("availability mode: the workload runs on"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "x=137\n",
        "{stderr}"
    );
    assert!(!marker.exists());
    assert_eq!(output.status.code(), Some(0));
}

/// The child's output once it ended (killed after `limit`).
fn wait_with_output(child: &mut std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut stderr);
    }
    std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}

#[test]
fn ten_thousand_identical_alerts_collapse_into_ten_and_one_summary() {
    let (console, task) = defended_with(
        1,
        &Policy::default(),
        "availability",
        &[
            ("PALISADE_ALERT_WINDOW_MS", "3000"),
            ("PALISADE_BUFFER_EVENTS", "50000"),
        ],
    );
    // Whatever a process of the task sends on a stream is what a wrapper would: 10,000 execs of
    // the same program, each with the same alert.
    let mut stream = std::net::TcpStream::connect(&task.local_addr).unwrap();
    let mut text = String::from("{\"type\":\"stream\"}\n");
    for pid in 0..10_000 {
        let exec = serde_json::json!({
            "type": "exec", "container_id": task.app_id, "start_time": 1,
            "process": {"pid": 4_000_000 + pid, "executable": "/tmp/flood/x", "source": "trace"},
            "alert": {"policy_revision": 1, "action": "allow",
                      "alerts": [{"rule": "not-from-image", "severity": "high", "message": "/tmp/flood/x runs from the temporary folder /tmp/"}]}
        });
        text.push_str(&exec.to_string());
        text.push('\n');
    }
    stream.write_all(text.as_bytes()).unwrap();
    let summary = |alert: &Value| {
        alert["outcome"]
            .as_str()
            .is_some_and(|outcome| outcome.contains("collapsed"))
    };
    let events = console.events_once(30, |events| kind(events, "alert").iter().any(summary));
    let alerts = kind(&events, "alert");
    assert_eq!(alerts.len(), 11, "{:?}", alerts.last());
    assert_eq!(alerts.iter().filter(|alert| summary(alert)).count(), 1);
    let last = alerts.iter().find(|alert| summary(alert)).unwrap();
    assert_eq!(
        last["outcome"],
        "9990 more alerts like this within 3 s were collapsed into this one"
    );
    assert_eq!(last["process"]["container"], "app");
    assert!(kind(&events, "process_started").len() >= 10_000);
}

#[test]
fn a_sidecar_stopped_with_sigterm_says_goodbye_to_the_console() {
    let (console, task) = defended(1, &Policy::default(), "availability");
    task.signal_sidecar("-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while console.closes().is_empty() {
        assert!(Instant::now() < deadline, "no close frame");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(console.closes()[0], (1001, "sidecar stopping".to_owned()));
}
