//! What the server's integration tests share: the console on a free loopback port with its own
//! SQLite file, moto's AWS server, the `palisade` binary run as a pipeline.

#![allow(dead_code, reason = "each test file uses part of this module")]

pub mod registry;

use palisade_server::{db, serve, Config};
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The console, served in this process until `stop`.
pub struct Console {
    pub base: String,
    pub pool: sqlx::SqlitePool,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Console {
    pub async fn start(database: &Path) -> Console {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let database_url = format!("sqlite://{}", database.display());
        let config = Config {
            addr,
            database_url: database_url.clone(),
            site_root: database.parent().unwrap().join("site"),
            defenders: Default::default(),
        };
        let pool = db::connect(&database_url).await.unwrap();
        let served_pool = pool.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, &config, served_pool, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Console {
            base: format!("http://{addr}"),
            pool,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// A port nobody listens on right now, for servers that cannot be handed a bound socket.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server, started for one test and killed when dropped.
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

/// The console's REST API as the tests call it: JSON in, status and JSON out.
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(console: &Console) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: console.base.clone(),
        }
    }

    /// `method /api/v1{path}` with `body`; the answer's JSON is `null` when it has no body (204).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, json)
    }

    /// `GET /api/v1{path}`, which must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, Value::Null).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Only the status of a call without a body (a DELETE, a GET expected to fail).
    pub async fn status(&self, method: reqwest::Method, path: &str) -> u16 {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The environment of a process talking to AWS at `endpoint` (moto: ECS and ECR) with dummy
/// credentials, nothing inherited from the machine's own AWS set-up.
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

/// A secret's value, read from moto's Secrets Manager as a task's execution role would.
pub fn secret_value(moto: &str, arn: &str) -> String {
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(moto)
        .header("x-amz-target", "secretsmanager.GetSecretValue")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(serde_json::json!({ "SecretId": arn }).to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["SecretString"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs the `palisade` binary as a pipeline does: `stdin` in, stdout and stderr captured.
/// `configure` sets its environment.
pub fn palisade_with(args: &[&str], stdin: &str, configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `palisade_with` in the test's own environment.
pub fn palisade(args: &[&str], stdin: &str) -> Output {
    palisade_with(args, stdin, |_| {})
}
