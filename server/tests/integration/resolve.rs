//! Entrypoints read from a real registry on loopback: Debian's `docker-registry`, with test images
//! built by `umoci` (entrypoint and cmd set or not) and pushed by `skopeo`; a multi-arch index put
//! together through the registry API. `scripts/setup --test` installs the three.

use crate::common::registry::{Access, Registry, TokenIssuer};
use crate::common::{aws_env, palisade, palisade_with, Api, Console, Moto};
use palisade_test_support::corpus::corpus;
use serde_json::{json, Value};
use std::process::Command;

use crate::common::free_port;

#[test]
fn entrypoints_come_from_the_registry_by_dockers_rules() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path());
    let host = registry.host.clone();
    registry.push(
        dir.path(),
        "library/web",
        "1",
        "amd64",
        &["/docker-entrypoint.sh"],
        &["nginx", "-g", "daemon off;"],
    );
    registry.push(
        dir.path(),
        "tools/worker",
        "2",
        "amd64",
        &[],
        &["python", "worker.py"],
    );
    registry.push(dir.path(), "tools/empty", "1", "amd64", &[], &[]);
    registry.push(
        dir.path(),
        "multi/app",
        "amd64",
        "amd64",
        &["/app-amd64"],
        &[],
    );
    registry.push(
        dir.path(),
        "multi/app",
        "arm64",
        "arm64",
        &["/app-arm64"],
        &["serve"],
    );
    registry.push_index("multi/app", "1", &[("amd64", "amd64"), ("arm64", "arm64")]);

    // `palisade resolve` prints what was found, with the digest.
    let resolved = palisade(&["resolve", &format!("{host}/library/web:1")], "");
    assert!(
        resolved.status.success(),
        "{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    let config: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(config["entrypoint"], json!(["/docker-entrypoint.sh"]));
    assert_eq!(config["cmd"], json!(["nginx", "-g", "daemon off;"]));
    assert!(config["digest"].as_str().unwrap().starts_with("sha256:"));

    // A multi-arch index: the platform picks the image.
    let arm = palisade(
        &[
            "resolve",
            &format!("{host}/multi/app:1"),
            "--platform",
            "linux/arm64",
        ],
        "",
    );
    let arm: Value = serde_json::from_slice(&arm.stdout).unwrap();
    assert_eq!(
        (arm["entrypoint"].clone(), arm["cmd"].clone()),
        (json!(["/app-arm64"]), json!(["serve"]))
    );
    let amd: Value =
        serde_json::from_slice(&palisade(&["resolve", &format!("{host}/multi/app:1")], "").stdout)
            .unwrap();
    assert_eq!(amd["entrypoint"], json!(["/app-amd64"]));
    assert_ne!(amd["digest"], arm["digest"]);

    // The same with Docker's media types (schema 2 manifests under a manifest list).
    let mut docker = Registry::start(dir.path());
    docker.docker_media_types = true;
    for (arch, entrypoint) in [("amd64", "/d-amd64"), ("arm64", "/d-arm64")] {
        docker.push(dir.path(), "docker/app", arch, arch, &[entrypoint], &[]);
    }
    docker.push_index("docker/app", "1", &[("amd64", "amd64"), ("arm64", "arm64")]);
    for (platform, entrypoint) in [("linux/amd64", "/d-amd64"), ("linux/arm64", "/d-arm64")] {
        let found = palisade(
            &[
                "resolve",
                &format!("{}/docker/app:1", docker.host),
                "--platform",
                platform,
            ],
            "",
        );
        let found: Value = serde_json::from_slice(&found.stdout).unwrap();
        assert_eq!(found["entrypoint"], json!([entrypoint]), "{platform}");
    }

    // Failures name the image and the reason, and never guess.
    let missing = palisade(&["resolve", &format!("{host}/library/web:404")], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    for template in [
        "${IMAGE}",
        "<IMAGE1_NAME>",
        "$ACCOUNT.dkr.ecr.us-east-1.amazonaws.com/app:1",
    ] {
        let placeholder = palisade(&["resolve", template], "");
        assert!(
            String::from_utf8_lossy(&placeholder.stderr).contains("is a placeholder"),
            "{template}"
        );
    }
    let down = palisade(&["resolve", &format!("127.0.0.1:{}/x:1", free_port())], "");
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("could not be reached"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );

    // Protect resolves what is missing, by Docker's rules: entryPoint given -> untouched;
    // no entryPoint and no command -> ENTRYPOINT + CMD; a command -> ENTRYPOINT only; CMD only
    // -> the CMD; an ARM64 task -> the arm64 image.
    let task = json!({
        "family": "shop", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "512", "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [
            {"name": "web", "image": format!("{host}/library/web:1")},
            {"name": "web-cmd", "image": format!("{host}/library/web:1"), "command": ["nginx", "-T"]},
            {"name": "worker", "image": format!("{host}/tools/worker:2")},
            {"name": "app", "image": format!("{host}/multi/app:1")},
            {"name": "own", "image": format!("{host}/tools/empty:1"), "entryPoint": ["/own"]}
        ]
    });
    let protected = palisade(
        &[
            "protect",
            "--token-secret",
            "arn:aws:ssm:us-east-1:1:parameter/t",
            "--console-url",
            "https://c",
        ],
        &task.to_string(),
    );
    let stderr = String::from_utf8_lossy(&protected.stderr);
    assert!(protected.status.success(), "{stderr}");
    let output: Value = serde_json::from_slice(&protected.stdout).unwrap();
    let containers = output["containerDefinitions"].as_array().unwrap();
    let wrapped = |i: usize| containers[i]["entryPoint"].as_array().unwrap()[3..].to_vec();
    assert_eq!(wrapped(0), vec![json!("/docker-entrypoint.sh")]);
    assert_eq!(
        containers[0]["command"],
        json!(["nginx", "-g", "daemon off;"])
    );
    assert_eq!(wrapped(1), vec![json!("/docker-entrypoint.sh")]);
    assert_eq!(
        containers[1]["command"],
        json!(["nginx", "-T"]),
        "the task's command is kept"
    );
    assert!(wrapped(2).is_empty() && containers[2]["command"] == json!(["python", "worker.py"]));
    assert_eq!(wrapped(3), vec![json!("/app-arm64")]);
    assert_eq!(wrapped(4), vec![json!("/own")]);
    assert!(
        stderr.contains(&format!(
            "entrypoint of `web` from image {host}/library/web@sha256:"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("`own`"),
        "given entrypoints are not looked up"
    );

    // Unprotect gives back the original containers: no entryPoint where there was none.
    let unprotected = palisade(&["unprotect"], &String::from_utf8_lossy(&protected.stdout));
    let original: Value = serde_json::from_slice(&unprotected.stdout).unwrap();
    assert!(original["containerDefinitions"][0]
        .get("entryPoint")
        .is_none());
    assert!(original["containerDefinitions"][0].get("command").is_none());

    // An image with neither ENTRYPOINT nor CMD, and --no-resolve: refused, with the reason.
    let empty = json!({"family": "e", "containerDefinitions": [{"name": "bare", "image": format!("{host}/tools/empty:1"), "memory": 64}]});
    let refused = palisade(&["protect"], &empty.to_string());
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("neither ENTRYPOINT nor CMD"));
    let not_resolved = palisade(&["protect", "--no-resolve"], &task.to_string());
    assert_eq!(not_resolved.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&not_resolved.stderr).contains("from image"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_resolves_by_default_caches_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path());
    let host = registry.host.clone();
    let build_dir = dir.path().to_owned();
    let registry = tokio::task::spawn_blocking(move || {
        registry.push(
            &build_dir,
            "library/web",
            "1",
            "amd64",
            &["/docker-entrypoint.sh"],
            &["nginx", "-g", "daemon off;"],
        );
        registry
    })
    .await
    .unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let api = Api::new(&console);
    let protect = |task: Value, options: Value| {
        api.send(
            reqwest::Method::POST,
            "/protect",
            json!({"input": task, "options": options}),
        )
    };
    let task = |image: String| json!({"family": "web", "containerDefinitions": [{"name": "web", "image": image, "memory": 128}]});
    let options =
        json!({"token_secret": "arn:aws:ssm:us-east-1:1:parameter/t", "console_url": "https://c"});

    let (status, body) = protect(task(format!("{host}/library/web:1")), options.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["output"]["containerDefinitions"][0]["command"],
        json!(["nginx", "-g", "daemon off;"])
    );
    let resolution = &body["resolutions"][0];
    assert_eq!(resolution["container"], "web");
    assert!(
        resolution["found"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{resolution}"
    );

    // The registry goes away: the cached answer still serves the same tag.
    drop(registry);
    let (status, body) = protect(task(format!("{host}/library/web:1")), options.clone()).await;
    assert_eq!(status, 200, "from the cache: {body}");

    // Not cached and unreachable: refused, and the problem says why the lookup failed.
    let (status, body) = protect(task(format!("{host}/library/web:2")), options.clone()).await;
    assert_eq!(status, 422);
    let message = body["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("reading it from the registry failed")
            && message.contains("could not be reached"),
        "{message}"
    );

    // Turned off: not looked up at all.
    let mut off = options.clone();
    off["no_resolve"] = json!(true);
    let (status, body) = protect(task(format!("{host}/library/web:1")), off).await;
    assert_eq!(status, 422);
    assert!(!body["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("registry"));

    // What the user gives wins over the registry.
    let mut given = options.clone();
    given["entrypoints"] = json!({"web": ["/mine"]});
    let (status, body) = protect(task(format!("{host}/library/web:1")), given).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["output"]["containerDefinitions"][0]["entryPoint"][3],
        "/mine"
    );
    assert_eq!(body["resolutions"], json!([]));

    // Registry credentials over REST: references only, validated, listed without secrets.
    use reqwest::Method;
    let registry_path = "/registries/registry.example.com:5000";
    let put = |body: Value| api.send(Method::PUT, registry_path, body);
    assert_eq!(
        put(json!({"username": "ci", "password_ref": "hunter2"}))
            .await
            .0,
        422
    );
    assert_eq!(
        put(json!({"username": "ci", "password_ref": "env:PALISADE_REGISTRY_CI"}))
            .await
            .0,
        204
    );
    assert_eq!(
        api.get("/registries").await["registries"],
        json!([{"registry": "registry.example.com:5000", "username": "ci", "password_ref": "env:PALISADE_REGISTRY_CI", "endpoint": null, "credentials_to_endpoint": false}])
    );
    assert_eq!(api.status(Method::DELETE, registry_path).await, 204);
    assert_eq!(api.status(Method::DELETE, registry_path).await, 404);
    console.stop().await;
}

#[test]
fn a_registry_that_requires_a_password_is_read_with_the_consoles_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(dir.path(), Some(("alice", "s3cret")));
    let host = registry.host.clone();
    registry.push(
        dir.path(),
        "private/api",
        "1",
        "amd64",
        &["/api"],
        &["--port", "80"],
    );
    let image = format!("{host}/private/api:1");
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let palisade_with = |args: &[&str], password: &str| {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .env("PALISADE_DATABASE_URL", &database)
            .env("PALISADE_REGISTRY_PASSWORD", password)
            .output()
            .unwrap()
    };

    // Without credentials: unauthorized, said so.
    let anonymous = palisade(&["resolve", &image], "");
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("unauthorized"));

    // Credentials are a user name and a reference to the password, never the password itself.
    let refused = palisade_with(
        &[
            "registry",
            "set",
            &host,
            "--username",
            "alice",
            "--password-ref",
            "s3cret",
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("env:PALISADE_REGISTRY_<NAME>"));
    let set = palisade_with(
        &[
            "registry",
            "set",
            &host,
            "--username",
            "alice",
            "--password-ref",
            "env:PALISADE_REGISTRY_PASSWORD",
        ],
        "",
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let listed = String::from_utf8(palisade_with(&["registry", "list"], "").stdout).unwrap();
    assert_eq!(
        listed,
        format!("{host}\talice\tenv:PALISADE_REGISTRY_PASSWORD\t-\n")
    );

    // A wrong password is refused (and nothing is cached); the right one reads the config.
    let wrong = palisade_with(&["resolve", &image], "wrong");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let right = palisade_with(&["resolve", &image], "s3cret");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let config: Value = serde_json::from_slice(&right.stdout).unwrap();
    assert_eq!(
        (config["entrypoint"].clone(), config["cmd"].clone()),
        (json!(["/api"]), json!(["--port", "80"]))
    );
    assert!(palisade_with(&["registry", "remove", &host], "")
        .status
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_protects_with_entrypoints_from_the_registry() {
    use palisade_taskdef::{normalize_text, protect_text, to_pretty, ProtectOptions, TokenSource};
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path());
    let host = registry.host.clone();

    // Every image of the corpus gets a stand-in in the loopback registry (an ENTRYPOINT and a CMD
    // of its own), except placeholders, which must stay unresolved.
    let mut rewritten = Vec::new();
    let mut images = std::collections::BTreeMap::new();
    for (name, text) in corpus() {
        let Ok(mut normalized) = normalize_text(&text) else {
            rewritten.push((name, None));
            continue;
        };
        if let Some(serde_json::Value::Array(containers)) =
            normalized.task.get_mut("containerDefinitions")
        {
            for container in containers.iter_mut() {
                let Some(image) = container
                    .get("image")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                if palisade_taskdef::validate::looks_like_placeholder(&image) || image.is_empty() {
                    continue;
                }
                let next = images.len();
                let tag = images
                    .entry(image)
                    .or_insert_with(|| format!("i{next}"))
                    .clone();
                container["image"] = json!(format!("{host}/corpus/image:{tag}"));
            }
        }
        let text = match normalized.form {
            palisade_taskdef::InputForm::ContainerDefinitions => {
                to_pretty(&normalized.task["containerDefinitions"])
            }
            _ => to_pretty(&Value::Object(normalized.task)),
        };
        rewritten.push((name, Some(text)));
    }
    let build_dir = dir.path().to_owned();
    let tags: Vec<String> = images.values().cloned().collect();
    let registry = tokio::task::spawn_blocking(move || {
        for tag in &tags {
            let entrypoint = format!("/entrypoint-{tag}");
            registry.push(
                &build_dir,
                "corpus/image",
                tag,
                "amd64",
                &[&entrypoint],
                &["run"],
            );
        }
        registry
    })
    .await
    .unwrap();

    let options = ProtectOptions {
        console_url: Some("https://console.example".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:ssm:us-east-1:1:parameter/t".into(),
        )),
        ..ProtectOptions::default()
    };
    let (mut with, mut without) = (0, 0);
    let mut refused = Vec::new();
    let aws = palisade_console::aws::Aws::default();
    let lookups = palisade_console::images::Images::without_database(&aws);
    for (name, text) in &rewritten {
        let Some(text) = text else {
            refused.push(format!("{name}: does not parse"));
            continue;
        };
        if protect_text(text, &options).is_ok() {
            without += 1;
        }
        let mut resolved = options.clone();
        let resolutions = lookups.resolve_missing(text, &mut resolved).await.unwrap();
        match protect_text(text, &resolved) {
            Ok(_) => with += 1,
            Err(rejected) => refused.push(format!(
                "{name}: {} ({})",
                rejected.problems[0].message,
                resolutions
                    .iter()
                    .filter_map(|r| r.result.as_ref().err())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
    eprintln!(
        "corpus: {with} of {} files protect with entrypoints from the registry ({without} without); {} images stand in; refused:\n  {}",
        rewritten.len(),
        images.len(),
        refused.join("\n  ")
    );
    assert!(
        with > without,
        "resolution must make more of the corpus protectable: {with} vs {without}"
    );
    // Every refusal has a reason that is not a missing entrypoint the registry could have given.
    for line in &refused {
        assert!(!line.contains("which Palisade does not know ()"), "{line}");
    }
    drop(registry);
}

/// An ECR image: the login comes from GetAuthorizationToken (moto's ECR) with the AWS chain, and
/// the registry, an ECR host name, is reached at a loopback endpoint set for it: the registry
/// requires exactly the user and password moto's token carries.
#[test]
fn an_ecr_image_is_read_with_a_login_from_the_aws_chain() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    // moto's token is base64("AWS:<account>-auth-token"), the account of its default credentials.
    let registry = Registry::start_with(dir.path(), Some(("AWS", "123456789012-auth-token")));
    registry.push(
        dir.path(),
        "team/api",
        "v3",
        "amd64",
        &["/srv/api"],
        &["--serve"],
    );
    let ecr_host = "123456789012.dkr.ecr.eu-west-3.amazonaws.com";
    let image = format!("{ecr_host}/team/api:v3");
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let console = |args: &[&str], aws: bool| {
        palisade_with(args, "", |command| {
            aws_env(command, &moto.url);
            command.env("PALISADE_DATABASE_URL", &database);
            if !aws {
                command
                    .env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY");
            }
        })
    };
    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();

    // ECR hosts need no credentials of their own, but their login goes to an endpoint only when
    // that is said in so many words.
    let endpoint = format!("http://{}", registry.host);
    let unconfirmed = console(
        &["registry", "set", ecr_host, "--endpoint", &endpoint],
        true,
    );
    assert!(
        stderr(&unconfirmed).contains("the ECR login of"),
        "{}",
        stderr(&unconfirmed)
    );
    let set = console(
        &[
            "registry",
            "set",
            ecr_host,
            "--endpoint",
            &endpoint,
            "--credentials-to-endpoint",
        ],
        true,
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let listed = String::from_utf8(console(&["registry", "list"], true).stdout).unwrap();
    assert_eq!(
        listed,
        format!("{ecr_host}\t-\t-\t{endpoint}\t(credentials go to the endpoint)\n")
    );
    let bad_endpoint = console(
        &["registry", "set", ecr_host, "--endpoint", "127.0.0.1:5000"],
        true,
    );
    assert!(
        stderr(&bad_endpoint).contains("https://host[:port]"),
        "{}",
        stderr(&bad_endpoint)
    );

    // No AWS credentials: no login, and the reason says what to set.
    let no_login = console(&["resolve", &image], false);
    assert_eq!(no_login.status.code(), Some(1));
    assert!(
        stderr(&no_login).contains("no ECR login")
            && stderr(&no_login).contains("no AWS credentials"),
        "{}",
        stderr(&no_login)
    );

    // With them: the config is read, and protect wraps the image's argv.
    let resolved = console(&["resolve", &image], true);
    assert!(resolved.status.success(), "{}", stderr(&resolved));
    let config: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(
        (config["entrypoint"].clone(), config["cmd"].clone()),
        (json!(["/srv/api"]), json!(["--serve"]))
    );
    let task = json!({"family": "api", "containerDefinitions": [{"name": "api", "image": format!("{ecr_host}/team/api:v3@{}", config["digest"].as_str().unwrap()), "memory": 128}]});
    let protected = palisade_with(
        &[
            "protect",
            "--token-secret",
            "arn:aws:ssm:eu-west-3:1:parameter/t",
            "--console-url",
            "https://c",
        ],
        &task.to_string(),
        |command| {
            aws_env(command, &moto.url);
            command.env("PALISADE_DATABASE_URL", &database);
        },
    );
    assert!(protected.status.success(), "{}", stderr(&protected));
    let output: Value = serde_json::from_slice(&protected.stdout).unwrap();
    let api = &output["containerDefinitions"][0];
    assert_eq!(
        (api["entryPoint"][3].clone(), api["command"].clone()),
        (json!("/srv/api"), json!(["--serve"]))
    );

    // Endpoint-only settings are removed like any other.
    assert!(console(&["registry", "remove", ecr_host], true)
        .status
        .success());
    assert_eq!(console(&["registry", "list"], true).stdout, b"");
}

/// Docker Hub's way (also GHCR's, Quay's, public ECR's): anonymous pulls through the token flow,
/// `nginx` meaning `docker.io/library/nginx`. Docker Hub itself is out of reach, so `docker.io`
/// is pointed at a loopback registry that only takes the issuer's tokens.
#[test]
fn a_public_registry_is_read_through_the_anonymous_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = TokenIssuer::start(dir.path());
    let registry = Registry::start_as(dir.path(), Access::Token(&issuer));
    registry.push(
        dir.path(),
        "library/nginx",
        "1.27",
        "amd64",
        &["/docker-entrypoint.sh"],
        &["nginx", "-g", "daemon off;"],
    );
    let manifest = format!("http://{}/v2/library/nginx/manifests/1.27", registry.host);
    let refused = reqwest::blocking::get(&manifest).unwrap();
    assert_eq!(refused.status(), 401, "no token, no manifest");
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm="));

    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let console = |args: &[&str]| {
        palisade_with(args, "", |command| {
            command.env("PALISADE_DATABASE_URL", &database);
        })
    };
    let endpoint = format!("http://{}", registry.host);
    assert!(
        console(&["registry", "set", "docker.io", "--endpoint", &endpoint])
            .status
            .success()
    );
    issuer.scopes.lock().unwrap().clear();
    let resolved = console(&["resolve", "nginx:1.27"]);
    assert!(
        resolved.status.success(),
        "{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    let config: Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(
        (config["entrypoint"].clone(), config["cmd"].clone()),
        (
            json!(["/docker-entrypoint.sh"]),
            json!(["nginx", "-g", "daemon off;"])
        )
    );
    assert_eq!(config["image"], "nginx:1.27");
    assert_eq!(
        *issuer.scopes.lock().unwrap(),
        ["repository:library/nginx:pull"],
        "one anonymous token, for pulling library/nginx"
    );
}
