//! `palisade-loadgen` against a real `palisade serve` (the debug binary cargo built for the
//! server's tests): every simulated defender connects, every event is acknowledged, a storm
//! brings them all back, and shards in several processes add up to one line.

use palisade_test_support::{console_binary, free_port};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn simulated_defenders_connect_get_every_event_acknowledged_and_come_back_after_a_storm() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let created = Command::new(console_binary())
        .args(["token", "create", "--family", "loadgen"])
        .env("PALISADE_DATABASE_URL", &database)
        .output()
        .unwrap();
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let (people, defenders) = (free_port(), free_port());
    let mut console = Command::new(console_binary())
        .arg("serve")
        .env("PALISADE_ADDR", format!("127.0.0.1:{people}"))
        .env("PALISADE_DEFENDER_ADDR", format!("127.0.0.1:{defenders}"))
        .env("PALISADE_DATABASE_URL", &database)
        .env("PALISADE_ADMIN_PASSWORD", "a long enough password")
        .env("PALISADE_HEARTBEAT_SECS", "1")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", defenders)).is_err() {
        assert!(Instant::now() < deadline, "palisade serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = Command::new(env!("CARGO_BIN_EXE_palisade-loadgen"))
        .args([
            "--url",
            &format!("ws://127.0.0.1:{defenders}"),
            "--token",
            &token,
            "--defenders",
            "60",
            "--duration",
            "10",
            "--heartbeat",
            "1",
            "--events-per-min",
            "120",
            "--connect-rate",
            "200",
            "--storm",
            // Three processes of 20: the sharding and the merged line are exercised.
            "--per-process",
            "20",
        ])
        .output()
        .unwrap();
    let _ = console.kill();
    let _ = console.wait();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let line = stdout.lines().last().unwrap();
    let report: Value = serde_json::from_str(line).unwrap();
    assert_eq!(report["connected"], 60, "{line}");
    assert_eq!(report["processes"], 3, "{line}");
    let sent = report["events_sent"].as_u64().unwrap();
    assert!(sent > 60 * 5, "{line}");
    assert_eq!(
        report["events_acked"].as_u64(),
        Some(sent),
        "nothing lost: {line}"
    );
    assert!(report["ack_p99_ms"].as_f64().unwrap() > 0.0, "{line}");
    assert!(report["storm_secs"].as_f64().is_some(), "{line}");
    assert!(
        report.get("histogram").is_none(),
        "the merged line is the documented one"
    );
}
