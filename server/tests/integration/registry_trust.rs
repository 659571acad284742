//! What a registry, or whoever names one, can get out of the console: loopback "registries" that
//! record every request (`palisade_test_support::hostile`) must never see a credential that is
//! not theirs, redirects never reach the metadata address, upstream words are never shown,
//! bodies are capped, lookups happen only for a valid task, the cache answers only for the
//! origin that filled it, and password references reach only what the deployment set aside.

use crate::common::hostile::{Answer, Hostile, Seen};
use crate::common::registry::Registry;
use crate::common::{Api, Console};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

/// A Fargate task whose containers run `images`, none with an entrypoint (so each is looked up).
fn task(images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(index, image)| json!({"name": format!("c{index}"), "image": image}))
        .collect();
    json!({"family": "probe", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
           "cpu": "256", "memory": "512", "containerDefinitions": containers})
}

async fn protect(api: &Api, task: Value) -> (u16, Value) {
    api.send(
        Method::POST,
        "/protect",
        json!({"input": task, "options": {"console_url": "https://c", "token_secret": "arn:aws:ssm:us-east-1:1:parameter/t"}}),
    )
    .await
}

/// Why the first container's lookup failed, as the problem says it.
async fn lookup_failure(api: &Api, image: &str) -> String {
    let (status, body) = protect(api, task(&[image.to_owned()])).await;
    assert_eq!(status, 422, "{body}");
    body["problems"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn console_with_secrets(dir: &Path) -> (Console, std::path::PathBuf) {
    let secrets = std::fs::canonicalize(dir).unwrap().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let kept = secrets.clone();
    let console = Console::start_with(&dir.join("palisade.db"), move |config| {
        config.deployment.secrets_dir = Some(kept);
    })
    .await;
    (console, secrets)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn authorizations(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter_map(|request| request.header("authorization").map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_a_host_they_do_not_belong_to() {
    let dir = tempfile::tempdir().unwrap();
    let (console, secrets) = console_with_secrets(dir.path()).await;
    let api = Api::new(&console);
    std::fs::write(secrets.join("owner"), "s3cret-owner\n").unwrap();

    // Elsewhere: another origin (another port), where the owner redirects its manifests.
    let elsewhere = Hostile::start(|_| Answer::new(404));
    let target = format!("http://{}/v2/app/manifests/1", elsewhere.host);
    let expected = basic("alice", "s3cret-owner");
    let owner = Hostile::start(move |request| {
        if request.header("authorization") == Some(expected.as_str()) {
            Answer::new(307).header("Location", &target)
        } else {
            Answer::new(401).header("WWW-Authenticate", "Basic realm=\"owner\"")
        }
    });

    let api = &api;
    let put = |host: String, body: Value| async move {
        api.send(Method::PUT, &format!("/registries/{host}"), body)
            .await
    };
    let owner_ref = format!("file:{}", secrets.join("owner").display());
    let (status, body) = put(
        owner.host.clone(),
        json!({"username": "alice", "password_ref": owner_ref}),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The owner gets its password and redirects: the next hop gets nothing of it.
    let failure = lookup_failure(api, &format!("{}/app:1", owner.host)).await;
    assert!(failure.contains("not found"), "{failure}");
    assert!(authorizations(&owner.seen()).contains(&basic("alice", "s3cret-owner")));
    assert!(!elsewhere.seen().is_empty(), "the redirect was followed");
    assert_eq!(authorizations(&elsewhere.seen()), Vec::<String>::new());

    // An image on another host never gets the owner's credentials either.
    lookup_failure(api, &format!("{}/app:2", elsewhere.host)).await;
    assert_eq!(authorizations(&elsewhere.seen()), Vec::<String>::new());

    // Moving the owner's registry to another endpoint would send its credentials there: only
    // when the admin says so, and the list shows it.
    let moved = json!({"username": "alice", "password_ref": owner_ref, "endpoint": format!("http://{}", elsewhere.host)});
    let (status, body) = put(owner.host.clone(), moved.clone()).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().contains("would go to"),
        "{body}"
    );
    let mut confirmed = moved;
    confirmed["credentials_to_endpoint"] = json!(true);
    assert_eq!(put(owner.host.clone(), confirmed).await.0, 204);
    let listed = api.get("/registries").await;
    assert_eq!(listed["registries"][0]["credentials_to_endpoint"], true);

    // References reach only what the deployment set aside, whatever the request names.
    let fifo = secrets.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (reference, why) in [
        ("file:/dev/zero".to_owned(), "inside PALISADE_SECRETS_DIR"),
        ("file:/etc/passwd".to_owned(), "inside PALISADE_SECRETS_DIR"),
        (
            format!("file:{}/../palisade.db", secrets.display()),
            "without ..",
        ),
        ("env:AWS_SECRET_ACCESS_KEY".to_owned(), "PALISADE_REGISTRY_"),
    ] {
        let (status, body) = put(
            "registry.example".into(),
            json!({"username": "x", "password_ref": reference}),
        )
        .await;
        assert_eq!(status, 422, "{reference}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(why),
            "{reference}: {body}"
        );
    }
    // A FIFO inside the directory may be named, but a lookup does not wait on it.
    let fifo_ref = format!("file:{}", fifo.display());
    let (status, _) = put(
        elsewhere.host.clone(),
        json!({"username": "x", "password_ref": fifo_ref}),
    )
    .await;
    assert_eq!(status, 204);
    let failure = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        lookup_failure(api, &format!("{}/app:3", elsewhere.host)),
    )
    .await
    .expect("a FIFO does not hold the lookup");
    assert!(failure.contains("not a regular file"), "{failure}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_never_reach_the_metadata_address_and_upstream_words_stay_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let hostile = Hostile::start(|request| {
        let path = request.line.split_whitespace().nth(1).unwrap_or_default();
        let tag = path.rsplit('/').next().unwrap_or_default();
        match tag {
            "metadata" => Answer::new(302).header(
                "Location",
                "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            ),
            "decimal" => Answer::new(307).header("Location", "http://2852039166/latest/"),
            "ecs-credentials" => {
                Answer::new(302).header("Location", "http://169.254.170.2/v2/credentials/x")
            }
            "loop" => Answer::new(302).header("Location", "/v2/app/manifests/loop"),
            "secret" => Answer::new(500).body("SECRET-UPSTREAM-WORDS"),
            "challenge-secret" => Answer::new(403).body("SECRET-UPSTREAM-WORDS"),
            "huge" => Answer::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(vec![b' '; 5 * 1024 * 1024]),
            _ => Answer::new(404),
        }
    });
    let image = |tag: &str| format!("{}/app:{tag}", hostile.host);
    for tag in ["metadata", "decimal", "ecs-credentials"] {
        let failure = lookup_failure(&api, &image(tag)).await;
        assert!(failure.contains("link-local"), "{tag}: {failure}");
    }
    let failure = lookup_failure(&api, &image("loop")).await;
    assert!(failure.contains("redirects"), "{failure}");
    let failure = lookup_failure(&api, &image("secret")).await;
    assert!(failure.contains("HTTP 500"), "{failure}");
    let failure = lookup_failure(&api, &image("huge")).await;
    assert!(failure.contains("more than 4096 KiB"), "{failure}");
    // The answers' words appear nowhere the caller can read.
    for tag in ["secret", "challenge-secret"] {
        let (_, body) = protect(&api, task(&[image(tag)])).await;
        assert!(
            !body.to_string().contains("SECRET-UPSTREAM-WORDS"),
            "{body}"
        );
    }
    // An image named at the metadata address is never asked at all.
    let failure = lookup_failure(&api, "169.254.169.254/latest/meta-data:x").await;
    assert!(failure.contains("link-local"), "{failure}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_happen_only_for_a_valid_task_and_once_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let hostile = Hostile::start(|_| Answer::new(404));
    let image = |name: &str| format!("{}/{name}:1", hostile.host);

    // Eleven containers (ECS allows ten): refused, and not one registry request.
    let eleven: Vec<String> = (0..11).map(|n| image(&format!("app{n}"))).collect();
    let (status, _) = protect(&api, task(&eleven)).await;
    assert_eq!(status, 422);
    // A task that fails validation otherwise: the same.
    let mut invalid = task(&[image("app")]);
    invalid["cpu"] = json!("a lot");
    let (status, _) = protect(&api, invalid).await;
    assert_eq!(status, 422);
    assert_eq!(hostile.seen().len(), 0, "{:?}", hostile.seen());

    // A valid task: one lookup per distinct image, however many containers share it.
    let (status, _) = protect(
        &api,
        task(&[image("same"), image("same"), image("same"), image("other")]),
    )
    .await;
    assert_eq!(status, 422, "not found, so refused");
    let manifests: Vec<String> = hostile
        .seen()
        .into_iter()
        .map(|request| request.line)
        .collect();
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_serves_only_the_origin_that_gave_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path());
    let build_dir = dir.path().to_owned();
    let registry = tokio::task::spawn_blocking(move || {
        registry.push(&build_dir, "e2e/web", "1", "amd64", &["/web"], &[]);
        registry
    })
    .await
    .unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let host = "mirror-only.invalid:5000";
    let point = |endpoint: String| {
        let api = &api;
        async move {
            let (status, body) = api
                .send(
                    Method::PUT,
                    &format!("/registries/{host}"),
                    json!({"endpoint": endpoint}),
                )
                .await;
            assert_eq!(status, 204, "{body}");
        }
    };
    let first = format!("http://{}", registry.host);
    point(first.clone()).await;
    let image = format!("{host}/e2e/web:1");
    let (status, body) = protect(&api, task(std::slice::from_ref(&image))).await;
    assert_eq!(status, 200, "{body}");

    // Another endpoint for the same host: asked, not answered from the first one's cache.
    let other = Hostile::start(|_| Answer::new(404));
    point(format!("http://{}", other.host)).await;
    let failure = lookup_failure(&api, &image).await;
    assert!(failure.contains("not found"), "{failure}");
    assert!(!other.seen().is_empty());

    // Back to the first: its cached answer serves again, even with the registry gone.
    drop(registry);
    point(first).await;
    let (status, body) = protect(&api, task(std::slice::from_ref(&image))).await;
    assert_eq!(status, 200, "from the first origin's cache: {body}");
    console.stop().await;
}

#[tokio::test]
async fn a_failed_lookup_says_unreachable_alike_so_the_console_is_no_port_scanner() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    // A closed port, a port that accepts and hangs up at once, one that answers garbage.
    let closed = crate::common::free_port();
    let hang_up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_up_port = hang_up.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in hang_up.incoming().flatten() {
            drop(stream);
        }
    });
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut stream in garbage.incoming().flatten() {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
        }
    });
    let mut said = Vec::new();
    for port in [closed, hang_up_port, garbage_port] {
        let image = format!("127.0.0.1:{port}/app:1");
        let message = lookup_failure(&api, &image).await;
        for telling in [
            "refused",
            "reset",
            "closed",
            "incomplete",
            "invalid",
            "ssh",
            "os error",
        ] {
            assert!(
                !message.to_lowercase().contains(telling),
                "{image}: the answer tells what listens there: {message}"
            );
        }
        said.push(message.replace(&image, "IMAGE"));
    }
    assert!(
        said.iter().all(|message| *message == said[0]),
        "every failure reads alike: {said:?}"
    );
    console.stop().await;
}

#[test]
fn a_proxy_from_the_environment_is_never_used_for_lookups() {
    // The proxy records what reaches it; the registry answers 404 (a lookup that got there).
    let proxy = Hostile::start(|_| Answer::new(502));
    let registry = Hostile::start(|_| Answer::new(404));
    let image = format!("{}/app:1", registry.host);
    let output = crate::common::palisade_with(&["resolve", &image], "", |command| {
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            command.env(name, format!("http://{}", proxy.host));
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy");
    });
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(proxy.seen().is_empty(), "the proxy saw {:?}", proxy.seen());
    assert!(!registry.seen().is_empty(), "the registry was asked itself");
}
