//! The figures of BENCHMARKS.md ("Judging"), run by hand:
//! `PALISADE_TEST_DEFENDER=<a release defender> cargo test -p palisade-defender --test integration
//! -- --ignored --nocapture judging_measured` (without the variable, this build's debug binary).

use crate::defend::{about, defended, defended_with, dropped, model};
use crate::fake_console::kind;
use palisade_policy::{ListEntry, Mode, Policy};
use std::time::{Duration, Instant};

/// Starts `/bin/true` 100 times a second for `seconds` (reaping as it goes); prints how many.
const SPAWNER: &str = "import os, sys, time\n\
    seconds = float(sys.argv[1]); start = time.monotonic(); due = start; n = 0\n\
    while time.monotonic() < start + seconds:\n\
    \x20   os.posix_spawn('/bin/true', ['/bin/true'], os.environ); n += 1\n\
    \x20   while True:\n\
    \x20       try:\n\
    \x20           if os.waitpid(-1, os.WNOHANG)[0] == 0: break\n\
    \x20       except ChildProcessError: break\n\
    \x20   due += 0.01; time.sleep(max(0, due - time.monotonic()))\n\
    print(n, flush=True)\n";

/// Runs `X 30` `n` times, 0.3 s apart: for each, its pid, when it was spawned (ms since the
/// epoch) and how long until it died (µs).
const LAUNCHER: &str = "import os, sys, time\n\
    x, n = sys.argv[1], int(sys.argv[2])\n\
    for i in range(n):\n\
    \x20   t = time.time(); pid = os.posix_spawn(x, [x, '30'], os.environ)\n\
    \x20   os.waitpid(pid, 0)\n\
    \x20   print(pid, int(t * 1000), int((time.time() - t) * 1e6), flush=True)\n\
    \x20   time.sleep(0.3)\n";

/// utime + stime of a process, in clock ticks (100 a second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    fields[11] + fields[12]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
#[ignore = "a measurement, run by hand"]
fn judging_measured() {
    // 1. The sidecar while 100 new processes a second are judged, 30 s; and the control, the
    // same with the policy's mode `off` (nothing judged).
    let policy = Policy {
        model: Some(model(&["/bin/sh", "/bin/true"], &[])),
        deny: vec![ListEntry::new("/**/xmrig")],
        ..Policy::default()
    };
    let off = Policy {
        mode: Mode::Off,
        ..policy.clone()
    };
    for (trace, policy) in [(false, &off), (false, &policy), (true, &policy)] {
        let (_console, task) = defended(1, policy, "availability");
        std::thread::sleep(Duration::from_secs(2));
        let sidecar = task.sidecar_pid();
        let (before, started) = (cpu_ticks(sidecar), Instant::now());
        let sampling = std::thread::spawn(move || {
            let mut peak = 0;
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until {
                peak = peak.max(rss_kib(sidecar));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        let output = task
            .wrapper(trace, true, "exec python3 -c \"$1\" 30", &[SPAWNER])
            .output()
            .unwrap();
        let spawned = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let cpu = (cpu_ticks(sidecar) - before) as f64 / 100.0 / started.elapsed().as_secs_f64();
        let peak = sampling.join().unwrap();
        println!(
            "traced {trace}, mode {:?}: {spawned} processes in 30 s; sidecar CPU {:.2} % of a core, RSS peak {:.1} MiB, end {:.1} MiB",
            policy.mode,
            cpu * 100.0,
            peak as f64 / 1024.0,
            rss_kib(sidecar) as f64 / 1024.0
        );
    }
    // 2. From exec to the alert event at the sidecar, and to the kill (prevent mode).
    let (_dir, x) = dropped("/usr/bin/sleep");
    let prevent = Policy {
        mode: Mode::Prevent,
        deny: vec![ListEntry::new(x.clone())],
        ..Policy::default()
    };
    for trace in [true, false] {
        // Every alert sent in full (the flood rule would collapse the 11th on).
        let (console, task) = defended_with(
            2,
            &prevent,
            "availability",
            &[("PALISADE_ALERT_BURST", "1000")],
        );
        let output = task
            .wrapper(
                trace,
                false,
                "exec python3 -c \"$1\" \"$2\" 20",
                &[LAUNCHER, &x],
            )
            .output()
            .unwrap();
        let runs: Vec<(u64, i64, f64)> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                (
                    fields[0].parse().unwrap(),
                    fields[1].parse().unwrap(),
                    fields[2].parse::<f64>().unwrap() / 1000.0,
                )
            })
            .collect();
        let events = console.events_once(20, |events| {
            about(&kind(events, "alert"), &x).len() >= runs.len()
        });
        let alerts = kind(&events, "alert");
        let mut to_alert: Vec<f64> = runs
            .iter()
            .filter_map(|(pid, at, _)| {
                let alert = about(&alerts, &x)
                    .into_iter()
                    .find(|alert| alert["process"]["pid"] == *pid)?;
                Some((alert["at_ms"].as_i64()? - at) as f64)
            })
            .collect();
        let mut to_kill: Vec<f64> = runs.iter().map(|(_, _, ms)| *ms).collect();
        let outcomes: Vec<&str> = about(&alerts, &x)
            .iter()
            .filter_map(|alert| alert["outcome"].as_str())
            .collect();
        println!(
            "traced {trace}: {} runs; exec to alert at the sidecar: median {} ms, max {} ms ({} alerts); exec to death: median {:.2} ms, max {:.2} ms; outcomes {:?}",
            runs.len(),
            median(&mut to_alert),
            to_alert.iter().copied().fold(0.0, f64::max),
            to_alert.len(),
            median(&mut to_kill),
            to_kill.iter().copied().fold(0.0, f64::max),
            outcomes.first()
        );
    }
}
