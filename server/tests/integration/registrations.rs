//! Registering generations through the REST API of a real console, against moto's ECS server:
//! the settings that point the console at it, register, double submit, revision 2, the list, and
//! a failed registration tried again once the endpoint is fixed.

use crate::common::{dummy_aws_credentials, free_port, secret_value, Api, Console, Moto};
use palisade_console::auth::Role;
use palisade_console::aws::ecs;
use palisade_console::clock::now_ms;
use serde_json::{json, Value};

const TASK: &str = r#"{"family":"billing","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
"containerDefinitions":[{"name":"api","image":"billing:1","entryPoint":["/app/api"]}]}"#;

/// A generation of `input`; its id is what gets registered.
async fn generate(api: &Api, input: &str) -> i64 {
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": input, "options": {"console_url": "https://console.example", "token_secret": "arn:aws:ssm:us-east-1:1:parameter/t"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["generation_id"].as_i64().unwrap()
}

async fn register(api: &Api, generation_id: i64) -> (u16, Value) {
    api.send(
        reqwest::Method::POST,
        "/registrations",
        json!({"generation_id": generation_id}),
    )
    .await
}

#[tokio::test]
async fn generations_register_once_each_and_are_listed() {
    dummy_aws_credentials();
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("palisade.db");
    let console = Console::with_ecs_at(&database, &moto.url).await;
    let api = Api::new(&console);
    // The pipeline that generates and registers is an operator; settings are the admin's.
    let operator_token = console.token(Role::Operator).await;
    let pipeline = Api::with_token(&console, &operator_token);

    // Where signed requests and task definitions go is not a request's to say.
    let (status, refused) = api
        .send(
            reqwest::Method::PUT,
            "/settings/ecs",
            json!({"region": "us-east-1", "profile": "", "endpoint_url": "https://attacker.example"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("AWS_ENDPOINT_URL_ECS"),
        "{refused}"
    );

    // A double submit: both answers name the same registration, ECS has one revision.
    let first = generate(&pipeline, TASK).await;
    let ((status_a, a), (status_b, b)) =
        tokio::join!(register(&pipeline, first), register(&pipeline, first));
    let mut statuses = [status_a, status_b];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 201] || statuses == [201, 409],
        "one registers, the other finds it or waits for it: {statuses:?} {a} {b}"
    );
    let (status, again) = register(&pipeline, first).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["task_definition_arn"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/billing:1"
    );
    assert_eq!(again["revision"], 1);
    assert_eq!(again["status"], "registered");
    assert!(again["console_link"]
        .as_str()
        .unwrap()
        .contains("/task-definitions/billing/1"));

    // A second generation of the same family becomes revision 2.
    let second = generate(&pipeline, &TASK.replace("billing:1", "billing:2")).await;
    let (status, registered) = register(&pipeline, second).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["revision"], 2);

    // ECS has exactly the two revisions, so the double submit did not register twice.
    let settings = palisade_console::AwsSettings::parse("us-east-1", "", &moto.url).unwrap();
    let client = palisade_console::aws::Aws::default()
        .ecs(&settings)
        .await
        .unwrap();
    let revisions = ecs::list_revisions(&client, "billing").await.unwrap();
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    let described = ecs::describe(&client, "billing:2").await.unwrap();
    assert_eq!(
        described["taskDefinition"]["containerDefinitions"][1]["name"],
        "palisade-defender"
    );

    // An endpoint that does not answer: 502 with the reason, recorded as failed, nothing pending.
    let third = generate(&pipeline, &TASK.replace("billing:1", "billing:3")).await;
    console.stop().await;
    let console =
        Console::with_ecs_at(&database, &format!("http://127.0.0.1:{}", free_port())).await;
    let (api, pipeline) = (
        Api::new(&console),
        Api::with_token(&console, &operator_token),
    );
    let (status, failed) = register(&pipeline, third).await;
    assert_eq!(status, 502, "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{failed}"
    );
    let listed = api.get("/registrations").await;
    let newest = &listed["registrations"][0];
    assert_eq!(newest["status"], "failed");
    assert_eq!(newest["generation_id"], third);
    assert!(newest["error"]
        .as_str()
        .unwrap()
        .contains("could not be reached"));

    // Fixed, the same generation registers (the failure does not hold its key).
    console.stop().await;
    let console = Console::with_ecs_at(&database, &moto.url).await;
    let (api, pipeline) = (
        Api::new(&console),
        Api::with_token(&console, &operator_token),
    );
    let (status, retried) = register(&pipeline, third).await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(retried["revision"], 3);

    let listed = api.get("/registrations").await;
    let rows = listed["registrations"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "one row per generation: {listed}");
    for row in rows {
        assert_eq!(row["status"], "registered");
        assert_eq!(
            row["registered_by"], "token 2 (operator)",
            "the pipeline token that registered"
        );
        assert_eq!(row["input_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(row["output_sha256"].as_str().unwrap().len(), 64);
    }
    assert_ne!(rows[0]["output_sha256"], rows[1]["output_sha256"]);

    // An attempt still under way answers 409; one abandoned mid-call (the console stopped) is
    // taken over after a while instead of blocking the generation forever.
    let fourth = generate(&pipeline, &TASK.replace("billing:1", "billing:4")).await;
    sqlx::query(
        "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status)
         VALUES (?, ?, ?, 'elsewhere', 'billing', '', '', 'pending')",
    )
    .bind(now_ms())
    .bind(fourth)
    .bind(format!("generation:{fourth}"))
    .execute(&console.db)
    .await
    .unwrap();
    let (status, busy) = register(&pipeline, fourth).await;
    assert_eq!(status, 409, "{busy}");
    sqlx::query("UPDATE registrations SET created_at = ? WHERE generation_id = ?")
        .bind(now_ms() - 10 * 60 * 1000)
        .bind(fourth)
        .execute(&console.db)
        .await
        .unwrap();
    let (status, taken_over) = register(&pipeline, fourth).await;
    assert_eq!(status, 201, "{taken_over}");
    assert_eq!(taken_over["revision"], 4);

    let (status, _) = register(&pipeline, 999_999).await;
    assert_eq!(status, 404);
    console.stop().await;
}

#[tokio::test]
async fn a_container_list_generation_is_not_registrable() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let generation = generate(
        &api,
        r#"[{"name":"api","image":"billing:1","entryPoint":["/app/api"],"memory":128}]"#,
    )
    .await;
    let (status, body) = register(&api, generation).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("containerDefinitions array"));
    assert_eq!(api.get("/registrations").await["registrations"], json!([]));
    console.stop().await;
}

/// `secret_value` off the async runtime (it blocks).
async fn read_secret(moto: &str, arn: &str) -> String {
    let (moto, arn) = (moto.to_owned(), arn.to_owned());
    tokio::task::spawn_blocking(move || secret_value(&moto, &arn))
        .await
        .unwrap()
}

#[tokio::test]
async fn generate_can_store_the_new_token_in_secrets_manager() {
    use palisade_console::defenders::tokens;
    dummy_aws_credentials();
    let moto = Moto::start();
    // Only this test talks to Secrets Manager, so setting the process's variable is safe here.
    std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url);
    let dir = tempfile::tempdir().unwrap();
    let console = Console::with_ecs_at(&dir.path().join("palisade.db"), &moto.url).await;
    let api = Api::new(&console);
    let generate = || {
        api.send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": TASK, "options": {"console_url": "https://console.example", "create_token": "secret"}}),
        )
    };

    // The task gets the secret's ARN; the secret holds a working token of the task's family.
    let (status, body) = generate().await;
    assert_eq!(status, 200, "{body}");
    let defender = &body["output"]["containerDefinitions"][1];
    assert!(
        defender.to_string().contains("PALISADE_TOKEN"),
        "{defender}"
    );
    assert!(!defender["environment"]
        .to_string()
        .contains("PALISADE_TOKEN"));
    let arn = defender["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|secret| secret["name"] == "PALISADE_TOKEN")
        .and_then(|secret| secret["valueFrom"].as_str())
        .unwrap()
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:")
            && arn.contains(":secret:palisade/defender-token/billing"),
        "{arn}"
    );
    let first_token = read_secret(&moto.url, &arn).await;
    assert_eq!(
        tokens::authenticate(&console.db, &first_token)
            .await
            .unwrap()
            .map(|grant| grant.family),
        Some("billing".to_owned())
    );
    assert!(
        body["notes"][0]
            .as_str()
            .unwrap()
            .contains("stored in Secrets Manager as palisade/defender-token/billing"),
        "{}",
        body["notes"]
    );

    // Again: the same secret, given the new token.
    let (status, again) = generate().await;
    assert_eq!(status, 200, "{again}");
    assert!(again["output"].to_string().contains(&arn));
    let second_token = read_secret(&moto.url, &arn).await;
    assert_ne!(second_token, first_token);
    assert!(tokens::authenticate(&console.db, &second_token)
        .await
        .unwrap()
        .is_some());

    // Secrets Manager unreachable (moto stopped): refused, and the token made for it is revoked
    // at once.
    drop(moto);
    let (status, refused) = generate().await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be stored in Secrets Manager") && message.contains("revoked"),
        "{message}"
    );
    let tokens = tokens::list(&console.db).await.unwrap();
    assert_eq!(tokens.len(), 3);
    assert!(tokens[0].revoked_at.is_some() && tokens[1].revoked_at.is_none());
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": TASK, "options": {"create_token": "ssm"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains(
            "at /options/create_token: unknown variant `ssm`, expected `plain` or `secret`"
        ),
        "the answer names the field and its values: {body}"
    );
    console.stop().await;
}

#[tokio::test]
async fn a_plain_token_is_shown_once_registered_from_memory_and_never_written_down() {
    dummy_aws_credentials();
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("palisade.db");
    let console = Console::with_ecs_at(&database, &moto.url).await;
    let api = Api::new(&console);
    let generate_plain = |api: &Api, family: &str| {
        let input = TASK.replace("billing", family);
        let api = api.clone();
        async move {
            let (status, body) = api
                .send(
                    reqwest::Method::POST,
                    "/protect",
                    json!({"input": input, "options": {"console_url": "https://console.example", "create_token": "plain"}}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let token = body["output"]["containerDefinitions"][1]["environment"]
                .as_array()
                .unwrap()
                .iter()
                .find(|pair| pair["name"] == "PALISADE_TOKEN")
                .and_then(|pair| pair["value"].as_str())
                .unwrap()
                .to_owned();
            (body["generation_id"].as_i64().unwrap(), token)
        }
    };

    // Shown once, in the answer to Generate; the history has a marker in its place.
    let (id, token) = generate_plain(&api, "ledger").await;
    assert!(token.starts_with("pal_"), "{token}");
    let stored = api.get(&format!("/generations/{id}")).await;
    assert!(!stored.to_string().contains(&token), "{stored}");
    assert!(stored.to_string().contains("plain token: shown once"));

    // Registered right after, with the real token.
    let (status, registered) = register(&api, id).await;
    assert_eq!(status, 201, "{registered}");
    let settings = palisade_console::AwsSettings::parse("us-east-1", "", &moto.url).unwrap();
    let client = palisade_console::aws::Aws::default()
        .ecs(&settings)
        .await
        .unwrap();
    let described = ecs::describe(&client, "ledger:1").await.unwrap();
    assert!(described.to_string().contains(&token));

    // Nowhere in the database file, WAL included.
    let (second, second_token) = generate_plain(&api, "payroll").await;
    console.stop().await;
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", database.display());
        let bytes = std::fs::read(&path).unwrap_or_default();
        for secret in [&token, &second_token] {
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{path} holds a plain token"
            );
        }
    }

    // After a restart the token is gone for good: registering says what to do instead.
    let console = Console::with_ecs_at(&database, &moto.url).await;
    let (status, refused) = register(&Api::new(&console), second).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("generate again"),
        "{refused}"
    );
    console.stop().await;
}
