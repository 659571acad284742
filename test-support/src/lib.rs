//! What the workspace's tests (and the resolve benchmark) share: the team's task-definition
//! corpus, a real OCI registry on loopback, moto's AWS server. Real parts only: each helper
//! starts the real program on a free loopback port and says plainly what to install when it
//! is missing.

pub mod corpus;
pub mod hostile;
pub mod oidc;
pub mod registry;
pub mod tls;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now, for servers that cannot be handed a bound socket.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding a loopback port")
}

/// `palisade` from the same target directory as the running test binary (cargo builds it for the
/// server's own tests; `scripts/test` runs them all), for tests of other crates that need a real
/// console process.
pub fn console_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a test binary lives in target/<profile>/deps")
        .join("palisade");
    assert!(
        binary.is_file(),
        "{} is missing: build it with `cargo build -p palisade-server` (scripts/test does)",
        binary.display()
    );
    binary
}

/// moto's server (ECS, ECR, Secrets Manager), started for one test and killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be on PATH (scripts/setup --test installs moto[server])");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto's server did not start on port {port}: is moto[server] installed? (scripts/setup --test installs it)");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of a process talking to AWS at `endpoint` (moto: ECS, ECR and Secrets
/// Manager) with dummy credentials, nothing inherited from the machine's own AWS set-up.
pub fn aws_env(command: &mut Command, endpoint: &str) {
    for name in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_ECS", endpoint)
        .env("AWS_ENDPOINT_URL_ECR", endpoint)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

/// One call of an AWS JSON API on moto (`target` is the `X-Amz-Target`, `service` the signing
/// name moto routes by: `ecs`, `ecr`, `secretsmanager`), with the dummy credentials; its answer.
pub fn moto_call(
    moto: &str,
    service: &str,
    target: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = reqwest::blocking::Client::new()
        .post(moto)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .unwrap_or_else(|error| panic!("moto answered {target}: {error}"));
    let status = response.status();
    let answer: serde_json::Value = response.json().unwrap_or_default();
    assert!(
        status.is_success(),
        "moto refused {target}: {status} {answer}"
    );
    answer
}

/// A secret's value, read from moto's Secrets Manager as a task's execution role would.
pub fn secret_value(moto: &str, arn: &str) -> String {
    moto_call(
        moto,
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        serde_json::json!({ "SecretId": arn }),
    )["SecretString"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
