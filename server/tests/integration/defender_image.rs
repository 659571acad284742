//! The defender image the console publishes, against real registries: Debian's docker-registry on
//! loopback (open, and one that requires moto's ECR login), inspected with skopeo and unpacked with
//! umoci. Needs the static defender binaries (`scripts/build-defender`; `scripts/test` builds them).

use crate::common::{palisade_with, Api, Console};
use palisade_console::defender_image::binaries;
use palisade_test_support::registry::Registry;
use palisade_test_support::{aws_env, moto_call, Moto};
use serde_json::{json, Value};
use std::process::{Command, Output};

/// Says plainly what to run when the binaries are not there.
fn require_binaries() {
    if let Err(missing) = binaries::locate(&binaries::search_dirs(None)) {
        panic!("these tests publish the real defender binaries: {missing}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The pinned reference alone on the last line of stdout.
fn last_line(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo must be installed (scripts/setup --test installs it)");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        text(&output.stderr)
    );
    output.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_publishes_its_defender_image_and_uses_it_from_then_on() {
    require_binaries();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path());
    let repository = format!("{}/palisade/defender", registry.host);
    let database = dir.path().join("palisade.db");
    let database_url = format!("sqlite://{}", database.display());
    let cli = |args: &[&str], stdin: &str| {
        palisade_with(args, stdin, |command| {
            command.env("PALISADE_DATABASE_URL", &database_url);
        })
    };

    // Before anything is published Generate says so, with the way out.
    let task = json!({
        "family": "web", "memory": "512", "containerDefinitions": [{ "name": "web", "image": "nginx:1", "entryPoint": ["/srv/web"] }]
    })
    .to_string();
    let before = cli(&["protect", "--no-resolve", "-"], &task);
    assert!(
        text(&before.stderr).contains("no defender image is published yet: publish it in Settings"),
        "{}",
        text(&before.stderr)
    );

    let published = cli(
        &["defender-image", "publish", "--repository", &repository],
        "",
    );
    let reference = last_line(&published);
    let digest = reference
        .strip_prefix(&format!("{repository}@"))
        .unwrap_or_else(|| panic!("not pinned by digest: {reference}"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{reference}"
    );
    assert!(
        text(&published.stderr).contains("linux/amd64, linux/arm64"),
        "{}",
        text(&published.stderr)
    );

    // An index with both platforms, each a manifest of one layer whose config runs the binary.
    let index: Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
    .unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    let config: Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &format!("docker://{reference}"),
    ]))
    .unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/palisade-defender"])
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );

    // The amd64 image unpacks to an executable defender that runs.
    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--override-arch",
        "amd64",
        &format!("docker://{reference}"),
        &format!("oci:{}:amd64", layout.display()),
    ]);
    let bundle = dir.path().join("bundle");
    let unpacked = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:amd64", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci must be installed (scripts/setup --test installs it)");
    assert!(unpacked.status.success(), "{}", text(&unpacked.stderr));
    let defender = bundle.join("rootfs/palisade-defender");
    let ran = Command::new(&defender).arg("version").output().unwrap();
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    assert!(
        text(&ran.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        text(&ran.stdout)
    );

    // Again with the same binaries: the same digest, nothing pushed.
    let again = cli(
        &["defender-image", "publish", "--repository", &repository],
        "",
    );
    assert_eq!(last_line(&again), reference);
    assert!(
        text(&again.stderr).contains("0 blobs and 0 manifests pushed, 4 and 3 already there"),
        "{}",
        text(&again.stderr)
    );

    // The command line with the console's database protects with the published image, silently.
    let after = cli(&["protect", "--no-resolve", "-"], &task);
    let output: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(
        output["containerDefinitions"][1]["image"],
        reference.as_str()
    );
    assert!(
        !text(&after.stderr).contains("no defender image"),
        "{}",
        text(&after.stderr)
    );

    // So do the console's REST API and its Generate; the page's field still overrides it.
    let console = Console::start(&database).await;
    let api = Api::new(&console);
    assert_eq!(
        api.get("/defender-image").await["reference"],
        reference.as_str()
    );
    let (status, protected) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({ "input": task, "options": { "no_resolve": true } }),
        )
        .await;
    assert_eq!(status, 200, "{protected}");
    let defender_image = |answer: &Value| {
        let output: Value = match &answer["output"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        output["containerDefinitions"][1]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(defender_image(&protected), reference);
    let (_, overridden) = api
        .send(
            reqwest::Method::POST,
            "/protect",
            json!({ "input": task, "options": { "no_resolve": true, "defender_image": "mirror.example/defender:1" } }),
        )
        .await;
    assert_eq!(
        defender_image(&overridden),
        "mirror.example/defender:1",
        "{overridden}"
    );

    // Publishing through the API is the same publication.
    let (status, answer) = api
        .send(
            reqwest::Method::POST,
            "/defender-image",
            json!({ "repository": repository }),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["reference"], reference.as_str());
    assert_eq!(
        (
            answer["blobs_pushed"].as_u64(),
            answer["manifests_pushed"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let (status, refused) = api
        .send(
            reqwest::Method::POST,
            "/defender-image",
            json!({ "repository": format!("{repository}@{digest}") }),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    console.stop().await;
}

/// Without a repository the image goes to the account's ECR: the registry host from
/// GetAuthorizationToken (moto), the repository created (scan on push, immutable tags), the push
/// with ECR's login to a loopback registry that requires exactly it.
#[test]
fn by_default_the_image_goes_to_the_accounts_ecr_with_its_login() {
    require_binaries();
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let registry = Registry::start_with(dir.path(), Some(("AWS", "123456789012-auth-token")));
    let ecr_host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let cli = |args: &[&str]| {
        palisade_with(args, "", |command| {
            aws_env(command, &moto.url);
            command.env("PALISADE_DATABASE_URL", &database);
        })
    };
    let endpoint = format!("http://{}", registry.host);
    let set = cli(&[
        "registry",
        "set",
        ecr_host,
        "--endpoint",
        &endpoint,
        "--credentials-to-endpoint",
    ]);
    assert!(set.status.success(), "{}", text(&set.stderr));

    let published = cli(&["defender-image", "publish"]);
    let reference = last_line(&published);
    assert!(
        reference.starts_with(&format!("{ecr_host}/palisade/defender@sha256:")),
        "{reference}"
    );
    assert!(
        text(&published.stderr).contains("the ECR repository was created"),
        "{}",
        text(&published.stderr)
    );
    let repositories = moto_call(
        &moto.url,
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        json!({}),
    );
    let created = &repositories["repositories"][0];
    assert_eq!(
        created["repositoryName"], "palisade/defender",
        "{repositories}"
    );
    assert_eq!(created["imageTagMutability"], "IMMUTABLE");
    assert_eq!(created["imageScanningConfiguration"]["scanOnPush"], true);

    // What the loopback registry holds is the pinned index, behind the login.
    let digest = reference.rsplit_once('@').unwrap().1;
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "AWS:123456789012-auth-token",
        &format!("docker://{}/palisade/defender@{digest}", registry.host),
    ]);
    let again = cli(&["defender-image", "publish"]);
    assert_eq!(last_line(&again), reference);
    assert!(
        !text(&again.stderr).contains("was created"),
        "{}",
        text(&again.stderr)
    );

    // Without AWS credentials there is no login, and the message says what to set.
    let refused = palisade_with(&["defender-image", "publish"], "", |command| {
        aws_env(command, &moto.url);
        command
            .env("PALISADE_DATABASE_URL", &database)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    });
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("no AWS credentials"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn missing_binaries_are_named_with_how_to_build_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = palisade_with(
        &[
            "defender-image",
            "publish",
            "--repository",
            "127.0.0.1:9/palisade/defender",
        ],
        "",
        |command| {
            command
                .env(
                    "PALISADE_DATABASE_URL",
                    format!("sqlite://{}", dir.path().join("p.db").display()),
                )
                .env("PALISADE_DEFENDER_BINARIES", dir.path());
        },
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no linux/amd64 defender binary")
            && stderr.contains("no linux/arm64 defender binary")
            && stderr.contains("scripts/build-defender"),
        "{stderr}"
    );
}
