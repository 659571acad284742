//! The wrapper's tracer as a container runs it: every exec of the workload reported with its
//! argv however short it lives, threads and exec from a thread, real-time signals, job control,
//! the kill verdict, and what happens when the kernel refuses to let it trace.

use crate::exec::{execs, reports, wrapper, FakeSidecar};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// The loop of the issue: `n` runs of `/bin/true i`.
fn short_commands(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do /bin/true $i; i=$((i+1)); done")
}

fn true_argvs(lines: &[Value]) -> Vec<String> {
    execs(lines)
        .iter()
        .filter(|process| process["executable"] == "/usr/bin/true")
        .map(|process| process["command_line"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn every_one_of_a_thousand_short_commands_is_reported_with_its_argv() {
    let sidecar = FakeSidecar::start();
    let status = wrapper()
        .args(["--", "sh", "-c", &short_commands(1000)])
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    let expected: Vec<String> = (0..1000).map(|i| format!("/bin/true {i}")).collect();
    assert_eq!(true_argvs(&lines), expected);
    let shell = execs(&lines)[0];
    for process in execs(&lines)
        .iter()
        .filter(|p| p["executable"] == "/usr/bin/true")
    {
        assert_eq!(process["ppid"], shell["pid"], "{process}");
        assert_eq!(process["source"], "trace");
        assert_eq!(process["killed"], false);
    }
    assert!(
        !lines.iter().any(|line| line["type"] == "execs_dropped"),
        "nothing dropped"
    );
}

#[test]
fn a_multithreaded_workload_runs_and_a_thread_can_exec() {
    let sidecar = FakeSidecar::start();
    // Eight threads busy at once, then a thread other than the main one execs: the kernel gives
    // the process the main thread's pid back.
    let script = "import os, threading\n\
                  sums = []\n\
                  def work(): sums.append(sum(range(200000)))\n\
                  threads = [threading.Thread(target=work) for _ in range(8)]\n\
                  [t.start() for t in threads]; [t.join() for t in threads]\n\
                  print(len(sums), flush=True)\n\
                  t = threading.Thread(target=lambda: os.execv('/bin/echo', ['echo', 'from-thread']))\n\
                  t.start(); t.join()\n";
    let output = wrapper()
        .args(["--", "python3", "-c", script])
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "8\nfrom-thread\n");
    assert_eq!(output.status.code(), Some(0));
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    let echo = execs(&lines)
        .into_iter()
        .find(|process| process["command_line"] == "echo from-thread")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let python = execs(&lines)
        .into_iter()
        .find(|process| {
            process["command_line"]
                .as_str()
                .unwrap()
                .contains("import os")
        })
        .unwrap();
    assert_eq!(
        echo["pid"], python["pid"],
        "the exec kept the process's pid"
    );
}

#[test]
fn real_time_signals_reach_the_workload_and_end_it_with_128_plus_n() {
    let handled = "import os, signal\n\
                   signal.signal(signal.SIGRTMIN + 2, lambda *_: print('handled', flush=True))\n\
                   os.kill(os.getpid(), signal.SIGRTMIN + 2)\n\
                   print(int(signal.SIGRTMIN) + 3, flush=True)\n\
                   os.kill(os.getpid(), signal.SIGRTMIN + 3)\n";
    let output = wrapper()
        .args(["--", "python3", "-c", handled])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("handled"));
    let signal: i32 = lines.next().unwrap().parse().unwrap();
    assert_eq!(output.status.code(), Some(128 + signal));
}

/// Lines in `file` now.
fn count_lines(file: &std::path::Path) -> usize {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_stopped_workload_stays_stopped_until_sigcont() {
    let dir = tempfile::tempdir().unwrap();
    let ticks = dir.path().join("ticks");
    let sidecar = FakeSidecar::start();
    let mut wrapper = wrapper()
        .args([
            "--",
            "sh",
            "-c",
            "while :; do echo x >> \"$1\"; sleep 0.02; done",
            "sh",
        ])
        .arg(&ticks)
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .spawn()
        .unwrap();
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_started").is_empty());
    let pid = reports(&lines, "workload_started")[0]["pid"].to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert!(count_lines(&ticks) > 0, "it runs");
    let signal = |name: &str| Command::new("kill").args([name, &pid]).status().unwrap();

    signal("-STOP");
    std::thread::sleep(Duration::from_millis(300));
    let stopped = count_lines(&ticks);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count_lines(&ticks), stopped, "no tick while stopped");

    signal("-CONT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(count_lines(&ticks) > stopped + 5, "it runs again");
    signal("-TERM");
    assert_eq!(wrapper.wait().unwrap().code(), Some(143));
}

#[test]
fn a_process_judged_kill_never_runs_and_the_kill_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("made-by-touch");
    let sidecar = FakeSidecar::start();
    let output = wrapper()
        .args(["--test-kill-executable", "/usr/bin/touch", "--"])
        .args([
            "sh",
            "-c",
            "touch \"$1\"; echo touch=$?; /bin/true still",
            "sh",
        ])
        .arg(&file)
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
        .output()
        .unwrap();
    assert!(!file.exists(), "touch never ran");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "touch=137\n");
    assert_eq!(output.status.code(), Some(0));
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    let touch: Vec<&Value> = execs(&lines)
        .into_iter()
        .filter(|process| process["executable"] == "/usr/bin/touch")
        .collect();
    assert_eq!(touch.len(), 1, "{lines:?}");
    assert_eq!(touch[0]["killed"], true);
    assert_eq!(true_argvs(&lines), ["/bin/true still"], "others run");
}

#[test]
fn refused_tracing_runs_the_workload_untraced_and_says_why() {
    let sidecar = FakeSidecar::start();
    // Under strace -f the wrapper's children are strace's tracees already: the kernel refuses a
    // second tracer.
    let mut command = Command::new("strace");
    command
        .args(["-f", "-o", "/dev/null", "--"])
        .arg(crate::exec::DEFENDER)
        .args([
            "exec",
            "--",
            "sh",
            "-c",
            "/bin/true untraced; echo ran; exit 6",
        ])
        .env("PALISADE_LOCAL_ADDR", &sidecar.addr);
    let output = command
        .output()
        .expect("strace must be installed (Debian's strace)");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");
    assert_eq!(output.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not traced: off: ptrace refused"),
        "{stderr}"
    );
    let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
    let started = reports(&lines, "workload_started");
    let tracing = started[0]["tracing"].as_str().unwrap();
    assert!(
        tracing.starts_with("off: ptrace refused") && tracing.contains("another tracer"),
        "{tracing}"
    );
    assert!(execs(&lines).is_empty());
    assert_eq!(reports(&lines, "workload_exited")[0]["code"], 6);
}

/// The figures of BENCHMARKS.md ("Traced workloads"): `cargo test -p palisade-defender --test
/// integration -- --ignored --nocapture traced_workloads`.
#[test]
#[ignore = "a measurement, run by hand"]
fn traced_workloads_measured() {
    let time = |trace: &str, script: &str| {
        let sidecar = FakeSidecar::start();
        let started = Instant::now();
        let status = wrapper()
            .args(["--", "sh", "-c", script])
            .env("PALISADE_LOCAL_ADDR", &sidecar.addr)
            .env("PALISADE_TRACE", trace)
            .status()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(status.success());
        let lines = sidecar.lines_once(|lines| !reports(lines, "workload_exited").is_empty());
        (elapsed, true_argvs(&lines).len())
    };
    for round in 1..=3 {
        let (off, _) = time("off", &short_commands(1000));
        let (on, seen) = time("on", &short_commands(1000));
        println!("round {round}: 1,000 commands: untraced {off:?}, traced {on:?} ({seen} seen)");
    }
    let (on, seen) = time("on", &short_commands(3000));
    println!("3,000 short processes traced in {on:?}: {seen} seen");
    // A build: 40 C files and a link with make -j2 (cc, cc1, as, collect2, ld: ~200 execs).
    let project = tempfile::tempdir().unwrap();
    let mut objects = Vec::new();
    for file in 0..40 {
        let source = format!("int f{file}(int x) {{ return x * {file} + 1; }}\n");
        std::fs::write(project.path().join(format!("f{file}.c")), source).unwrap();
        objects.push(format!("f{file}.o"));
    }
    std::fs::write(
        project.path().join("main.c"),
        "int main(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("Makefile"),
        format!(
            "app: main.o {0}\n\tcc -o app main.o {0}\n",
            objects.join(" ")
        ),
    )
    .unwrap();
    let build = format!(
        "cd {} && make -s clean-all >/dev/null 2>&1; rm -f *.o app && make -s -j2",
        project.path().display()
    );
    for round in 1..=3 {
        let (off, _) = time("off", &build);
        let (on, _) = time("on", &build);
        println!("round {round}: make -j2 of 41 C files: untraced {off:?}, traced {on:?}");
    }
}
