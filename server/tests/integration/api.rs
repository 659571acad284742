//! The REST API and the server-rendered page, against a real server on a loopback port with a
//! real SQLite file.

use crate::common::{Api, Console};
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
    let client = console.client();

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
    let client = console.client();

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
    let client = console.client();

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
    let page = console
        .client()
        .get(format!("{}/", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Generate protected task"));
    assert!(
        html.contains("/pkg/palisade.js"),
        "the hydration script is referenced"
    );
    console.stop().await;
}

#[tokio::test]
async fn generate_can_create_and_embed_a_token_for_the_family() {
    use palisade_console::generate::{GenerateRequest, GenerationResult, TokenChoice, TokenHome};
    use palisade_console::Actor;
    let dir = tempfile::tempdir().unwrap();
    let console =
        palisade_console::Console::open(&format!("sqlite://{}", dir.path().join("p.db").display()))
            .await
            .unwrap();
    let request = |input: &str| GenerateRequest {
        input: input.to_owned(),
        options: palisade_taskdef::ProtectOptions {
            console_url: Some("https://console.example".into()),
            ..Default::default()
        },
        token: TokenChoice::Create(TokenHome::TaskDefinition),
        resolve: true,
    };
    let output_of = |result: &GenerationResult| match result {
        GenerationResult::Generated { protected, .. } => protected.output.clone(),
        GenerationResult::Refused { rejected, .. } => panic!("refused: {rejected}"),
        GenerationResult::Template(_) => panic!("a task definition, not a template"),
    };

    let generation = console
        .generations()
        .generate(&Actor::host(), request(TASK))
        .await
        .unwrap();
    let output = output_of(&generation.result);
    let environment = output["containerDefinitions"][1]["environment"]
        .as_array()
        .unwrap();
    let token = environment
        .iter()
        .find(|pair| pair["name"] == "PALISADE_TOKEN")
        .and_then(|pair| pair["value"].as_str())
        .expect("the token is embedded");
    assert_eq!(
        console
            .defender_token(token)
            .await
            .unwrap()
            .map(|grant| grant.family),
        Some("billing".to_owned()),
        "a working token of the task's family"
    );
    assert!(generation
        .notes
        .iter()
        .any(|note| note.contains("was created for family billing")));

    // Refused input creates no token; a containerDefinitions array gets none, with a note.
    let refused = console
        .generations()
        .generate(&Actor::host(), request("{"))
        .await
        .unwrap();
    assert!(matches!(refused.result, GenerationResult::Refused { .. }));
    let array = console
        .generations()
        .generate(
            &Actor::host(),
            request(r#"[{"name":"a","image":"b","entryPoint":["/a"],"memory":64}]"#),
        )
        .await
        .unwrap();
    let output = output_of(&array.result).to_string();
    assert!(!output.contains("PALISADE_TOKEN\""), "{output}");
    assert!(array
        .notes
        .iter()
        .any(|note| note.contains("no token was created")));
    assert_eq!(console.defender_tokens().list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_vendor_profile_over_rest_installs_the_vendors_recipe_and_no_defender_token() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": TASK, "options": {
                "profile": {
                    "name": "sysdig-serverless",
                    "access_key_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:sysdig",
                    "collector": "orchestrator.internal:6667",
                    "priority": "security",
                },
                "create_token": "plain",
                "no_resolve": true}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let containers = body["output"]["containerDefinitions"].as_array().unwrap();
    assert!(containers
        .iter()
        .any(|container| container["name"] == "sysdig-instrumentation"));
    assert!(!containers
        .iter()
        .any(|container| container["name"] == "palisade-defender"));
    assert!(
        !body["output"].to_string().contains("PALISADE_TOKEN"),
        "no defender, so no defender token"
    );
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM defender_tokens")
        .fetch_one(&console.db)
        .await
        .unwrap();
    assert_eq!(
        tokens, 0,
        "create_token makes no token for a vendor's profile"
    );
    assert!(body["summary_lines"]
        .to_string()
        .contains("Sysdig Serverless Agent"));

    // What the profile cannot use is a 422 naming the setting; so is a plain vendor key, which
    // the console does not take at all (it would sit in the history).
    for (options, status_wanted, says) in [
        (
            json!({"profile": {"name": "sysdig-serverless", "collector": "nowhere"}}),
            422,
            "is not HOST:PORT",
        ),
        (
            json!({"profile": {"name": "datadog-cws", "collector": "a:1"}}),
            422,
            "unknown field `collector`",
        ),
        (
            json!({"profile": {"name": "aqua"}}),
            422,
            "unknown variant `aqua`",
        ),
        (
            json!({"profile": {"name": "sysdig-serverless", "priority": "high"}}),
            422,
            "unknown Sysdig priority",
        ),
        (
            json!({"profile": {"name": "datadog-cws", "api_key": "plain"}}),
            422,
            "unknown field `api_key`",
        ),
        (
            json!({"token": "t", "create_token": "plain"}),
            422,
            "give one of token",
        ),
    ] {
        let (status, body) = api
            .send(
                reqwest::Method::POST,
                "/protect",
                json!({"input": TASK, "options": options}),
            )
            .await;
        assert_eq!(status, status_wanted, "{options}: {body}");
        assert!(body.to_string().contains(says), "{options}: {body}");
    }
    console.stop().await;
}

#[tokio::test]
async fn a_cloudformation_template_over_rest_comes_back_protected_in_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let template = "Parameters:\n  Image:\n    Type: String\nResources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: !Sub '${AWS::StackName}-web'\n      ContainerDefinitions:\n        - Name: web\n          Image: !Ref Image\n          Memory: 256\n          EntryPoint: [/app/web]\n";
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": template, "options": {
                "token_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t",
                "defender_image": "registry.example/defender:1"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["template_format"], "yaml");
    let output = body["output"].as_str().unwrap();
    assert!(
        output.contains("Family: !Sub '${AWS::StackName}-web'")
            || output.contains("Family: !Sub ${AWS::StackName}-web"),
        "{output}"
    );
    assert!(output.contains("Image: !Ref Image"), "{output}");
    assert!(output.contains("- /palisade/palisade-defender"), "{output}");
    assert!(
        output.contains("ValueFrom: arn:aws:secretsmanager"),
        "{output}"
    );
    assert!(body["summary_lines"].to_string().contains("resource Task"));
    assert_eq!(
        body["generation_id"],
        Value::Null,
        "templates are not in the history"
    );

    // An image known only by parameter and no entryPoint: the argv is asked for, naming it.
    let without = template.replace("          EntryPoint: [/app/web]\n", "");
    let (status, body) = api
        .send(reqwest::Method::POST, "/protect", json!({"input": without}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("!Ref Image"), "{body}");

    // A YAML template that does not parse: its line and column.
    let broken =
        "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties: [unclosed\n";
    let (status, body) = api
        .send(reqwest::Method::POST, "/protect", json!({"input": broken}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["problems"][0]["line"].is_number(), "{body}");
    assert!(body.to_string().contains("not valid YAML"), "{body}");
    console.stop().await;
}

#[tokio::test]
async fn tokens_and_the_defenders_list_over_rest() {
    use palisade_console::defenders::{presence, tokens};
    use palisade_protocol::{Hello, TaskIdentity};
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    use reqwest::Method;

    let (status, created) = api
        .send(
            Method::POST,
            "/tokens",
            json!({"family": "billing", "label": "ci"}),
        )
        .await;
    assert_eq!(status, 201);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("pal_") && token.len() == 68, "{token}");
    let (status, _) = api
        .send(Method::POST, "/tokens", json!({"family": "no spaces"}))
        .await;
    assert_eq!(status, 422);
    let listed = api.get("/tokens").await;
    assert_eq!(listed["tokens"][0]["family"], "billing");
    assert!(
        listed["tokens"][0].get("token").is_none(),
        "values are never listed"
    );
    let id = created["id"].as_i64().unwrap();
    let revoke = format!("/tokens/{id}");
    assert_eq!(api.status(Method::DELETE, &revoke).await, 204);
    assert_eq!(api.status(Method::DELETE, &revoke).await, 404);
    assert!(
        tokens::authenticate(&console.db, token)
            .await
            .unwrap()
            .is_none(),
        "revoked"
    );

    // Three defenders: two connected (billing, search), one disconnected (billing).
    for (n, family) in ["billing", "search", "billing"].iter().enumerate() {
        let hello = Hello {
            protocol: 1,
            version: "0.1.0".into(),
            instance: format!("i{n}"),
            mode: "availability".into(),
            task: TaskIdentity {
                task_arn: format!("arn:aws:ecs:us-east-1:1:task/prod/{family}{n}"),
                cluster: "prod".into(),
                family: (*family).into(),
                revision: "1".into(),
                availability_zone: format!("us-east-1{}", ["a", "b", "c"][n]),
                ..TaskIdentity::default()
            },
        };
        let (defender, _) = presence::connected_now(&console.db, id, &hello, "c")
            .await
            .unwrap();
        if n == 2 {
            presence::disconnected(&console.db, defender, "c")
                .await
                .unwrap();
        }
    }
    let all = api.get("/defenders").await;
    assert_eq!(
        (
            all["connected"].as_i64(),
            all["disconnected"].as_i64(),
            all["protected_families"].as_i64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(
        all["defenders"][2]["status"], "disconnected",
        "connected first"
    );
    let page_2 = api.get("/defenders?per_page=2&page=2").await;
    assert_eq!(
        (
            page_2["total"].as_i64(),
            page_2["defenders"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let found = api.get("/defenders?q=US-EAST-1B").await;
    assert_eq!(found["defenders"][0]["family"], "search");
    // A search is text, not a pattern: `%` matches only a `%`.
    assert_eq!(api.get("/defenders?q=%25").await["total"], 0);
    assert_eq!(
        api.get("/defenders?q=BILLING").await["total"],
        2,
        "case-insensitive"
    );
    let past = api.get("/defenders?q=billing&per_page=1&page=5").await;
    assert_eq!(
        (
            past["total"].as_i64(),
            past["defenders"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0)),
        "a page past the matches still knows how many there are"
    );
    let billing_connected = api.get("/defenders?status=connected&q=billing").await;
    assert_eq!(billing_connected["total"], 1);
    let by_family = api.get("/defenders?sort=family").await;
    assert_eq!(by_family["defenders"][2]["family"], "search");
    assert_eq!(
        api.status(Method::GET, "/defenders?status=bogus").await,
        400
    );
    assert_eq!(
        api.status(Method::GET, "/defenders?sort=id;drop").await,
        400
    );
    assert_eq!(api.status(Method::GET, "/defenders/999").await, 404);

    // The same selection as CSV, every page, in the list's order; what a task reported never
    // runs as a formula in the spreadsheet that opens it.
    sqlx::query("UPDATE defenders SET containers = ?, cluster = '=1+2' WHERE family = 'search'")
        .bind(r#"[{"name": "@SUM(1+1)", "image": "x", "docker_id": "d"}, {"name": "web", "image": "nginx:1", "docker_id": "e"}]"#)
        .execute(&console.db)
        .await
        .unwrap();
    let response = crate::common::client_with(&console.admin_token)
        .get(format!("{}/api/v1/defenders.csv?sort=family", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..3], ["id", "status", "family"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let families: Vec<&str> = records.iter().map(|record| &record[2]).collect();
    assert_eq!(families, ["billing", "billing", "search"], "{text}");
    let search = &records[2];
    assert_eq!(&search[4], "'=1+2", "a formula in a cell is text");
    assert_eq!(&search[10], "'@SUM(1+1)=x web=nginx:1");
    assert!(
        search[13].ends_with('Z') && search[13].contains('T'),
        "RFC 3339: {}",
        &search[13]
    );
    let connected_only = crate::common::client_with(&console.admin_token)
        .get(format!(
            "{}/api/v1/defenders.csv?status=disconnected",
            console.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        connected_only.lines().count(),
        2,
        "the header and the one disconnected"
    );
    assert_eq!(
        api.status(Method::GET, "/defenders.csv?sort=bogus").await,
        400
    );
    console.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_rest_routes() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let document = Api::new(&console).get("/openapi.json").await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    // The access table lists every route the console serves.
    let mut served: Vec<(String, String)> = palisade_app::access::RULES
        .iter()
        .filter(|rule| rule.path.starts_with("/api/v1/"))
        .map(|rule| (rule.method.to_owned(), rule.path.to_owned()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    // Every operation says who may call it and what its errors look like.
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
    console.stop().await;
}

/// schemathesis (PyPI; `scripts/setup --test` installs it) against a live console, ECS at moto:
/// no 5xx, and every answer's status, content type and body match the document. Left out, and
/// why: `DELETE /api/v1/api-tokens/{id}` (it would revoke the token the run signs in with and
/// end its coverage); `POST /api/v1/defender-image` (it pushes to a real registry, which this run
/// has none of: its documented 502 counts as a server error here; the defender-image tests push
/// to real loopback registries); `GET /api/v1/defenders/changes` (an event stream that stays
/// open until the console stops; the defender channel tests read it); `PUT /api/v1/settings/ecs`
/// (now that its body is documented, schemathesis sends valid ones: empty fields reset the AWS
/// settings the run's ECS at moto needs, after which `GET /api/v1/coverage` answers its documented
/// 502, and any 5xx counts as a failure here; the settings and registration tests cover it); the `positive_data_acceptance` check (the console's 422s are about meaning,
/// a password's length or a task definition ECS accepts, which no schema says); the
/// `missing_required_header` check (a state change without credentials meets the cross-site
/// guard's documented 403 before authentication's 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_answers_match_the_document() {
    let moto = crate::common::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let console = Console::with_ecs_at(&dir.path().join("palisade.db"), &moto.url).await;
    let output = tokio::process::Command::new("schemathesis")
        .args([
            "run",
            &format!("{}/api/v1/openapi.json", console.base),
            "--header",
            &format!("Authorization: Bearer {}", console.admin_token),
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance,missing_required_header",
            "--exclude-path",
            "/api/v1/api-tokens/{id}",
            "--exclude-name",
            "POST /api/v1/defender-image",
            "--exclude-name",
            "GET /api/v1/defenders/changes",
            "--exclude-name",
            "PUT /api/v1/settings/ecs",
            "--max-examples",
            "25",
            // A fixed seed keeps CI reproducible; PALISADE_SCHEMATHESIS_SEED=<n> explores others.
            "--seed",
            &std::env::var("PALISADE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into()),
            "--workers",
            "1",
            "--no-color",
        ])
        // Its cache and reports go to the test's directory, not the checkout.
        .current_dir(dir.path())
        .output()
        .await
        .expect("schemathesis must be installed (scripts/setup --test installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("passed"), "{report}");
    console.stop().await;
}

#[tokio::test]
async fn a_request_body_is_a_json_object_never_an_array_read_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    // serde would read these as structs (fields in order); schemathesis found both answered 2xx.
    for (method, path, body) in [
        (reqwest::Method::POST, "/unprotect", json!([{"": null}])),
        (reqwest::Method::PUT, "/users/nobody", json!([null, null])),
        (reqwest::Method::POST, "/protect", json!(["{}", {}])),
    ] {
        let (status, answer) = api.send(method, path, body).await;
        assert_eq!(status, 422, "{path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("JSON object"),
            "{answer}"
        );
    }
    console.stop().await;
}

/// A family's tokens are revoked at once (a leaked token, a retired family), only that family's,
/// only the active ones, with one audit entry.
#[tokio::test]
async fn a_familys_tokens_are_revoked_at_once_and_only_that_familys() {
    use palisade_console::defenders::tokens;
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let create = |family: &'static str| {
        let api = &api;
        async move {
            let (status, created) = api
                .send(Method::POST, "/tokens", json!({ "family": family }))
                .await;
            assert_eq!(status, 201);
            (
                created["id"].as_i64().unwrap(),
                created["token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (first, _) = create("billing").await;
    let (_, second) = create("billing").await;
    let (_, search) = create("search").await;
    assert_eq!(
        api.status(Method::DELETE, &format!("/tokens/{first}"))
            .await,
        204
    );

    let (status, answer) = api
        .send(Method::DELETE, "/families/billing/tokens", Value::Null)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"family": "billing", "revoked": 1}));
    let (_, again) = api
        .send(Method::DELETE, "/families/billing/tokens", Value::Null)
        .await;
    assert_eq!(again["revoked"], 0, "nothing active is left");
    let valid = |token: String| {
        let db = console.db.clone();
        async move { tokens::authenticate(&db, &token).await.unwrap().is_some() }
    };
    assert!(!valid(second).await, "billing's last token is revoked");
    assert!(valid(search).await, "another family's token is not");
    let (status, _) = api
        .send(Method::DELETE, "/families/no%20spaces/tokens", Value::Null)
        .await;
    assert_eq!(status, 422);

    let audit = api.get("/audit").await;
    let targets: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "defender-token-revoke-family")
        .map(|entry| entry["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["no spaces", "billing (0 tokens)", "billing (1 tokens)"]
    );
    console.stop().await;
}
