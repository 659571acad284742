//! Registration and import against moto's ECS server (a real ECS-compatible endpoint on a free
//! loopback port), through the real `palisade` binary and the library, with the request body that
//! reaches the endpoint captured by a small recording proxy.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::common::{aws_env, free_port, palisade_with as palisade, secret_value, Moto};
use palisade_console::aws::{ecs, Aws, RETRY_ATTEMPTS};
use palisade_console::AwsSettings;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const TASK: &str = r#"{"family":"billing","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
"containerDefinitions":[{"name":"api","image":"billing:1","entryPoint":["/app/api"]}]}"#;

#[test]
fn protect_then_register_then_import_round_trips_through_ecs() {
    let moto = Moto::start();
    let protected = palisade(
        &[
            "protect",
            "--token-secret",
            "arn:aws:ssm:us-east-1:1:parameter/t",
            "--console-url",
            "https://c",
        ],
        TASK,
        |_| {},
    );
    assert!(protected.status.success());
    let protected_text = String::from_utf8(protected.stdout).unwrap();

    let first = palisade(&["register", "-"], &protected_text, |c| {
        aws_env(c, &moto.url)
    });
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let arn = String::from_utf8(first.stdout).unwrap();
    assert!(arn.trim().ends_with(":task-definition/billing:1"), "{arn}");

    let second = palisade(&["register"], &protected_text, |c| aws_env(c, &moto.url));
    assert!(String::from_utf8(second.stdout)
        .unwrap()
        .trim()
        .ends_with("billing:2"));

    let imported = palisade(&["import", "billing"], "", |c| aws_env(c, &moto.url));
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let described: Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(described["taskDefinition"]["revision"], 2);
    let names: Vec<&str> = described["taskDefinition"]["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "palisade-defender"]);

    // The import is describe output: protecting it again gives the same protection.
    let again = palisade(
        &[
            "protect",
            "--token-secret",
            "arn:aws:ssm:us-east-1:1:parameter/t",
            "--console-url",
            "https://c",
        ],
        &String::from_utf8_lossy(&imported.stdout),
        |_| {},
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let first_revision = palisade(&["import", "billing:1"], "", |c| aws_env(c, &moto.url));
    let described: Value = serde_json::from_slice(&first_revision.stdout).unwrap();
    assert_eq!(described["taskDefinition"]["revision"], 1);
}

/// Everything RegisterTaskDefinition takes, including what this SDK version cannot model.
fn kitchen_sink() -> Value {
    json!({
        "family": "kitchen-sink",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "networkMode": "awsvpc",
        "containerDefinitions": [{
            "name": "app", "image": "app:1", "cpu": 128, "memoryReservation": 256, "essential": true,
            "entryPoint": ["/app"], "command": ["serve"],
            "portMappings": [{"containerPort": 80, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
            "environment": [{"name": "A", "value": "1"}],
            "secrets": [{"name": "S", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/s"}],
            "healthCheck": {"command": ["CMD", "true"], "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 0},
            "restartPolicy": {"enabled": true, "restartAttemptPeriod": 60},
            "linuxParameters": {"initProcessEnabled": true, "capabilities": {"add": ["SYS_PTRACE"]}},
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
            "dockerLabels": {"team": "billing"}, "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "versionConsistency": "disabled"
        }],
        "volumes": [{"name": "scratch"}],
        "placementConstraints": [],
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "tags": [{"key": "team", "value": "billing"}],
        "pidMode": "task",
        "ephemeralStorage": {"sizeInGiB": 30},
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "enableFaultInjection": true,
        "trustedExecutionConfiguration": {"isolationMode": "ENCLAVE"}
    })
}

/// What the recording proxy saw, and how many more requests it answers with ECS's throttling
/// error instead of forwarding them.
#[derive(Clone, Default)]
struct Recorded {
    requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    throttle_next: Arc<AtomicUsize>,
}

impl Recorded {
    fn calls_to(&self, operation: &str) -> Vec<(HeaderMap, Bytes)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(headers, _)| {
                headers
                    .get("x-amz-target")
                    .is_some_and(|t| t.to_str().unwrap().ends_with(operation))
            })
            .cloned()
            .collect()
    }
}

/// Starts the recording proxy in front of `upstream`; answers its URL.
async fn recording_proxy(recorded: Recorded, upstream: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(record_and_forward)
        .with_state((recorded, upstream));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    proxy
}

/// Records each request, then forwards it to moto and relays the answer.
async fn record_and_forward(
    State((recorded, upstream)): State<(Recorded, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    recorded
        .requests
        .lock()
        .unwrap()
        .push((headers.clone(), body.clone()));
    let throttled = recorded
        .throttle_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if throttled {
        let mut answer_headers = HeaderMap::new();
        answer_headers.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        return (StatusCode::BAD_REQUEST, answer_headers, Bytes::from(body));
    }
    let mut forwarded = reqwest::Client::new().post(&upstream).body(body);
    for (name, value) in headers
        .iter()
        .filter(|(name, _)| *name != "host" && *name != "content-length")
    {
        forwarded = forwarded.header(name.as_str(), value.as_bytes());
    }
    let answer = forwarded.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let mut answer_headers = HeaderMap::new();
    if let Some(content_type) = answer.headers().get("content-type") {
        answer_headers.insert(
            "content-type",
            content_type.to_str().unwrap().parse().unwrap(),
        );
    }
    (status, answer_headers, answer.bytes().await.unwrap())
}

#[tokio::test]
async fn every_field_of_the_approved_json_reaches_the_endpoint() {
    let moto = Moto::start();
    let recorded = Recorded::default();
    let proxy = recording_proxy(recorded.clone(), moto.url.clone()).await;

    let settings = AwsSettings::parse("us-east-1", "", &proxy).unwrap();
    crate::common::dummy_aws_credentials();
    let client = Aws::default().ecs(&settings).await.unwrap();
    let Value::Object(task) = kitchen_sink() else {
        unreachable!()
    };
    let registered = ecs::register(&client, &task).await.unwrap();
    assert_eq!(registered.family, "kitchen-sink");
    assert_eq!(registered.revision, 1);

    let requests = recorded.calls_to("RegisterTaskDefinition");
    let (headers, body) = requests
        .first()
        .expect("the register call went through the proxy");
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        sent,
        kitchen_sink(),
        "the body ECS received is exactly the approved JSON"
    );
    assert!(sent.get("trustedExecutionConfiguration").is_some());
    let authorization = headers.get("authorization").unwrap().to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 "),
        "signed: {authorization}"
    );
    assert_eq!(
        headers.get("content-length").unwrap().to_str().unwrap(),
        body.len().to_string()
    );

    // What moto keeps of it comes back on describe.
    let described = ecs::describe(&client, "kitchen-sink:1").await.unwrap();
    let kept = &described["taskDefinition"];
    assert_eq!(
        kept["containerDefinitions"][0]["entryPoint"],
        json!(["/app"])
    );
    assert_eq!(kept["runtimePlatform"]["cpuArchitecture"], "ARM64");
    assert_eq!(
        described["tags"],
        json!([{"key": "team", "value": "billing"}])
    );
}

#[test]
fn ecs_errors_are_reported_plainly() {
    let moto = Moto::start();
    let missing = palisade(&["import", "does-not-exist"], "", |c| aws_env(c, &moto.url));
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("ECS refused the request: ClientException"),
        "{stderr}"
    );

    let down = format!("http://127.0.0.1:{}", free_port());
    let unreachable = palisade(&["register"], TASK, |c| aws_env(c, &down));
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("could not be reached"),
        "{}",
        String::from_utf8_lossy(&unreachable.stderr)
    );

    let no_credentials = palisade(&["register"], TASK, |c| {
        aws_env(c, &moto.url);
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    });
    assert_eq!(no_credentials.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_credentials.stderr).contains("no AWS credentials"),
        "{}",
        String::from_utf8_lossy(&no_credentials.stderr)
    );
}

#[test]
fn invalid_or_partial_input_is_refused_before_calling_ecs() {
    // No endpoint at all: nothing must be sent.
    let output = palisade(&["register"], r#"[{"name":"a","image":"b"}]"#, |c| {
        aws_env(c, "http://127.0.0.1:9")
    });
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be registered on its own"));

    let output = palisade(
        &["register"],
        r#"{"family":"${FAMILY}","containerDefinitions":[{"name":"a","image":"b","memory":64}]}"#,
        |c| aws_env(c, "http://127.0.0.1:9"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/family"));
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_registers_once() {
    let moto = Moto::start();
    let recorded = Recorded::default();
    let proxy = recording_proxy(recorded.clone(), moto.url.clone()).await;
    crate::common::dummy_aws_credentials();
    let settings = AwsSettings::parse("us-east-1", "", &proxy).unwrap();
    let client = Aws::default().ecs(&settings).await.unwrap();
    let Value::Object(task) = serde_json::from_str::<Value>(TASK).unwrap() else {
        unreachable!()
    };

    // Throttled twice, then through: one revision.
    recorded.throttle_next.store(2, Ordering::SeqCst);
    let registered = ecs::register(&client, &task).await.unwrap();
    assert_eq!(registered.revision, 1);
    assert_eq!(recorded.calls_to("RegisterTaskDefinition").len(), 3);
    assert_eq!(
        ecs::list_revisions(&client, "billing").await.unwrap().len(),
        1
    );

    // Throttled on every attempt: the error says so, after the configured attempts, and nothing
    // was registered.
    recorded.throttle_next.store(usize::MAX, Ordering::SeqCst);
    let error = ecs::register(&client, &task).await.unwrap_err();
    assert!(error.to_string().contains("ThrottlingException"), "{error}");
    assert_eq!(
        recorded.calls_to("RegisterTaskDefinition").len(),
        3 + RETRY_ATTEMPTS as usize
    );
    recorded.throttle_next.store(0, Ordering::SeqCst);
    assert_eq!(
        ecs::list_revisions(&client, "billing").await.unwrap().len(),
        1
    );
}

#[test]
fn a_token_created_on_the_command_line_can_go_to_secrets_manager() {
    const CREATE_IN_SECRETS_MANAGER: &[&str] = &[
        "token",
        "create",
        "--family",
        "billing",
        "--secrets-manager",
    ];
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let console = |args: &[&str], stdin: &str| {
        palisade(args, stdin, |command| {
            aws_env(command, &moto.url);
            command.env("PALISADE_DATABASE_URL", &database);
        })
    };
    let created = console(CREATE_IN_SECRETS_MANAGER, "");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let arn = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:")
            && arn.contains(":secret:palisade/defender-token/billing"),
        "{arn}"
    );
    assert!(secret_value(&moto.url, &arn).starts_with("pal_"));

    // The ARN protects the task: the token itself never appears in it.
    let protected = console(
        &[
            "protect",
            "--token-secret",
            &arn,
            "--console-url",
            "https://c",
        ],
        TASK,
    );
    assert!(protected.status.success());
    let output = String::from_utf8(protected.stdout).unwrap();
    assert!(output.contains(&arn) && !output.contains(&secret_value(&moto.url, &arn)));

    // Secrets Manager unreachable: an error, and the token is revoked, not left unused.
    let down = palisade(CREATE_IN_SECRETS_MANAGER, "", |command| {
        aws_env(command, &format!("http://127.0.0.1:{}", free_port()));
        command.env("PALISADE_DATABASE_URL", &database);
    });
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("it was revoked"));
    let listed = String::from_utf8(console(&["token", "list"], "").stdout).unwrap();
    assert_eq!(
        listed
            .lines()
            .map(|line| line.split('\t').nth(2).unwrap())
            .collect::<Vec<_>>(),
        ["revoked", "active"]
    );
}
