//! Runtime defense through a real console and real defender sockets: the policy a defender is
//! sent after `welcome` and again when its family's model goes out, alerts reported over the
//! channel grouped into incidents and handled over REST (acknowledge, resolve, "this is normal"),
//! a family's policy changed (a mode change needs an admin, a refused edit names its pointer),
//! relearning, and a defender gone silent (an incident) against one that closed with 1001 (none).

use crate::common::{Api, Console};
use crate::defender_channel::{hello, next, next_any, open, send, Socket};
use palisade_console::auth::Role;
use palisade_console::defenders::tokens;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

/// A defender of `family` for task `task`, welcomed, with the policy it was sent next.
fn welcomed(base: &str, token: &str, family: &str, task: &str) -> (Socket, Value) {
    let mut socket = open(base, token).unwrap();
    let mut said = hello(family);
    said["task"]["task_arn"] = json!(format!("arn:aws:ecs:us-east-1:1:task/prod/{task}"));
    said["instance"] = json!(format!("i-{task}"));
    send(&mut socket, said);
    let welcome = next_any(&mut socket).unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let policy = next_any(&mut socket).unwrap();
    assert_eq!(
        policy["type"], "policy",
        "the policy follows the welcome: {policy}"
    );
    (socket, policy)
}

fn started(seq: u64, pid: u32, ppid: u32, executable: &str) -> Value {
    json!({"seq": seq, "at_ms": 1_700_000_000_000i64 + seq as i64, "event": "process_started",
           "pid": pid, "ppid": ppid, "uid": 0, "executable": executable,
           "command_line": format!("{executable} --token=s3cr3t-value"), "container": "api"})
}

fn alert(seq: u64, pid: u32, executable: &str) -> Value {
    json!({"seq": seq, "at_ms": 1_700_000_000_000i64 + seq as i64, "event": "alert", "policy_revision": 2,
           "alerts": [{"rule": "not-in-model", "severity": "medium", "message": format!("{executable} never ran in api")}],
           "action": "allow",
           "process": {"pid": pid, "ppid": 10, "uid": 0, "executable": executable,
                       "command_line": format!("{executable} --token=s3cr3t-value"), "container": "api"}})
}

/// Sends `events` and waits for their ack.
fn report(socket: &mut Socket, events: Vec<Value>) {
    let last = events.last().unwrap()["seq"].as_u64().unwrap();
    send(socket, json!({"type": "events", "events": events}));
    assert_eq!(next(socket).unwrap(), json!({"type": "ack", "seq": last}));
}

/// Waits (10 s at most) until `done` holds for what `look` answers.
async fn eventually<F, Fut>(mut look: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = look().await;
        if done(&seen) || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defender_is_sent_its_policy_after_welcome_and_the_model_when_learning_ends() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let (mut socket, policy) = tokio::task::spawn_blocking(move || {
        let (mut socket, policy) = welcomed(&base, &token, "billing", "a");
        report(
            &mut socket,
            vec![started(1, 10, 1, "/app/api"), started(2, 11, 10, "/bin/sh")],
        );
        (socket, policy)
    })
    .await
    .unwrap();
    assert_eq!(policy["revision"], 1);
    assert_eq!(policy["policy"]["mode"], "alert");
    assert_eq!(policy["policy"]["model"], Value::Null, "learning: no model");

    // The window ends (an hour from now by default: moved here): the model goes out.
    let api = Api::new(&console);
    let learning = api.get("/families/billing/model").await;
    assert_eq!(learning["learning"]["state"], "learning");
    assert_eq!(learning["learning"]["window_minutes"], 60);
    sqlx::query("UPDATE family_models SET learning_ends_at = 1")
        .execute(&console.db)
        .await
        .unwrap();
    let pushed = tokio::task::spawn_blocking(move || {
        let pushed = next_any(&mut socket).unwrap();
        (socket, pushed)
    });
    let (_socket, pushed) = tokio::time::timeout(Duration::from_secs(15), pushed)
        .await
        .expect("the new policy within the activation check")
        .unwrap();
    assert_eq!(pushed["type"], "policy");
    assert_eq!(pushed["revision"], 2);
    let executables: Vec<&str> = pushed["policy"]["model"]["containers"]["api"]["executables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["executable"].as_str().unwrap())
        .collect();
    assert_eq!(executables, ["/app/api", "/bin/sh"]);
    let model = api.get("/families/billing/model").await;
    assert_eq!(
        (model["learning"]["state"].as_str(), model["tasks"].as_i64()),
        (Some("active"), Some(1))
    );
    // A task of the family's next task definition revision gets the same model: policies are
    // the family's.
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let newer = tokio::task::spawn_blocking(move || {
        let mut socket = open(&base, &token).unwrap();
        let mut said = hello("billing");
        said["task"]["task_arn"] = json!("arn:aws:ecs:us-east-1:1:task/prod/b");
        said["task"]["revision"] = json!("3");
        send(&mut socket, said);
        assert_eq!(next_any(&mut socket).unwrap()["type"], "welcome");
        next_any(&mut socket).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(newer["revision"], 2);
    assert_eq!(newer["policy"]["model"], pushed["policy"]["model"]);
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_become_an_incident_people_handle_over_rest_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let mut socket = tokio::task::spawn_blocking(move || {
        let (mut socket, _) = welcomed(&base, &token, "billing", "a");
        report(
            &mut socket,
            vec![
                started(1, 10, 1, "/app/api"),
                alert(3, 40, "/usr/bin/curl"),
                alert(4, 41, "/usr/bin/curl"),
            ],
        );
        socket
    })
    .await
    .unwrap();
    let operator = Api::with_token(&console, &console.token(Role::Operator).await);
    let viewer = Api::with_token(&console, &console.token(Role::Viewer).await);

    let list = viewer.get("/incidents?family=billing&state=open").await;
    assert_eq!(list["total"], 1, "{list}");
    let incident = &list["incidents"][0];
    assert_eq!(
        (incident["rule"].as_str(), incident["container"].as_str()),
        (Some("not-in-model"), Some("api"))
    );
    assert_eq!(incident["alert_count"], 2);
    assert_eq!(incident["rule_name"], "Program not in the model");
    assert_eq!(list["counts"]["open"], 1);
    let id = incident["id"].as_i64().unwrap();
    assert_eq!(viewer.get("/incidents?rule=crypto-miner").await["total"], 0);
    assert_eq!(
        viewer.status(Method::GET, "/incidents?severity=dire").await,
        400
    );

    // Its alerts with their process trees; a viewer sees no secret in a command line.
    let detail = viewer.get(&format!("/incidents/{id}")).await;
    let first = &detail["alerts"][0];
    assert_eq!(first["seq"], 3);
    let tree: Vec<(&str, i64)> = first["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (
                node["relation"].as_str().unwrap(),
                node["process"]["pid"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tree, [("ancestor", 10), ("alert", 40)]);
    assert!(!detail.to_string().contains("s3cr3t-value"), "{detail}");
    assert!(operator
        .get(&format!("/incidents/{id}"))
        .await
        .to_string()
        .contains("s3cr3t-value"));
    assert!(detail["explanation"].as_str().unwrap().ends_with('.'));

    // Viewers read; operators acknowledge and resolve, once each.
    let path = format!("/incidents/{id}/acknowledge");
    assert_eq!(viewer.send(Method::POST, &path, json!({})).await.0, 403);
    let (status, acked) = operator.send(Method::POST, &path, json!({})).await;
    assert_eq!(
        (status, acked["state"].as_str()),
        (200, Some("acknowledged"))
    );
    assert_eq!(acked["acknowledged_by"], "token 2 (operator)");
    let resolve = format!("/incidents/{id}/resolve");
    assert_eq!(
        operator.send(Method::POST, &resolve, json!({})).await.0,
        200
    );
    assert_eq!(
        operator.send(Method::POST, &resolve, json!({})).await.0,
        409
    );

    // "This is normal" from its alert: the process is in the model, and the defender is sent it.
    let alert_id = detail["alerts"][0]["id"].as_i64().unwrap();
    let (status, model) = operator
        .send(
            Method::POST,
            "/families/billing/model/executables",
            json!({"incident_id": id, "alert_id": alert_id}),
        )
        .await;
    assert_eq!(status, 200, "{model}");
    let api = &model["containers"][0];
    assert_eq!(api["name"], "api");
    assert!(api["executables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|record| record["executable"] == "/usr/bin/curl" && record["count"] == 0));
    let pushed = tokio::task::spawn_blocking(move || next_any(&mut socket).unwrap())
        .await
        .unwrap();
    assert_eq!(pushed["type"], "policy");
    assert_eq!(
        pushed["revision"], 2,
        "learning: the revision grows, no model yet"
    );

    let audit = Api::new(&console).get("/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..4],
        [
            "model-add",
            "incident-resolve",
            "incident-resolve",
            "incident-acknowledge"
        ]
    );
    console.stop().await;
}

#[tokio::test]
async fn a_familys_policy_is_changed_by_role_and_refused_by_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    tokens::create(&console.db, "billing", "").await.unwrap();
    let operator = Api::with_token(&console, &console.token(Role::Operator).await);
    let admin = Api::new(&console);

    assert_eq!(
        admin.status(Method::GET, "/families/nobody/policy").await,
        404
    );
    let (status, saved) = operator
        .send(
            Method::PUT,
            "/families/billing/policy",
            json!({"disabled_rules": ["network-tool"], "allow": [{"executable": "/usr/bin/curl", "container": "api"}],
                   "allowed_ports": [{"port": 9090, "protocol": "tcp"}], "learning_minutes": 120}),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["revision"], 2);
    assert_eq!(saved["learning"]["window_minutes"], 120);
    assert_eq!(saved["allow"][0]["container"], "api");

    let (status, refused) = operator
        .send(
            Method::PUT,
            "/families/billing/policy",
            json!({"mode": "prevent"}),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("admin role"),
        "{refused}"
    );
    let (status, bad) = admin
        .send(
            Method::PUT,
            "/families/billing/policy",
            json!({"deny": [{"executable": "/ok"}, {"executable": "relative/xmrig"}]}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["problems"][0]["pointer"], "/deny/1/executable", "{bad}");
    let (status, prevent) = admin
        .send(
            Method::PUT,
            "/families/billing/policy",
            json!({"mode": "prevent"}),
        )
        .await;
    assert_eq!((status, prevent["mode"].as_str()), (200, Some("prevent")));
    assert_eq!(
        prevent["disabled_rules"],
        json!(["network-tool"]),
        "the rest stays"
    );

    // Relearn and extend, by an operator.
    let (status, relearned) = operator
        .send(Method::POST, "/families/billing/model/relearn", json!({}))
        .await;
    assert_eq!(
        (status, relearned["learning"]["state"].as_str()),
        (200, Some("learning"))
    );
    let (status, extended) = operator
        .send(
            Method::POST,
            "/families/billing/model/extend",
            json!({"minutes": 0}),
        )
        .await;
    assert_eq!(status, 422, "{extended}");
    let rules = operator.get("/rules").await;
    let ids: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"crypto-miner") && ids.contains(&"defender-silent"),
        "{ids:?}"
    );
    assert_eq!(admin.get("/families/billing/policy").await["revision"], 4);
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defender_lost_without_a_word_raises_an_incident_and_one_that_said_goodbye_none() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.defenders.heartbeat = Duration::from_secs(1);
    })
    .await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    tokio::task::spawn_blocking(move || {
        // Its task stops: the defender closes with 1001.
        let (mut leaving, _) = welcomed(&base, &token, "billing", "stopping");
        leaving
            .close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "task stopping".into(),
            }))
            .unwrap();
        while next_any(&mut leaving).is_some() {}
        // Cut off: the socket is dropped without a close.
        let (cut, _) = welcomed(&base, &token, "billing", "cut");
        drop(cut);
    })
    .await
    .unwrap();
    let api = Api::new(&console);
    let found = eventually(
        || async { api.get("/incidents?rule=defender-silent").await },
        |list| list["total"] == 1,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let incident = &found["incidents"][0];
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["task_count"], 1);
    let summary = incident["summary"].as_str().unwrap();
    assert!(summary.contains("task cut"), "{summary}");
    assert!(summary.contains("reset"), "{summary}");
    assert!(summary.contains("ECS was not asked"), "{summary}");
    // Long enough for the goodbye to have been looked at too: still one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again = api.get("/incidents?rule=defender-silent").await;
    assert_eq!(again["incidents"][0]["alert_count"], 1, "{again}");
    console.stop().await;
}
