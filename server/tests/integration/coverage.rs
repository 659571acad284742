//! Coverage of the account's ECS services against moto: services found through ListClusters,
//! ListServices, DescribeServices, ListTasks and DescribeTasks, each revision's protection read
//! with DescribeTaskDefinition, running tasks matched to connected defenders; unprotected first.

use crate::common::{Api, Console, Moto};
use palisade_console::defenders::{presence, tokens};
use palisade_protocol::{Hello, TaskIdentity};
use palisade_test_support::moto_call;
use serde_json::{json, Value};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";

fn ecs(moto: &str, action: &str, body: Value) -> Value {
    moto_call(moto, "ecs", &format!("{ECS}.{action}"), body)
}

/// (No `awsvpc`: moto would want real subnets to run its tasks; no task-level memory: moto sums
/// the containers', so the defender gets its own reservation; `memoryReservation`, not `memory`:
/// moto echoes a container's `memory` as a number where ECS (and its SDK) has a string.)
fn fargate_task(family: &str) -> Value {
    json!({
        "family": family,
        "containerDefinitions": [{ "name": "app", "image": "app:1", "entryPoint": ["/app"], "memoryReservation": 256 }]
    })
}

/// Starts `count` tasks of `task_definition` as service `service` would (ECS sets the group).
fn run_service_tasks(moto: &str, service: &str, task_definition: &str, count: u32) -> Vec<String> {
    let answer = ecs(
        moto,
        "RunTask",
        json!({ "cluster": "prod", "taskDefinition": task_definition, "count": count,
                "launchType": "FARGATE", "group": format!("service:{service}") }),
    );
    answer["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["taskArn"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_shows_its_revision_protection_and_connected_defenders() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let console = Console::with_ecs_at(&dir.path().join("palisade.db"), &moto.url).await;
    let api = Api::new(&console);

    // Two families in cluster prod: `web` as it was, `api` protected by Palisade.
    let (status, protected) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({ "input": fargate_task("api"), "options": { "no_resolve": true, "token_secret": "arn:aws:ssm:us-east-1:123456789012:parameter/t" } }),
        )
        .await;
    assert_eq!(status, 200, "{protected}");
    let moto_url = moto.url.clone();
    let (web_tasks, api_tasks) = tokio::task::spawn_blocking(move || {
        let moto = moto_url.as_str();
        ecs(moto, "CreateCluster", json!({ "clusterName": "prod" }));
        ecs(moto, "RegisterTaskDefinition", fargate_task("web"));
        ecs(moto, "RegisterTaskDefinition", protected["output"].clone());
        for (service, task_definition) in [("web-svc", "web:1"), ("api-svc", "api:1")] {
            ecs(
                moto,
                "CreateService",
                json!({ "cluster": "prod", "serviceName": service, "taskDefinition": task_definition,
                        "desiredCount": 2, "launchType": "FARGATE" }),
            );
        }
        // A task no service started does not count for any.
        ecs(moto, "RunTask", json!({ "cluster": "prod", "taskDefinition": "web:1", "launchType": "FARGATE" }));
        (
            run_service_tasks(moto, "web-svc", "web:1", 1),
            run_service_tasks(moto, "api-svc", "api:1", 2),
        )
    })
    .await
    .unwrap();

    // One of api's tasks has its defender connected; a defender of a task ECS does not run
    // counts for nothing.
    let token = tokens::create(&console.db, "api", "").await.unwrap();
    for (task, connection) in [
        (api_tasks[0].as_str(), "c1"),
        ("arn:aws:ecs:us-east-1:123456789012:task/prod/gone", "c2"),
    ] {
        let hello = Hello {
            protocol: 1,
            instance: connection.into(),
            task: TaskIdentity {
                task_arn: task.into(),
                family: "api".into(),
                ..TaskIdentity::default()
            },
            ..Hello::default()
        };
        presence::connected_now(&console.db, token.id, &hello, connection)
            .await
            .unwrap();
    }

    let coverage = api.get("/coverage").await;
    let services: Vec<(String, String, Value, i64, i64)> = coverage["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|service| {
            (
                service["service"].as_str().unwrap().to_owned(),
                service["task_definition"].as_str().unwrap().to_owned(),
                service["protected"].clone(),
                service["running"].as_i64().unwrap(),
                service["with_defender"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            (
                "web-svc".into(),
                "web:1".into(),
                json!(false),
                web_tasks.len() as i64,
                0
            ),
            ("api-svc".into(), "api:1".into(), json!(true), 2, 1),
        ],
        "{coverage}"
    );
    assert_eq!(coverage["services"][0]["cluster"], "prod");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_without_aws_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    // An endpoint nobody answers on: ECS cannot be reached, and the answer says so.
    let nobody = format!("http://127.0.0.1:{}", crate::common::free_port());
    let console = Console::with_ecs_at(&dir.path().join("palisade.db"), &nobody).await;
    let api = Api::new(&console);
    let (status, answer) = api
        .send(reqwest::Method::GET, "/coverage", Value::Null)
        .await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["error"].as_str().unwrap_or_default().contains("ECS"),
        "{answer}"
    );
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_one_family_cannot_speak_for_a_task_ecs_says_runs_another() {
    use crate::defender_channel::{next, open, send};
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let console = Console::with_ecs_at(&dir.path().join("palisade.db"), &moto.url).await;
    let moto_url = moto.url.clone();
    let web_task = tokio::task::spawn_blocking(move || {
        let moto = moto_url.as_str();
        ecs(moto, "CreateCluster", json!({ "clusterName": "prod" }));
        ecs(moto, "RegisterTaskDefinition", fargate_task("web"));
        run_service_tasks(moto, "web-svc", "web:1", 1).remove(0)
    })
    .await
    .unwrap();
    let web = tokens::create(&console.db, "web", "").await.unwrap().token;
    let intruder = tokens::create(&console.db, "intruder", "")
        .await
        .unwrap()
        .token;
    let base = console.defender_base.clone();
    let hello = |family: &str, task: &str| {
        let mut hello = crate::defender_channel::hello(family);
        hello["task"]["task_arn"] = json!(task);
        hello
    };
    let (forged, real, unknown) = tokio::task::spawn_blocking(move || {
        let answer = |token: &str, hello: Value| {
            let mut socket = open(&base, token).unwrap();
            send(&mut socket, hello);
            next(&mut socket).unwrap()
        };
        (
            answer(&intruder, hello("intruder", &web_task)),
            answer(&web, hello("web", &web_task)),
            // A task ECS does not know (another account, say): let through under its family.
            answer(
                &intruder,
                hello(
                    "intruder",
                    "arn:aws:ecs:us-east-1:123456789012:task/prod/elsewhere",
                ),
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(forged["type"], "refused", "{forged}");
    assert!(
        forged["reason"]
            .as_str()
            .unwrap()
            .contains("runs a task definition of family `web`"),
        "{forged}"
    );
    assert_eq!(real["type"], "welcome", "{real}");
    assert_eq!(unknown["type"], "welcome", "{unknown}");
    console.stop().await;
}
