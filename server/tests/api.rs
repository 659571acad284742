//! The REST API and the server-rendered page, against a real server on a loopback port with a
//! real SQLite file.

mod common;

use common::Console;
use serde_json::{json, Value};

const TASK: &str = r#"{
  "family": "billing",
  "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/billing:7",
  "revision": 7,
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {"name": "api", "image": "billing:1", "entryPoint": ["/app/api"]}
  ]
}"#;

#[tokio::test]
async fn protect_answers_json_and_the_generation_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("palisade.db");
    let console = Console::start(&database).await;
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&json!({"input": TASK, "options": {"mode": "security", "console_url": "https://console.example", "token_secret": "arn:aws:ssm:eu-west-1:1:parameter/t"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let containers = body["output"]["containerDefinitions"].as_array().unwrap();
    assert_eq!(containers[1]["name"], "palisade-defender");
    assert_eq!(containers[1]["essential"], true, "security mode");
    assert!(body["output"].get("revision").is_none());
    let lines: Vec<&str> = body["summary_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("removed read-only keys: taskDefinitionArn, revision")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("wrapped entryPoint of api: [\"/app/api\"] ->")),
        "{lines:?}"
    );
    let id = body["generation_id"].as_i64().unwrap();
    console.stop().await;

    let console = Console::start(&database).await;
    let list: Value = client
        .get(format!("{}/api/v1/generations", console.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["generations"][0]["id"], id);
    assert_eq!(list["generations"][0]["family"], "billing");
    assert_eq!(
        list["generations"][0]["containers_protected"],
        json!(["api"])
    );
    let one: Value = client
        .get(format!("{}/api/v1/generations/{id}", console.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["input"], TASK);
    console.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_422_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("p.db")).await;
    let client = reqwest::Client::new();

    let broken = "{\n  \"family\": \"a\",\n  \"containerDefinitions\": [\n    {\"name\": \"a\", \"image\": \"b\",}\n  ]\n}";
    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&json!({"input": broken}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["problems"][0]["kind"], "syntax");
    assert_eq!(body["problems"][0]["line"], 4);

    let missing = json!({"family": "a", "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 128}]});
    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&json!({"input": missing}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["problems"][0]["kind"], "missing_entrypoint");
    assert_eq!(body["problems"][0]["pointer"], "/containerDefinitions/0");

    let with_argv = json!({"input": missing, "options": {"entrypoints": {"web": ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]}}});
    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&with_argv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    console.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_the_same_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("p.db")).await;
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .len()
            > 5
    );

    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&json!({"input": "{}", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "unknown request fields are refused");

    let huge = "x".repeat(2 * 1024 * 1024);
    let response = client
        .post(format!("{}/api/v1/protect", console.base))
        .json(&json!({"input": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
    console.stop().await;
}

#[tokio::test]
async fn the_protect_page_is_rendered_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("p.db")).await;
    let page = reqwest::get(format!("{}/", console.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Generate protected task"));
    assert!(
        html.contains("/pkg/palisade.js"),
        "the hydration script is referenced"
    );
    console.stop().await;
}
