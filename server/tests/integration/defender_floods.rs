//! A protected task holding one family's token, turned against the console, written as the
//! attacker runs it: tasks invented by the hundred with heavy events (the family's caps hold),
//! hundreds of full batches at once (another family's hello and a person's requests are not held
//! up behind them), and a thousand sockets each stalled halfway through a quarter-megabyte frame
//! (memory holds at the token's pool, not 256 KiB a socket).

use crate::common::{Api, Console};
use crate::defender_channel::{next, open, send};
use crate::lifecycle::{fresh_database, Served};
use palisade_console::defenders::events::EventsKept;
use palisade_console::defenders::presence::TaskCaps;
use palisade_console::defenders::tokens;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A hello for `family` naming task `n`, with `containers` containers.
fn invented(family: &str, n: usize, containers: usize) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|c| json!({"name": format!("c{c}"), "image": format!("registry.example/app-{c}:1"), "docker_id": format!("{c:064}")}))
        .collect();
    json!({"type": "hello", "protocol": 1, "version": "0.1.0", "instance": format!("i-{n}"), "mode": "availability",
           "task": {"task_arn": format!("arn:aws:ecs:us-east-1:1:task/prod/{family}-{n}"), "cluster": "prod",
                    "family": family, "revision": "2", "availability_zone": "us-east-1a", "launch_type": "FARGATE",
                    "containers": containers}})
}

/// `count` events from `first`, each with a command line of `line` characters.
fn heavy_events(first: u64, count: u64, line: usize) -> Value {
    let events: Vec<Value> = (first..first + count)
        .map(|seq| json!({"seq": seq, "at_ms": 1_700_000_000_000i64 + seq as i64, "event": "process_started",
                          "pid": seq, "ppid": 1, "uid": 0, "executable": "/bin/sh",
                          "command_line": "x".repeat(line)}))
        .collect();
    json!({"type": "events", "events": events})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_token_inventing_tasks_stays_within_its_familys_caps() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.defenders.task_caps = TaskCaps {
            per_family: 20,
            per_token: 20,
        };
        config.defenders.family_event_bytes = 2 << 20;
        config.defenders.events_kept = EventsKept {
            count: 2000,
            bytes: 1 << 20,
        };
    })
    .await;
    let stolen = tokens::create(&console.db, "web", "").await.unwrap().token;
    let billing = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let (refused, billing_id) = tokio::task::spawn_blocking(move || {
        // Another family's real defender, with its events.
        let mut real = open(&base, &billing).unwrap();
        send(&mut real, crate::defender_channel::hello("billing"));
        let billing_id = next(&mut real).unwrap()["defender_id"].as_i64().unwrap();
        send(&mut real, heavy_events(1, 10, 100));
        assert_eq!(next(&mut real).unwrap()["type"], "ack");
        // The attacker: 60 invented tasks, 64 containers each, ~200 KiB of events each; the
        // first 10 stay connected, the others leave after reporting.
        let mut kept = Vec::new();
        let mut refused = 0;
        for n in 0..60 {
            let mut socket = open(&base, &stolen).unwrap();
            send(&mut socket, invented("web", n, 64));
            let answer = next(&mut socket).unwrap();
            if answer["type"] != "welcome" {
                refused += 1;
                continue;
            }
            for batch in 0..2 {
                send(&mut socket, heavy_events(1 + batch * 50, 50, 2000));
                let _ = next(&mut socket);
            }
            if n < 10 {
                kept.push(socket);
            } else {
                let _ = socket.close(None);
                let _ = next(&mut socket);
            }
        }
        drop(real);
        (refused, billing_id)
    })
    .await
    .unwrap();
    eprintln!("hellos refused: {refused}");
    let (rows, bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(event_bytes), 0) FROM defenders WHERE family = 'web'",
    )
    .fetch_one(&console.db)
    .await
    .unwrap();
    let stored: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(length(CAST(detail AS BLOB))), 0) FROM defender_events JOIN defenders ON defenders.id = defender_id WHERE family = 'web'",
    )
    .fetch_one(&console.db)
    .await
    .unwrap();
    assert!(rows <= 20, "the family lists {rows} tasks");
    assert_eq!(stored, bytes, "the rows' byte counts are what is stored");
    // Within the bound plus one batch (checked after each batch is stored).
    assert!(
        stored <= (2 << 20) + (110 << 10),
        "the family keeps {stored} bytes of events"
    );
    // The other family is untouched.
    let billing_events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM defender_events WHERE defender_id = ?")
            .bind(billing_id)
            .fetch_one(&console.db)
            .await
            .unwrap();
    assert_eq!(billing_events, 10);
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_familys_flood_holds_up_neither_another_familys_hello_nor_a_person() {
    const FLOOD: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.defenders.events_kept = EventsKept {
            count: 1_000_000,
            bytes: 1 << 40,
        };
        config.defenders.family_event_bytes = 1 << 40;
    })
    .await;
    let flood = tokens::create(&console.db, "flood", "")
        .await
        .unwrap()
        .token;
    let billing = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    // Each flooding socket says hello, then all send a full batch (~247 KB) at once.
    let ready = std::sync::Arc::new(std::sync::Barrier::new(FLOOD + 1));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let mut threads = Vec::new();
    for n in 0..FLOOD {
        let (base, flood, ready, acked) =
            (base.clone(), flood.clone(), ready.clone(), acked.clone());
        threads.push(std::thread::spawn(move || {
            let mut socket = open(&base, &flood).unwrap();
            send(&mut socket, invented("flood", n, 1));
            assert_eq!(next(&mut socket).unwrap()["type"], "welcome");
            ready.wait();
            send(&mut socket, heavy_events(1, 200, 1050));
            let answer = next(&mut socket).unwrap();
            assert_eq!(answer["type"], "ack", "{answer}");
            acked.lock().unwrap().push(Instant::now());
        }));
    }
    let barrier = ready.clone();
    let started = tokio::task::spawn_blocking(move || {
        barrier.wait();
        Instant::now()
    })
    .await
    .unwrap();
    // Meanwhile: another family's defender says hello, a pipeline asks, a person signs in.
    let hello_base = base.clone();
    let welcomed = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(50));
        let mut socket = open(&hello_base, &billing).unwrap();
        send(&mut socket, crate::defender_channel::hello("billing"));
        let answer = next(&mut socket).unwrap();
        (answer, Instant::now())
    });
    let api = Api::new(&console);
    let (status, body) = api
        .send(reqwest::Method::GET, "/defenders?limit=5", Value::Null)
        .await;
    assert_eq!(status, 200, "a pipeline's request during the flood: {body}");
    let signed_in = reqwest::Client::new()
        .post(format!("{}/api/v1/session", console.base))
        .json(&json!({"username": "nobody", "password": "guess guess guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_in.status(),
        401,
        "a sign-in during the flood is answered, not failed"
    );
    let (welcome, welcomed_at) = welcomed.await.unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    for thread in threads {
        thread.join().unwrap();
    }
    // The hello went ahead of the flood's backlog: most batches were acknowledged after it.
    let after = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|at| **at > welcomed_at)
        .count();
    eprintln!(
        "welcome after {:?}; {after} of {FLOOD} batches acknowledged after it",
        welcomed_at - started
    );
    assert!(
        after >= FLOOD / 2,
        "only {after} of {FLOOD} flood batches were acknowledged after the other family's welcome"
    );
    console.stop().await;
}

/// A masked client frame header announcing a text payload of `length` bytes.
fn frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}

/// A raw WebSocket to the defenders' listener that has said hello and been welcomed.
async fn raw_defender(address: &str, token: &str, n: usize) -> Option<tokio::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!(
        "GET /api/v1/defenders/connect HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.ok()?;
        seen.push(byte[0]);
    }
    // With an all-zero mask, the payload goes as is.
    let hello = invented("stall", n, 1).to_string();
    stream
        .write_all(&frame_header(hello.len() as u64))
        .await
        .ok()?;
    stream.write_all(hello.as_bytes()).await.ok()?;
    let mut welcome = [0u8; 64];
    let _ = stream.read(&mut welcome).await.ok()?;
    Some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_quarter_megabyte_frames_hold_the_tokens_pool_not_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _, _) = fresh_database(dir.path());
    let served = Served::start(&database, None);
    let token = {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["token", "create", "--family", "stall"])
            .env(
                "PALISADE_DATABASE_URL",
                format!("sqlite://{}", database.display()),
            )
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    };
    let address = served.defenders.trim_start_matches("ws://").to_owned();
    let mut sockets = Vec::new();
    for n in 0..1000 {
        if let Some(socket) = raw_defender(&address, &token, n).await {
            sockets.push(socket);
        }
    }
    assert!(sockets.len() >= 990, "{} welcomed", sockets.len());
    let before = crate::common::peak_memory(served.child.id());
    // Each sends all but the last byte of a 253 KiB message, as far as the console reads it.
    let stalls = sockets.into_iter().map(|mut socket| async move {
        let size = 253 * 1024;
        let _ = socket.write_all(&frame_header(size as u64)).await;
        let payload = vec![b'x'; size - 1];
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.write_all(&payload)).await;
        socket
    });
    let sockets = futures::future::join_all(stalls).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = crate::common::peak_memory(served.child.id());
    let grown = after.saturating_sub(before);
    eprintln!("the console grew {} MiB", grown >> 20);
    assert!(
        grown < 100 << 20,
        "1,000 stalled frames took {} MiB (256 KiB each would be 250)",
        grown >> 20
    );
    drop(sockets);
    served.signal("-TERM");
    served.wait(Duration::from_secs(20));
}
