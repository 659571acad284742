//! Text from defenders is data (issue 21): a compromised task puts terminal escape sequences
//! (`ESC ] 0 ; … BEL` sets a terminal's title, `ESC [ 2K` erases a line, C1's one-byte CSI),
//! carriage returns, bidirectional overrides and newlines into every string of its hello and
//! events. None of it reaches an admin's terminal (`palisade defenders`, its `--json`), a CSV
//! cell, a page or the console's log as anything but visible escapes, and a newline never starts
//! a forged log line.

use crate::common::{client_with, Console};
use crate::defender_channel::{next, open, send};
use crate::lifecycle::{fresh_database, Served};
use palisade_console::defenders::tokens;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

/// A log line a newline in a task ARN would forge.
const FORGED: &str = "2026-12-07T17:00:00.000000Z  INFO palisade: sign-in ok actor=admin";

/// A hello whose every string drives a terminal or breaks a line.
fn hostile_hello(family: &str) -> Value {
    json!({"type": "hello", "protocol": 1, "version": "0.1.0\u{202e}", "instance": "i-1", "mode": "availability",
           "task": {"task_arn": format!("arn:aws:ecs:us-east-1:1:task/prod/x\u{1b}]0;owned\u{7}\n{FORGED}"),
                    "cluster": "prod\u{1b}[2K\r\t", "family": family, "revision": "2\u{9b}31m",
                    "availability_zone": "us-east-1a\t\u{7f}", "launch_type": "FARGATE\u{8}\u{8}",
                    "containers": [{"name": "api\u{1b}[31m", "image": "api:1\n", "docker_id": "x"}]}})
}

/// Characters that act on a terminal or break a line instead of showing (but the newlines and
/// tabs a table or a page is laid out with).
fn acts(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t'))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2028}' | '\u{2029}')
}

/// Every string in a JSON value.
fn strings(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => found.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, found)),
        Value::Object(fields) => fields.values().for_each(|item| strings(item, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defenders_control_characters_reach_terminals_csv_and_pages_only_as_visible_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("palisade.db");
    let console = Console::start(&database).await;
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let id = tokio::task::spawn_blocking(move || {
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hostile_hello("billing"));
        let id = next(&mut socket).unwrap()["defender_id"]
            .as_i64()
            .expect("welcomed");
        send(
            &mut socket,
            json!({"type": "events", "events": [{"seq": 1, "at_ms": 1_700_000_000_000i64, "event": "process_started",
                   "pid": 8, "ppid": 1, "uid": 0, "executable": "/bin/sh", "container": "api\u{1b}[2K",
                   "command_line": format!("sh -c 'printf \u{1b}]0;owned\u{7}'\n{FORGED}")}]}),
        );
        assert_eq!(next(&mut socket).unwrap()["seq"], 1);
        id
    })
    .await
    .unwrap();

    // `palisade defenders`: one line per defender, nothing a terminal acts on.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .env(
                "PALISADE_DATABASE_URL",
                format!("sqlite://{}", database.display()),
            )
            .output()
            .unwrap()
    };
    let table = run(&["defenders"]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(!table.chars().any(acts), "{table:?}");
    assert_eq!(
        table.lines().count(),
        2,
        "the counts and one row: {table:?}"
    );
    let row = table.lines().nth(1).unwrap();
    assert_eq!(row.split('\t').count(), 7, "no tab inside a field: {row:?}");
    assert!(row.contains(r"prod\u{1b}[2K\r\t"), "{row:?}");
    assert!(table.contains(r"2\u{9b}31m"), "{table:?}");
    // `--json`: the exact text, every control character a JSON escape.
    let listed = run(&["defenders", "--json"]);
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(!listed.chars().any(acts), "{listed:?}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed["defenders"][0]["task_arn"],
        hostile_hello("billing")["task"]["task_arn"]
    );

    // The CSV: one line per defender, escapes in the cells.
    let admin = client_with(&console.admin_token);
    let csv = admin
        .get(format!("{}/api/v1/defenders.csv", console.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.chars().any(|c| acts(c) || c == '\t'), "{csv:?}");
    assert_eq!(csv.lines().count(), 2, "the header and one row: {csv:?}");
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(r"x\u{1b}]0;owned\u{7}\n2026-12-07"), "{row:?}");
    assert!(row.contains(r"api\u{1b}[31m=api:1\n"), "{row:?}");

    // The pages and the server functions they call: escapes shown, nothing raw.
    for path in ["/defenders".to_owned(), format!("/defenders/{id}")] {
        let html = admin
            .get(format!("{}{path}", console.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let raw: Vec<char> = html.chars().filter(|&c| acts(c)).collect();
        assert!(raw.is_empty(), "{path} holds {raw:?}");
        assert!(html.contains(r"prod\u{1b}[2K\r"), "{path}: {html}");
    }
    let detail = json_of(
        admin
            .post(format!("{}/api/get-defender", console.base))
            .form(&[("id", id.to_string())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let listed = json_of(
        admin
            .post(format!("{}/api/list-defenders", console.base))
            .form(&[("filter[page]", "1"), ("filter[per_page]", "50")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    for (what, value) in [("get-defender", &detail), ("list-defenders", &listed)] {
        let mut found = Vec::new();
        strings(value, &mut found);
        assert!(
            found
                .iter()
                .all(|text| !text.chars().any(|c| c.is_control() || acts(c))),
            "{what}: {found:?}"
        );
    }
    assert!(
        detail["events"][0]["summary"]
            .as_str()
            .unwrap()
            .contains(r"'\n2026-12-07"),
        "{detail}"
    );
    // The JSON API keeps the exact text: JSON escapes control characters itself.
    let exact: Value = admin
        .get(format!("{}/api/v1/defenders/{id}", console.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(exact["defender"]["cluster"], "prod\u{1b}[2K\r\t", "{exact}");
    console.stop().await;
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_from_a_defender_never_starts_a_line_of_the_consoles_log() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _, token) = fresh_database(dir.path());
    let log_path = dir.path().join("console.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let served = Served::start_logging(
        &database,
        None,
        &[("RUST_LOG", "info"), ("NO_COLOR", "1")],
        log,
    );
    let defenders = served.defenders.clone();
    tokio::task::spawn_blocking(move || {
        // Welcomed: "defender connected" logs the task ARN.
        let mut socket = open(&defenders, &token).unwrap();
        send(&mut socket, hostile_hello("billing"));
        assert_eq!(next(&mut socket).unwrap()["type"], "welcome");
        // Refused: the reason quotes the family the hello named.
        let mut refused = open(&defenders, &token).unwrap();
        send(
            &mut refused,
            hostile_hello(&format!("billing\u{1b}[2K\n{FORGED}")),
        );
        assert_eq!(next(&mut refused).unwrap()["type"], "refused");
        drop(socket);
    })
    .await
    .unwrap();
    served.signal("-TERM");
    let stopped = tokio::task::spawn_blocking(move || served.wait(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(stopped.success());

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("defender connected"), "{log}");
    assert!(log.contains("defender refused"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    for line in log.lines() {
        assert!(
            !line.contains("sign-in ok")
                || line.contains("defender connected")
                || line.contains("defender refused"),
            "a defender forged a log line: {line:?}\n{log}"
        );
    }
}
