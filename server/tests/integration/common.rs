//! What the server's integration tests share beyond `palisade-test-support`: the console served
//! in-process on a free loopback port with its own SQLite file, a REST client, and the `palisade`
//! binary run as a pipeline.

use palisade_console::auth::{api_tokens, Role};
use palisade_server::http::Listeners;
use palisade_server::{serve, Config};
pub use palisade_test_support::{aws_env, free_port, hostile, registry, secret_value, Moto};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use tokio::sync::oneshot;

/// The console, served in this process until `stop`, with an admin pipeline token for the tests'
/// requests.
pub struct Console {
    /// The people's listener: `http://127.0.0.1:PORT`.
    pub base: String,
    /// The defenders' listener.
    pub defender_base: String,
    /// Its database, for what the tests check or arrange behind the API's back.
    pub db: sqlx::SqlitePool,
    /// A pipeline token with the admin role.
    pub admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Console {
    pub async fn start(database: &Path) -> Console {
        Console::start_with(database, |_| {}).await
    }

    /// A console with the ECS endpoint its deployment gives it (`AWS_ENDPOINT_URL_ECS`; moto, or
    /// nobody), the dummy credentials in this test process's environment, region us-east-1 saved
    /// in its settings.
    pub async fn with_ecs_at(database: &Path, ecs_endpoint: &str) -> Console {
        dummy_aws_credentials();
        let endpoint = ecs_endpoint.to_owned();
        let console = Console::start_with(database, move |config| {
            config.deployment.ecs_endpoint = Some(endpoint);
        })
        .await;
        let (status, saved) = Api::new(&console)
            .send(
                reqwest::Method::PUT,
                "/settings/ecs",
                serde_json::json!({"region": "us-east-1", "profile": "", "endpoint_url": ""}),
            )
            .await;
        assert_eq!(status, 200, "{saved}");
        // Settings show the deployment's endpoint, read-only.
        assert_eq!(saved["endpoint_url"], ecs_endpoint);
        console
    }

    /// The console with its configuration changed by `configure` first (TLS, a public URL...).
    pub async fn start_with(database: &Path, configure: impl FnOnce(&mut Config)) -> Console {
        let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
        let listeners = Listeners {
            people: bind().await,
            defenders: bind().await,
        };
        let database_url = format!("sqlite://{}", database.display());
        let mut config = Config::local(
            database_url.clone(),
            database.parent().unwrap().join("site"),
        );
        configure(&mut config);
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let base = format!("{scheme}://{}", listeners.people.local_addr().unwrap());
        let defender_base = format!("{scheme}://{}", listeners.defenders.local_addr().unwrap());
        let console = palisade_console::Console::open(&database_url)
            .await
            .unwrap();
        // Fixtures are written to the database directly, as an operator's sqlite3 would.
        let db = palisade_console::db::connect(&database_url).await.unwrap();
        let admin_token = api_tokens::create(&db, Role::Admin, "tests", "tests")
            .await
            .unwrap()
            .token;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listeners, &config, console, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Console {
            base,
            defender_base,
            db,
            admin_token,
            stop: Some(stop),
            task,
        }
    }

    /// A new pipeline token with `role`.
    pub async fn token(&self, role: Role) -> String {
        api_tokens::create(&self.db, role, role.as_str(), "tests")
            .await
            .unwrap()
            .token
    }

    /// A client that sends the admin token with every request.
    pub fn client(&self) -> reqwest::Client {
        client_with(&self.admin_token)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// A client that sends `token` as `Authorization: Bearer` with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The console's REST API as the tests call it: JSON in, status and JSON out.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// The API as the admin.
    pub fn new(console: &Console) -> Api {
        Api {
            client: console.client(),
            base: console.base.clone(),
        }
    }

    /// The API as the holder of `token`.
    pub fn with_token(console: &Console, token: &str) -> Api {
        Api::at(&console.base, token)
    }

    /// The API of a console at `base` (`http://127.0.0.1:PORT`, e.g. a `palisade serve` process)
    /// as the holder of `token`.
    pub fn at(base: &str, token: &str) -> Api {
        Api {
            client: client_with(token),
            base: base.to_owned(),
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

/// The console's SDK reads credentials from the environment; the tests are one process and every
/// test that talks to AWS sets the same dummy values (or runs the CLI with an environment of its
/// own).
pub fn dummy_aws_credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
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

/// The peak resident memory of process `pid` so far (`VmHWM`), in bytes.
pub fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap()
        * 1024
}
