//! What stopping the console does, on the real `palisade serve` process: SIGTERM lets requests
//! under way finish and tells every defender with a close frame (1001, going away); SIGKILL in the
//! middle of a burst of generations, registrations and defender events loses nothing that was
//! acknowledged (every generation answered 200, every registration answered 201, every event
//! whose `ack` the defender got is in the database after a restart).

use crate::common::hostile::{Answer, Hostile};
use crate::common::{aws_env, client_with, free_port, Api, Moto};
use crate::defender_channel::{hello, next, open, send, Socket};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// `palisade` with the console's database, for the commands run before it starts.
fn palisade(database: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env(
            "PALISADE_DATABASE_URL",
            format!("sqlite://{}", database.display()),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "palisade {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A database in `dir` with an admin pipeline token and a defender token of family `billing`,
/// made by the CLI before the console starts: (its path, the admin token, the defender token).
pub(crate) fn fresh_database(dir: &Path) -> (PathBuf, String, String) {
    let database = dir.join("palisade.db");
    let admin = palisade(
        &database,
        &["api-token", "create", "--role", "admin", "--label", "t"],
    );
    let token = palisade(&database, &["token", "create", "--family", "billing"]);
    (database, admin, token)
}

/// `palisade serve` as its own process on free loopback ports.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) defenders: String,
}

impl Served {
    pub(crate) fn start(database: &Path, moto: Option<&str>) -> Served {
        Served::start_with(database, moto, &[])
    }

    /// The console with `environment` added to its own.
    pub(crate) fn start_with(
        database: &Path,
        moto: Option<&str>,
        environment: &[(&str, &str)],
    ) -> Served {
        Served::start_logging(database, moto, environment, Stdio::null())
    }

    /// The console with `environment` added to its own, its log (stderr) going to `log`.
    pub(crate) fn start_logging(
        database: &Path,
        moto: Option<&str>,
        environment: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Served {
        let (people, defenders) = (free_port(), free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
        command
            .arg("serve")
            .env("PALISADE_ADDR", format!("127.0.0.1:{people}"))
            .env("PALISADE_DEFENDER_ADDR", format!("127.0.0.1:{defenders}"))
            .env(
                "PALISADE_DATABASE_URL",
                format!("sqlite://{}", database.display()),
            )
            .env("PALISADE_ADMIN_PASSWORD", "a long enough password")
            .env("PALISADE_DEFENDER_EVENTS_KEPT", "1000000")
            .env("PALISADE_DEFENDER_EVENT_BYTES_KEPT", "1000000000")
            .env("RUST_LOG", "warn")
            .envs(environment.iter().copied())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(moto) = moto {
            aws_env(&mut command, moto);
            command.env("AWS_ENDPOINT_URL_ECS", moto);
        }
        let child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", people)).is_err()
            || TcpStream::connect(("127.0.0.1", defenders)).is_err()
        {
            assert!(Instant::now() < deadline, "palisade serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served {
            child,
            base: format!("http://127.0.0.1:{people}"),
            defenders: format!("ws://127.0.0.1:{defenders}"),
        }
    }

    pub(crate) fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to end; its exit status.
    pub(crate) fn wait(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "palisade serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A defender's socket after `hello` and the console's `welcome` (the channel tests' client).
fn defender(served: &Served, token: &str) -> Socket {
    let mut socket = open(&served.defenders, token).unwrap();
    send(&mut socket, hello("billing"));
    let welcome = next(&mut socket).expect("a welcome");
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    socket
}

const TASK: &str = r#"{"family":"billing","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
"containerDefinitions":[{"name":"api","image":"billing:1","entryPoint":["/app/api"]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_finish_and_tells_defenders_it_is_going_away() {
    let dir = tempfile::tempdir().unwrap();
    let (database, admin, token) = fresh_database(dir.path());
    let served = Served::start(&database, None);

    // A defender, listening for how its socket ends.
    let mut socket = defender(&served, &token);
    let closed = std::thread::spawn(move || loop {
        match socket.read() {
            Ok(Message::Close(frame)) => return frame.map(|frame| frame.code),
            Ok(_) => {}
            Err(_) => return None,
        }
    });

    // A request under way: Generate waits on a registry that takes two seconds to answer.
    let slow = Hostile::start(|_| {
        std::thread::sleep(Duration::from_secs(2));
        Answer::new(404)
    });
    let request = client_with(&admin)
        .post(format!("{}/api/v1/protect", served.base))
        .json(&json!({"input": {"family": "slow", "containerDefinitions": [{"name": "web", "image": format!("{}/web:1", slow.host), "memory": 128}]},
                      "options": {"console_url": "https://c", "token_secret": "arn:aws:ssm:us-east-1:1:parameter/t"}}))
        .send();
    let under_way = tokio::spawn(request);
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.seen().is_empty() {
        assert!(Instant::now() < deadline, "the lookup started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.signal("-TERM");

    // The request finishes with its real answer, not a cut connection.
    let answer = under_way
        .await
        .unwrap()
        .expect("the request under way is answered");
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    assert!(body.to_string().contains("not found"), "{body}");
    // The defender was told, and may reconnect to the next console.
    assert_eq!(closed.join().unwrap(), Some(CloseCode::Away));
    let status = tokio::task::spawn_blocking(move || served.wait(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

/// What the burst got acknowledged.
#[derive(Default)]
struct Acknowledged {
    generations: Mutex<Vec<i64>>,
    registrations: Mutex<Vec<i64>>,
    /// The highest `ack` the defender received.
    events_up_to: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_nothing_that_was_acknowledged() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let (database, admin, token) = fresh_database(dir.path());
    let served = Served::start(&database, Some(&moto.url));
    let acknowledged = Arc::new(Acknowledged::default());
    let stop = Arc::new(AtomicBool::new(false));

    // Defender events, 50 per message, as fast as the console acknowledges them.
    let mut socket = defender(&served, &token);
    let (acked, stopping) = (acknowledged.clone(), stop.clone());
    let events = std::thread::spawn(move || {
        let mut seq = 0u64;
        while !stopping.load(Ordering::Relaxed) {
            let batch: Vec<Value> = (0..50)
                .map(|_| {
                    seq += 1;
                    json!({"seq": seq, "at_ms": 1_700_000_000_000i64 + seq as i64, "event": "process_started",
                           "pid": seq, "ppid": 1, "uid": 0, "executable": "/bin/app", "command_line": "app --serve"})
                })
                .collect();
            let message = json!({"type": "events", "events": batch});
            if socket.send(Message::text(message.to_string())).is_err() {
                return;
            }
            loop {
                match socket.read() {
                    Ok(Message::Text(text)) => {
                        let answer: Value = serde_json::from_str(text.as_str()).unwrap();
                        if answer["type"] == "ack" {
                            acked
                                .events_up_to
                                .fetch_max(answer["seq"].as_u64().unwrap(), Ordering::SeqCst);
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            // Under the console's message rate (50 a second after a burst of 200).
            std::thread::sleep(Duration::from_millis(25));
        }
    });

    // Generations, each registered once it is answered.
    let http = client_with(&admin);
    let base = served.base.clone();
    let (acked, stopping) = (acknowledged.clone(), stop.clone());
    let pipeline = tokio::spawn(async move {
        let mut n = 0;
        while !stopping.load(Ordering::Relaxed) {
            n += 1;
            let input = TASK.replace("billing:1", &format!("billing:{n}"));
            let Ok(answer) = http
                .post(format!("{base}/api/v1/protect"))
                .json(&json!({"input": input, "options": {"console_url": "https://c", "token_secret": "arn:aws:ssm:us-east-1:1:parameter/t"}}))
                .send()
                .await
            else {
                return;
            };
            if answer.status() != 200 {
                continue;
            }
            let Ok(body) = answer.json::<Value>().await else {
                return;
            };
            let id = body["generation_id"].as_i64().unwrap();
            acked.generations.lock().unwrap().push(id);
            let Ok(registered) = http
                .post(format!("{base}/api/v1/registrations"))
                .json(&json!({"generation_id": id}))
                .send()
                .await
            else {
                return;
            };
            if registered.status() == 201 {
                acked.registrations.lock().unwrap().push(id);
            }
        }
    });

    // Let the burst run, then pull the plug.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.registrations.lock().unwrap().len() < 5
        || acknowledged.events_up_to.load(Ordering::SeqCst) < 1000
    {
        assert!(
            Instant::now() < deadline,
            "the burst got going: {} generations, {} registrations, events up to {}",
            acknowledged.generations.lock().unwrap().len(),
            acknowledged.registrations.lock().unwrap().len(),
            acknowledged.events_up_to.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served.signal("-KILL");
    stop.store(true, Ordering::Relaxed);
    let _ = pipeline.await;
    let _ = tokio::task::spawn_blocking(move || events.join()).await;
    let _ = tokio::task::spawn_blocking(move || served.wait(Duration::from_secs(10))).await;

    // After a restart: everything acknowledged is there.
    let served = Served::start(&database, Some(&moto.url));
    let api = Api::at(&served.base, &admin);
    let generations = acknowledged.generations.lock().unwrap().clone();
    for id in &generations {
        let status = api
            .status(reqwest::Method::GET, &format!("/generations/{id}"))
            .await;
        assert_eq!(status, 200, "generation {id} was answered 200");
    }
    let listed = api.get("/registrations").await;
    let registrations = acknowledged.registrations.lock().unwrap().clone();
    for id in &registrations {
        let found = listed["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["generation_id"] == *id && row["status"] == "registered");
        assert!(found, "registration of generation {id} was answered 201");
    }
    let up_to = acknowledged.events_up_to.load(Ordering::SeqCst);
    let stored = stored_events(&database, up_to).await;
    assert_eq!(stored, up_to, "every acknowledged event is stored");
    eprintln!(
        "acknowledged before SIGKILL: {} generations, {} registrations, {up_to} events",
        generations.len(),
        registrations.len()
    );
    served.signal("-TERM");
    tokio::task::spawn_blocking(move || served.wait(Duration::from_secs(20)))
        .await
        .unwrap();
}

/// How many of the events numbered 1..=`up_to` the database holds.
async fn stored_events(database: &Path, up_to: u64) -> u64 {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT seq) FROM defender_events WHERE seq <= ?")
            .bind(up_to as i64)
            .fetch_one(&db)
            .await
            .unwrap();
    db.close().await;
    count as u64
}
