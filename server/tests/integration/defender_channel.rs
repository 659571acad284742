//! The defender channel seen from a raw WebSocket client: what the console refuses (no hello
//! first, malformed or oversized messages, too many events, a newer protocol), what it tolerates
//! (unknown message types from a newer defender), and that events are stored once and
//! acknowledged. (The sweeper's SQL is tested in `palisade-console`.)

use crate::common::Console;
use palisade_console::defenders::tokens;
use serde_json::{json, Value};
use std::net::TcpStream;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub(crate) type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

pub(crate) fn open(base: &str, token: &str) -> Result<Socket, tungstenite::Error> {
    let url = format!(
        "{}/api/v1/defenders/connect",
        base.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tungstenite::connect(request).map(|(socket, _)| socket)
}

pub(crate) fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).unwrap();
}

/// The next text message as JSON but a policy (sent after `welcome` and whenever the family's
/// policy changes: the runtime-defense tests read those with [`next_any`]), or `None` once the
/// console closed the socket.
pub(crate) fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = next_any(socket)?;
        if message["type"] != "policy" {
            return Some(message);
        }
    }
}

/// The next text message as JSON, whatever it is, or `None` once the console closed the socket.
pub(crate) fn next_any(socket: &mut Socket) -> Option<Value> {
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub(crate) fn hello(family: &str) -> Value {
    json!({"type": "hello", "protocol": 1, "version": "0.1.0", "instance": "i-1", "mode": "availability",
           "task": {"task_arn": format!("arn:aws:ecs:us-east-1:1:task/prod/{family}-1"), "cluster": "prod",
                    "family": family, "revision": "2", "availability_zone": "us-east-1a", "launch_type": "FARGATE",
                    "containers": [{"name": "api", "image": "api:1", "docker_id": "x"}]}})
}

fn started(seq: u64, pid: u32) -> Value {
    json!({"seq": seq, "at_ms": 1_700_000_000_000i64 + seq as i64, "event": "process_started",
           "pid": pid, "ppid": 1, "uid": 0, "executable": "/bin/app", "command_line": "app --serve"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_refuses_what_breaks_the_protocol_and_tolerates_what_is_newer() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();

    let outcome = tokio::task::spawn_blocking(move || {
        // An unknown token never gets a socket.
        assert!(matches!(open(&base, "pal_nope"), Err(tungstenite::Error::Http(response)) if response.status() == 401));

        // The first message must be hello.
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, json!({"type": "heartbeat", "process_count": 1}));
        let refused = next(&mut socket).unwrap();
        assert_eq!(refused["type"], "refused");
        assert!(refused["reason"].as_str().unwrap().contains("first message must be hello"));
        assert!(next(&mut socket).is_none(), "closed after refusing");

        // A protocol from the future is refused with the versions this console speaks.
        let mut socket = open(&base, &token).unwrap();
        let mut newer = hello("billing");
        newer["protocol"] = json!(99);
        send(&mut socket, newer);
        assert!(next(&mut socket).unwrap()["reason"].as_str().unwrap().contains("protocol 99"));

        // Welcome; events stored once (a resend after a lost ack is ignored); unknown message
        // and event types from a newer defender are skipped, not fatal.
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hello("billing"));
        let welcome = next(&mut socket).unwrap();
        assert_eq!((welcome["type"].as_str(), welcome["last_seq"].as_u64()), (Some("welcome"), Some(0)));
        let id = welcome["defender_id"].as_i64().unwrap();
        send(&mut socket, json!({"type": "events", "events": [started(1, 10), started(2, 11)]}));
        assert_eq!(next(&mut socket).unwrap(), json!({"type": "ack", "seq": 2}));
        send(&mut socket, json!({"type": "events", "events": [started(2, 11), started(3, 12),
            {"seq": 4, "at_ms": 1, "event": "file_opened", "path": "/etc/shadow"}]}));
        assert_eq!(next(&mut socket).unwrap(), json!({"type": "ack", "seq": 4}));
        send(&mut socket, json!({"type": "metrics", "cpu": 0.1}));
        send(&mut socket, json!({"type": "heartbeat", "process_count": 3, "dropped_events": 0, "cpu_percent": 0.2}));
        assert_eq!(next(&mut socket).unwrap(), json!({"type": "ack", "seq": 4}), "heartbeats are answered");

        // A malformed message ends the connection with the reason.
        socket.send(Message::text("{\"type\": \"events\", \"events\": 7}")).unwrap();
        let refused = next(&mut socket).unwrap();
        assert!(refused["reason"].as_str().unwrap().starts_with("malformed message"), "{refused}");

        // Reconnecting, the same instance learns what the console already has.
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hello("billing"));
        assert_eq!(next(&mut socket).unwrap()["last_seq"], 4);
        // Too many events in one message.
        let many: Vec<Value> = (5..=205).map(|seq| started(seq, 100 + seq as u32)).collect();
        send(&mut socket, json!({"type": "events", "events": many}));
        assert!(next(&mut socket).unwrap()["reason"].as_str().unwrap().contains("at most 200 events"));

        // An oversized message closes the socket.
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hello("billing"));
        next(&mut socket).unwrap();
        let huge = "x".repeat(palisade_protocol::MAX_MESSAGE_BYTES + 1);
        let _ = socket.send(Message::text(json!({"type": "heartbeat", "pad": huge}).to_string()));
        assert!(next(&mut socket).is_none());
        id
    })
    .await
    .unwrap();

    let detail: Value = console
        .client()
        .get(format!("{}/api/v1/defenders/{outcome}", console.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = detail["events"].as_array().unwrap();
    let seqs: Vec<i64> = events
        .iter()
        .map(|event| event["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![4, 3, 2, 1],
        "each event once, newest first, the unknown kind kept as such"
    );
    assert_eq!(
        events[1]["summary"],
        "started app --serve as uid 0, parent 1"
    );
    assert_eq!(detail["defender"]["status"], "disconnected");
    console.stop().await;
}

/// A hello that names `task_arn` for `family`.
fn hello_for(family: &str, task_arn: &str) -> Value {
    let mut hello = hello(family);
    hello["task"]["task_arn"] = json!(task_arn);
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_familys_token_can_neither_take_a_task_over_nor_lock_it_out_and_a_revoked_one_is_cut_off(
) {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let billing = tokens::create(&console.db, "billing", "").await.unwrap();
    let intruder = tokens::create(&console.db, "intruder", "").await.unwrap();
    let base = console.defender_base.clone();
    let (billing_token, intruder_token) = (billing.token.clone(), intruder.token.clone());

    let (mut real, real_id, forged_id) = tokio::task::spawn_blocking(move || {
        // The intruder's token names billing's task before billing's defender connects...
        let mut forged = open(&base, &intruder_token).unwrap();
        send(
            &mut forged,
            hello_for("intruder", "arn:aws:ecs:us-east-1:1:task/prod/billing-1"),
        );
        let forged_welcome = next(&mut forged).unwrap();
        // ...and the real defender is welcomed all the same (in security mode its workload
        // would otherwise never start), on a row of its own family.
        let mut real = open(&base, &billing_token).unwrap();
        send(&mut real, hello("billing"));
        let welcome = next(&mut real).unwrap();
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        // The intruder naming it again touches only its own row: billing's socket stays open.
        let mut again = open(&base, &intruder_token).unwrap();
        send(
            &mut again,
            hello_for("intruder", "arn:aws:ecs:us-east-1:1:task/prod/billing-1"),
        );
        assert_eq!(next(&mut again).unwrap()["type"], "welcome");
        send(&mut real, json!({"type": "heartbeat", "process_count": 1}));
        assert_eq!(
            next(&mut real).unwrap()["type"],
            "ack",
            "the real defender is still connected"
        );
        (
            real,
            welcome["defender_id"].as_i64().unwrap(),
            forged_welcome["defender_id"].as_i64().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_ne!(real_id, forged_id);
    let family_of = |id: i64| {
        let db = console.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT family FROM defenders WHERE id = ?")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(family_of(real_id).await, "billing");
    assert_eq!(family_of(forged_id).await, "intruder");

    // Revoked (as `palisade token revoke` does, straight in the database): the open socket is
    // closed by the console, with the reason, without the defender sending anything.
    tokens::revoke(&console.db, billing.id).await.unwrap();
    let revoked_at = std::time::Instant::now();
    let (closed, waited) = tokio::task::spawn_blocking(move || {
        let closed = next(&mut real);
        (closed, revoked_at.elapsed())
    })
    .await
    .unwrap();
    let closed = closed.expect("a refusal before the close");
    assert_eq!(closed["type"], "refused");
    assert!(
        closed["reason"].as_str().unwrap().contains("revoked"),
        "{closed}"
    );
    eprintln!("a revoked token's socket closed after {waited:?}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_are_cut_floods_are_refused_and_a_token_holds_a_bounded_number_of_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.defenders.connections_per_token = 3;
    })
    .await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let id = tokio::task::spawn_blocking(move || {
        // A command line of 100,000 characters is stored cut to the protocol's bound.
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hello("billing"));
        let id = next(&mut socket).unwrap()["defender_id"].as_i64().unwrap();
        let mut long = started(1, 10);
        long["command_line"] = json!("a".repeat(100_000));
        send(&mut socket, json!({"type": "events", "events": [long]}));
        assert_eq!(next(&mut socket).unwrap()["seq"], 1);

        // Two more sockets fit; the fourth is refused before the upgrade.
        let second = open(&base, &token).unwrap();
        let third = open(&base, &token).unwrap();
        assert!(matches!(open(&base, &token), Err(tungstenite::Error::Http(response)) if response.status() == 429));
        drop((second, third));

        // A flood of messages ends the connection.
        let flood = json!({"type": "metrics"}).to_string();
        for _ in 0..1000 {
            if socket.send(Message::text(flood.clone())).is_err() {
                break;
            }
        }
        let refused = next(&mut socket).expect("a refusal");
        assert!(refused["reason"].as_str().unwrap().contains("messages a second"), "{refused}");
        id
    })
    .await
    .unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT detail FROM defender_events WHERE defender_id = ?")
            .bind(id)
            .fetch_one(&console.db)
            .await
            .unwrap();
    let event: Value = serde_json::from_str(&stored).unwrap();
    let command_line = event["command_line"].as_str().unwrap();
    assert_eq!(
        command_line.chars().count(),
        palisade_protocol::MAX_COMMAND_LINE_CHARS + 1,
        "cut, with the mark of the cut"
    );
    assert!(command_line.ends_with('…'));
    console.stop().await;
}

/// A defender of `family` with its own task, as the real one behaves: resumes after what the
/// console has (`welcome.last_seq`), waits for each `ack`, and on a cut socket reconnects and sends
/// again what was not acknowledged. Answers every `ack` it got.
fn busy_defender(
    base: &str,
    token: &str,
    task: usize,
    events: u64,
    db: &sqlx::SqlitePool,
) -> Vec<u64> {
    let mut hello = hello("load");
    hello["task"]["task_arn"] = json!(format!("arn:aws:ecs:us-east-1:1:task/prod/load-{task}"));
    hello["instance"] = json!(format!("i-{task}"));
    let mut acks = Vec::new();
    let mut attempts = 0;
    'connect: while acks.last().copied().unwrap_or(0) < events {
        attempts += 1;
        assert!(attempts < 20, "task {task} kept losing its socket");
        let Ok(mut socket) = open(base, token) else {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        };
        send(&mut socket, hello.clone());
        let Some(welcome) = next(&mut socket) else {
            continue;
        };
        let mut sent = welcome["last_seq"].as_u64().unwrap();
        while sent < events {
            let batch: Vec<Value> = (sent + 1..=(sent + 50).min(events))
                .map(|seq| started(seq, seq as u32))
                .collect();
            send(&mut socket, json!({"type": "events", "events": batch}));
            let Some(answer) = next(&mut socket) else {
                continue 'connect;
            };
            if answer["type"] != "ack" {
                continue 'connect;
            }
            let acked = answer["seq"].as_u64().unwrap();
            // An ack covers only what is stored: every event up to it is in the database now.
            let stored = count_stored(db, task, acked);
            assert_eq!(
                stored, acked,
                "task {task}: ack {acked} but {stored} stored"
            );
            acks.push(acked);
            sent = acked;
        }
    }
    acks
}

/// How many distinct events up to `seq` the database holds for task `task` (from a blocking
/// thread of the test's runtime).
fn count_stored(db: &sqlx::SqlitePool, task: usize, seq: u64) -> u64 {
    let query = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(DISTINCT e.seq) FROM defender_events e JOIN defenders d ON d.id = e.defender_id
         WHERE d.task_arn = ? AND e.seq <= ?",
    )
    .bind(format!("arn:aws:ecs:us-east-1:1:task/prod/load-{task}"))
    .bind(seq as i64)
    .fetch_one(db);
    tokio::runtime::Handle::current().block_on(query).unwrap() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_defenders_at_once_lose_no_event_and_store_each_once() {
    use palisade_console::defenders::events::EventsKept;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("palisade.db");
    let console = Console::start_with(&database, |config| {
        config.defenders.events_kept = EventsKept {
            count: 1_000_000,
            bytes: 1 << 40,
        };
    })
    .await;
    let token = tokens::create(&console.db, "load", "").await.unwrap().token;
    const DEFENDERS: usize = 24;
    const EVENTS: u64 = 400;
    // Other writers at the same time: the generations a pipeline makes.
    let api = crate::common::Api::new(&console);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = stop.clone();
    let writer = tokio::spawn(async move {
        let task = json!({"family": "load", "containerDefinitions": [{"name": "api", "image": "api:1", "entryPoint": ["/api"], "memory": 128}]});
        while !writing.load(std::sync::atomic::Ordering::Relaxed) {
            let (status, _) = api
                .send(
                    reqwest::Method::POST,
                    "/protect",
                    json!({"input": task, "options": {"token_secret": "arn:aws:ssm:us-east-1:1:parameter/t"}}),
                )
                .await;
            assert_eq!(status, 200);
        }
    });
    let defenders: Vec<_> = (0..DEFENDERS)
        .map(|task| {
            let (base, token, db) = (
                console.defender_base.clone(),
                token.clone(),
                console.db.clone(),
            );
            tokio::task::spawn_blocking(move || busy_defender(&base, &token, task, EVENTS, &db))
        })
        .collect();
    for defender in defenders {
        let acks = defender.await.unwrap();
        assert_eq!(acks.last(), Some(&EVENTS));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    // Exactly once: every event of every task, and nothing twice.
    let (rows, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT defender_id || '/' || seq) FROM defender_events",
    )
    .fetch_one(&console.db)
    .await
    .unwrap();
    assert_eq!(rows, (DEFENDERS as i64) * EVENTS as i64);
    assert_eq!(distinct, rows);
    console.stop().await;
}

/// The next server-sent event's data from a `text/event-stream` answer, or `None` once the
/// stream ended (comments, the keep-alives, are skipped).
async fn next_pushed(stream: &mut reqwest::Response, buffer: &mut String) -> Option<String> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data:")) {
                return Some(data.trim().to_owned());
            }
            continue;
        }
        let chunk = stream.chunk().await.ok()??;
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_dashboards_are_told_when_defenders_change_and_their_streams_end_with_the_console() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let viewer = console.token(palisade_console::auth::Role::Viewer).await;
    let mut stream = crate::common::client_with(&viewer)
        .get(format!("{}/api/v1/defenders/changes", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut buffer = String::new();
    // One message at once (a page that opens or reopens the stream asks again)...
    let first = tokio::time::timeout(
        Duration::from_secs(5),
        next_pushed(&mut stream, &mut buffer),
    )
    .await
    .expect("the first message comes at once")
    .expect("the stream is open");
    // ...then one when a defender connects.
    let token = tokens::create(&console.db, "billing", "").await.unwrap();
    let defender_base = console.defender_base.clone();
    let socket = tokio::task::spawn_blocking(move || {
        let mut socket = open(&defender_base, &token.token).unwrap();
        send(&mut socket, hello("billing"));
        assert_eq!(next(&mut socket).unwrap()["type"], "welcome");
        socket
    })
    .await
    .unwrap();
    let pushed = tokio::time::timeout(
        Duration::from_secs(10),
        next_pushed(&mut stream, &mut buffer),
    )
    .await
    .expect("a change is pushed within seconds")
    .expect("the stream is open");
    assert_ne!(pushed, first, "the counter moved");

    // The charts: the minute that just ended, sampled, shows the connected defender of its family.
    let minute = palisade_console::clock::now_ms() / 60_000 * 60_000 - 60_000;
    palisade_console::defenders::history::sample(&console.db, minute, 0)
        .await
        .unwrap();
    let history = crate::common::Api::with_token(&console, &viewer)
        .get("/defenders/history")
        .await;
    assert_eq!(history["families"][0]["family"], "billing");
    let connected = history["families"][0]["connected"].as_array().unwrap();
    assert_eq!(connected.len(), 288);
    assert_eq!(connected.last().unwrap(), 1);
    assert_eq!(history["bucket_ms"], 300_000);

    // Stopping the console ends the open stream (a graceful shutdown would otherwise wait on it).
    tokio::time::timeout(Duration::from_secs(15), console.stop())
        .await
        .expect("the console stops with a dashboard's stream open");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while next_pushed(&mut stream, &mut buffer).await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
    drop(socket);
}
