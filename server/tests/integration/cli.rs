//! `palisade protect` / `unprotect` as a pipeline sees them: stdout, stderr, exit codes.

use crate::common::palisade;
use std::process::Command;

const TASK: &str = r#"{"family":"web","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
"containerDefinitions":[{"name":"web","image":"nginx:1.27","portMappings":[{"containerPort":80}]}]}"#;

#[test]
fn protect_prints_json_and_unprotect_inverts_it() {
    let protected = palisade(
        &[
            "protect",
            "-",
            "--entrypoint",
            r#"web=["/docker-entrypoint.sh","nginx","-g","daemon off;"]"#,
            "--token-secret",
            "arn:aws:ssm:eu-west-1:1:parameter/t",
            "--console-url",
            "https://c",
        ],
        TASK,
    );
    assert!(
        protected.status.success(),
        "{}",
        String::from_utf8_lossy(&protected.stderr)
    );
    let output: serde_json::Value = serde_json::from_slice(&protected.stdout).unwrap();
    assert_eq!(
        output["containerDefinitions"][0]["entryPoint"][0],
        "/palisade/palisade-defender"
    );

    let back = palisade(
        &["unprotect"],
        std::str::from_utf8(&protected.stdout).unwrap(),
    );
    assert!(back.status.success());
    let original = palisade(&["unprotect"], TASK);
    assert_eq!(
        back.stdout, original.stdout,
        "unprotect(protect(x)) == normalize(x)"
    );
}

#[test]
fn bad_input_exits_2_with_the_place_on_stderr_and_nothing_on_stdout() {
    let output = palisade(&["protect"], "{\n  \"family\": \"a\",\n}");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3, column 1"), "{stderr}");
}

#[test]
fn a_missing_entrypoint_names_the_container_and_the_flag() {
    let output = palisade(&["protect"], TASK);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("container `web` has no entryPoint"),
        "{stderr}"
    );
    assert!(stderr.contains("--entrypoint 'web="), "{stderr}");
}

#[test]
fn summary_goes_to_stderr_and_a_plain_token_is_warned_about() {
    let output = palisade(
        &["protect", "--summary", "--token", "abc", "--exclude", "web"],
        TASK,
    );
    // Excluding the only container leaves nothing to protect.
    assert_eq!(output.status.code(), Some(2));

    let output = palisade(
        &[
            "protect",
            "--summary",
            "--token",
            "abc",
            "--entrypoint",
            r#"web=["/e"]"#,
        ],
        TASK,
    );
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("added container palisade-defender"),
        "{stderr}"
    );
    assert!(stderr.contains("ecs:DescribeTaskDefinition"), "{stderr}");
}

#[test]
fn a_vendors_flags_build_its_profile_and_another_profiles_flag_is_named() {
    let entrypoint = r#"web=["/e"]"#;
    let output = palisade(
        &[
            "protect",
            "--entrypoint",
            entrypoint,
            "--profile",
            "datadog-cws",
            "--datadog-api-key",
            "0123456789abcdef",
            "--datadog-site",
            "datadoghq.eu",
        ],
        TASK,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let task: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let agent = task["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|container| container["name"] == "datadog-agent")
        .expect("the Datadog agent is added");
    let environment = agent["environment"].to_string();
    assert!(
        environment.contains("0123456789abcdef") && environment.contains("datadoghq.eu"),
        "the plain key and the site reach the agent: {environment}"
    );
    assert!(
        stderr.contains("DD_API_KEY is in plain `environment`"),
        "{stderr}"
    );

    for (flags, says) in [
        (
            &["--profile", "datadog-cws", "--sysdig-collector", "a:1"][..],
            "--sysdig-collector do not apply to --profile datadog-cws",
        ),
        (
            &["--datadog-site", "datadoghq.eu"][..],
            "--datadog-site do not apply to --profile palisade",
        ),
        (&["--profile", "aqua"][..], "unknown profile `aqua`"),
        (
            &[
                "--profile",
                "sysdig-serverless",
                "--sysdig-priority",
                "high",
            ][..],
            "unknown Sysdig priority `high`",
        ),
    ] {
        let mut args = vec!["protect", "--entrypoint", entrypoint];
        args.extend_from_slice(flags);
        let output = palisade(&args, TASK);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = palisade(&["protect", "/nonexistent/task.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("reading /nonexistent/task.json"));
}

#[test]
fn diff_shows_the_wrapped_entrypoint_on_stderr() {
    let output = palisade(
        &["protect", "--diff", "--entrypoint", r#"web=["/e"]"#],
        TASK,
    );
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--- normalized"), "{stderr}");
    assert!(stderr.contains("+++ protected"), "{stderr}");
    assert!(stderr.contains("+      \"entryPoint\": ["), "{stderr}");
}

#[test]
fn tokens_and_defenders_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .env("PALISADE_DATABASE_URL", &database)
            .output()
            .unwrap()
    };
    let created = run(&["token", "create", "--family", "billing", "--label", "ci"]);
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap();
    assert!(
        token.trim().starts_with("pal_"),
        "only the token on stdout: {token}"
    );
    assert!(String::from_utf8_lossy(&created.stderr).contains("not shown again"));
    let refused = run(&["token", "create", "--family", "bad family"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a task definition family"));

    let listed = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert_eq!(listed, "1\tbilling\tactive\tci\n");
    assert!(run(&["token", "revoke", "1"]).status.success());
    assert_eq!(run(&["token", "revoke", "1"]).status.code(), Some(1));
    assert!(String::from_utf8(run(&["token", "list"]).stdout)
        .unwrap()
        .contains("revoked"));

    let defenders = run(&["defenders"]);
    assert_eq!(
        String::from_utf8(defenders.stdout).unwrap(),
        "0 connected, 0 disconnected\n"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["defenders", "--json"]).stdout).unwrap();
    assert_eq!(json["total"], 0);
    let bad = run(&["defenders", "--status", "gone"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not one of connected, disconnected"));
}

#[test]
fn people_and_pipeline_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let run = |args: &[&str], stdin: &str| {
        crate::common::palisade_with(args, stdin, |command| {
            command.env("PALISADE_DATABASE_URL", &database);
        })
    };
    let added = run(
        &["user", "add", "alice", "--role", "operator"],
        "correct horse battery\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let short = run(&["user", "add", "bob", "--role", "viewer"], "short\n");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let no_role = run(
        &["user", "add", "bob", "--role", "root"],
        "correct horse battery\n",
    );
    assert!(String::from_utf8_lossy(&no_role.stderr).contains("admin, operator or viewer"));
    assert_eq!(
        String::from_utf8(run(&["user", "list"], "").stdout).unwrap(),
        "alice\toperator\tlocal\n"
    );
    assert!(run(&["user", "passwd", "alice"], "another long password\n")
        .status
        .success());
    assert_eq!(
        run(&["user", "passwd", "nobody"], "another long password\n")
            .status
            .code(),
        Some(1)
    );

    let created = run(
        &[
            "api-token",
            "create",
            "--role",
            "operator",
            "--label",
            "deploy",
        ],
        "",
    );
    assert!(created.status.success());
    let stdout = String::from_utf8(created.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert!(
        token.starts_with("plt_") && token.len() == 68,
        "the token alone on the last line: {stdout}"
    );
    let listed = String::from_utf8(run(&["api-token", "list"], "").stdout).unwrap();
    assert!(
        listed.starts_with("1\toperator\tactive\t") && listed.trim_end().ends_with("deploy"),
        "{listed}"
    );
    assert!(!listed.contains(token), "values are never listed");
    assert!(run(&["api-token", "revoke", "1"], "").status.success());
    assert_eq!(
        run(&["api-token", "revoke", "1"], "").status.code(),
        Some(1)
    );
    let promoted = run(&["user", "role", "alice", "admin"], "");
    assert!(promoted.status.success());
    assert!(String::from_utf8_lossy(&promoted.stderr).contains("alice is now admin"));
    assert_eq!(
        String::from_utf8(run(&["user", "list"], "").stdout).unwrap(),
        "alice\tadmin\tlocal\n"
    );
    let last_admin = run(&["user", "role", "alice", "viewer"], "");
    assert_eq!(
        last_admin.status.code(),
        Some(1),
        "the last admin stays one"
    );
    assert!(String::from_utf8_lossy(&last_admin.stderr).contains("last admin"));
    let last_admin = run(&["user", "remove", "alice"], "");
    assert_eq!(last_admin.status.code(), Some(1), "and is not removed");
    assert!(run(
        &["user", "add", "bob", "--role", "admin"],
        "correct horse battery\n"
    )
    .status
    .success());
    assert!(run(&["user", "remove", "alice"], "").status.success());
}

#[tokio::test]
async fn the_first_start_creates_an_admin_with_a_password_shown_once() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("serve")
        .env("PALISADE_ADDR", "127.0.0.1:0")
        .env("PALISADE_DEFENDER_ADDR", "127.0.0.1:0")
        .env(
            "PALISADE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("p.db").display()),
        )
        .env_remove("PALISADE_ADMIN_PASSWORD")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read on a thread of its own to the end: the console must never write to a closed pipe.
    let stderr = std::io::BufReader::new(serve.stderr.take().unwrap());
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let (mut password, mut base) = (None, None);
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(30)) {
        if let Some(rest) = line.split("with the password ").nth(1) {
            password = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.split("reach the console at ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_owned);
        }
        if password.is_some() && base.is_some() {
            break;
        }
    }
    let (password, base) = (password.expect("the password is logged"), base.unwrap());
    let signed_in = reqwest::Client::new()
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    // Closed by default: nothing without signing in but the health check.
    let closed = reqwest::get(format!("{base}/api/v1/defenders"))
        .await
        .unwrap();
    assert_eq!(closed.status(), 401);
    assert_eq!(
        reqwest::get(format!("{base}/api/v1/health"))
            .await
            .unwrap()
            .status(),
        200
    );
    let _ = serve.kill();
    let _ = serve.wait();
}

/// One audit entry as both front ends should leave it: (action, target, whether it succeeded).
type Audited = (String, String, bool);

/// The audit log's entries, oldest first, without who and from where (which differ by design).
async fn audited(database: &std::path::Path) -> Vec<Audited> {
    let console = palisade_console::Console::open(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let mut entries: Vec<Audited> = console
        .audit_log()
        .list(1000, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| !entry.action.starts_with("sign-in"))
        .map(|entry| (entry.action, entry.target, entry.outcome == "ok"))
        .collect();
    entries.reverse();
    entries
}

/// The same changes made with the CLI and over REST leave the same audit entries: each front end
/// calls the console's use-case, which writes the entry (the CLI's token and registry commands
/// used to write none).
#[tokio::test]
async fn the_cli_s_changes_are_audited_like_the_rest_api_s() {
    use crate::common::{Api, Console};
    use reqwest::Method;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();

    // From the terminal of the console's host.
    let database = dir.path().join("cli.db");
    let url = format!("sqlite://{}", database.display());
    let run = |args: &[&str], stdin: &str| {
        crate::common::palisade_with(args, stdin, |command| {
            command.env("PALISADE_DATABASE_URL", &url);
        })
    };
    let succeeded = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let password = "a long enough password\n";
    succeeded(run(&["user", "add", "ada", "--role", "operator"], password));
    succeeded(run(&["user", "role", "ada", "viewer"], ""));
    succeeded(run(&["user", "passwd", "ada"], password));
    succeeded(run(&["user", "remove", "ada"], ""));
    assert!(!run(&["user", "remove", "ada"], "").status.success());
    succeeded(run(
        &["api-token", "create", "--role", "viewer", "--label", "ci"],
        "",
    ));
    succeeded(run(&["api-token", "revoke", "1"], ""));
    succeeded(run(&["token", "create", "--family", "web"], ""));
    succeeded(run(&["token", "revoke", "1"], ""));
    succeeded(run(&["token", "create", "--family", "web"], ""));
    succeeded(run(&["token", "revoke-family", "--family", "web"], ""));
    let registry = [
        "registry",
        "set",
        "ghcr.io",
        "--username",
        "ci",
        "--password-ref",
        "env:PALISADE_REGISTRY_GHCR",
    ];
    succeeded(run(&registry, ""));
    succeeded(run(&["registry", "remove", "ghcr.io"], ""));
    let from_the_cli = audited(&database).await;

    // The same over REST, by an admin pipeline (its own token is made before the log is read).
    let rest_database = dir.path().join("rest.db");
    let console = Console::start(&rest_database).await;
    let api = Api::new(&console);
    let ok = |(status, body): (u16, serde_json::Value)| {
        assert!((200..300).contains(&status), "{status} {body}");
        body
    };
    ok(api
        .send(
            Method::POST,
            "/users",
            json!({"username": "ada", "password": "a long enough password", "role": "operator"}),
        )
        .await);
    ok(api
        .send(Method::PUT, "/users/ada", json!({"role": "viewer"}))
        .await);
    ok(api
        .send(
            Method::PUT,
            "/users/ada",
            json!({"password": "a long enough password"}),
        )
        .await);
    ok(api.send(Method::DELETE, "/users/ada", json!(null)).await);
    let (status, _) = api.send(Method::DELETE, "/users/ada", json!(null)).await;
    assert_eq!(status, 404);
    let created = ok(api
        .send(
            Method::POST,
            "/api-tokens",
            json!({"role": "viewer", "label": "ci"}),
        )
        .await);
    let id = created["id"].as_i64().unwrap();
    ok(api
        .send(Method::DELETE, &format!("/api-tokens/{id}"), json!(null))
        .await);
    let created = ok(api
        .send(Method::POST, "/tokens", json!({"family": "web"}))
        .await);
    let id = created["id"].as_i64().unwrap();
    ok(api
        .send(Method::DELETE, &format!("/tokens/{id}"), json!(null))
        .await);
    ok(api
        .send(Method::POST, "/tokens", json!({"family": "web"}))
        .await);
    ok(api
        .send(Method::DELETE, "/families/web/tokens", json!(null))
        .await);
    ok(api
        .send(
            Method::PUT,
            "/registries/ghcr.io",
            json!({"username": "ci", "password_ref": "env:PALISADE_REGISTRY_GHCR"}),
        )
        .await);
    ok(api
        .send(Method::DELETE, "/registries/ghcr.io", json!(null))
        .await);
    console.stop().await;
    let over_rest = audited(&rest_database).await;

    // The token ids differ (the REST console made its own admin token first).
    let without_ids = |entries: Vec<Audited>| -> Vec<Audited> {
        entries
            .into_iter()
            .map(|(action, target, ok)| {
                let target = target
                    .split(" (token ")
                    .next()
                    .unwrap()
                    .trim_start_matches("token ")
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                (action, target, ok)
            })
            .collect()
    };
    let from_the_cli = without_ids(from_the_cli);
    assert_eq!(from_the_cli, without_ids(over_rest));
    let actions: Vec<&str> = from_the_cli.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user-add",
            "user-change",
            "user-change",
            "user-remove",
            "user-remove",
            "api-token-create",
            "api-token-revoke",
            "defender-token-create",
            "defender-token-revoke",
            "defender-token-create",
            "defender-token-revoke-family",
            "registry-save",
            "registry-remove",
        ]
    );
    assert!(
        !from_the_cli[4].2,
        "the failed removal is audited as failed"
    );
}

/// A setting refused by the command line's parser names the variable it came from (deployments
/// set variables, not flags), and a variable set but blank counts as unset.
#[test]
fn a_refused_setting_names_its_variable_and_a_blank_one_is_unset() {
    let refused = crate::common::palisade_with(&["serve"], "", |command| {
        command.env("PALISADE_HEARTBEAT_SECS", "0");
    });
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("PALISADE_HEARTBEAT_SECS"), "{said}");
    assert!(said.contains("1..=3600"), "{said}");

    let dir = tempfile::tempdir().unwrap();
    let listed = crate::common::palisade_with(&["user", "list"], "", |command| {
        command
            .env(
                "PALISADE_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("p.db").display()),
            )
            .env("PALISADE_SECRETS_DIR", "  ")
            .env("AWS_ENDPOINT_URL_ECS", "");
    });
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}
