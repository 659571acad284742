//! A signed-in viewer never reads a secret (issue 21): an operator protects a task whose argv
//! holds a database password, an API key and a `--password` flag, and a defender reports command
//! lines holding the same; a viewer's token then reads every place a viewer may (the REST API,
//! the server functions the pages call, the pages themselves) and finds the secrets withheld,
//! while an operator still reads them word for word.

use crate::common::{client_with, Console};
use crate::defender_channel::{hello, next, open, send};
use palisade_console::auth::Role;
use palisade_console::defenders::tokens;
use serde_json::{json, Value};

const PASSWORD: &str = "hunter2";
const API_KEY: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

/// The operator's task: a database URL with its password, an API key set on the command line
/// and in the environment, a `--password` flag.
fn task() -> String {
    json!({
        "family": "billing",
        "containerDefinitions": [{
            "name": "api",
            "image": "billing:1",
            "memory": 128,
            "entryPoint": ["/usr/bin/env", format!("API_KEY={API_KEY}"), "/app/api",
                           "--db", format!("postgres://app:{PASSWORD}@db:5432/app"), "--password", PASSWORD],
            "environment": [{"name": "API_KEY", "value": API_KEY}]
        }]
    })
    .to_string()
}

/// What a reader got: the place, and the text as it came (JSON or HTML).
struct Read {
    place: String,
    text: String,
}

/// Reads every place a viewer may read generations, registrations and a defender's timeline
/// from, as the holder of `token`.
async fn read_everything(console: &Console, token: &str, defender: i64) -> Vec<Read> {
    let client = client_with(token);
    let mut read = Vec::new();
    for path in [
        "/api/v1/generations".to_owned(),
        "/api/v1/registrations".to_owned(),
        format!("/api/v1/defenders/{defender}"),
        // The pages, rendered on the server: their HTML and the data they hydrate with.
        "/".to_owned(),
        "/protect".to_owned(),
        "/revisions".to_owned(),
        format!("/defenders/{defender}"),
    ] {
        let response = client
            .get(format!("{}{path}", console.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        read.push(Read {
            place: format!("GET {path}"),
            text: response.text().await.unwrap(),
        });
    }
    // The server functions behind the Protect, Revisions and defender pages.
    let id = defender.to_string();
    for (path, form) in [
        ("/api/recent-generations", vec![]),
        ("/api/list-registrations", vec![]),
        ("/api/get-defender", vec![("id", id.as_str())]),
    ] {
        let response = client
            .post(format!("{}{path}", console.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "POST {path}");
        read.push(Read {
            place: format!("POST {path}"),
            text: response.text().await.unwrap(),
        });
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_never_reads_the_secrets_an_operator_protected_or_a_task_ran_with() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let (viewer, operator) = (
        console.token(Role::Viewer).await,
        console.token(Role::Operator).await,
    );

    // The operator generates: the summary quotes the wrapped argv word for word.
    let generated: Value = client_with(&operator)
        .post(format!("{}/api/v1/protect", console.base))
        .json(
            &json!({"input": task(), "options": {"console_url": "https://console.example",
                      "token_secret": "arn:aws:ssm:eu-west-1:1:parameter/t"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generation = generated["generation_id"].as_i64().expect("generated");
    assert!(generated["summary_lines"].to_string().contains(PASSWORD));

    // ECS quotes in its refusals what it was sent: a failed registration's error holds it too.
    sqlx::query(
        "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status, error)
         VALUES (1000, ?, 'generation:1', 'ops', 'billing', '', '', 'failed', ?)",
    )
    .bind(generation)
    .bind(format!(
        "ECS refused: ClientException: container api: command [\"--password\",\"{PASSWORD}\"] and DATABASE=postgres://app:{PASSWORD}@db/app are invalid"
    ))
    .execute(&console.db)
    .await
    .unwrap();

    // The task runs: its defender reports the workload's argv and a process's command line.
    let token = tokens::create(&console.db, "billing", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let defender = tokio::task::spawn_blocking(move || {
        let mut socket = open(&base, &token).unwrap();
        send(&mut socket, hello("billing"));
        let welcome = next(&mut socket).unwrap();
        let id = welcome["defender_id"].as_i64().expect("welcomed");
        send(
            &mut socket,
            json!({"type": "events", "events": [
                {"seq": 1, "at_ms": 1_700_000_000_000i64, "event": "workload_started", "container": "api", "pid": 7,
                 "argv": ["/usr/bin/env", format!("API_KEY={API_KEY}"), "/app/api", "--password", PASSWORD]},
                {"seq": 2, "at_ms": 1_700_000_000_001i64, "event": "process_started", "pid": 8, "ppid": 7, "uid": 0,
                 "executable": "/usr/bin/psql",
                 "command_line": format!("psql postgres://app:{PASSWORD}@db:5432/app -c select --password {PASSWORD}")}
            ]}),
        );
        assert_eq!(next(&mut socket).unwrap()["seq"], 2);
        id
    })
    .await
    .unwrap();

    // The viewer: every place, no secret; what was withheld is marked, the rest still reads.
    let seen = read_everything(&console, &viewer, defender).await;
    for read in &seen {
        for secret in [PASSWORD, API_KEY] {
            assert!(
                !read.text.contains(secret),
                "{} shows a viewer {secret}:\n{}",
                read.place,
                read.text
            );
        }
    }
    let listed = &seen[0].text;
    assert!(
        listed.contains("postgres://app:***@db:5432/app") && listed.contains("API_KEY=***"),
        "{listed}"
    );
    assert!(listed.contains(r#"\"--password\",\"***\""#), "{listed}");
    assert!(seen[2].text.contains("--password ***"), "{}", seen[2].text);
    // Reopening a generation (input and output whole) stays the operator's.
    let reopened = client_with(&viewer)
        .get(format!("{}/api/v1/generations/{generation}", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reopened.status(), 403);

    // The operator reads everything as it was written.
    let operator_read = read_everything(&console, &operator, defender).await;
    for read in operator_read
        .iter()
        .filter(|read| read.place.starts_with("GET /api/v1") || read.place.starts_with("POST"))
    {
        assert!(
            read.text.contains(PASSWORD),
            "{} hides from an operator:\n{}",
            read.place,
            read.text
        );
    }
    console.stop().await;
}
