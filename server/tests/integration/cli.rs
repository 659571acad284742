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
