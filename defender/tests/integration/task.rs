//! A task as Fargate runs one, on this machine: a PID namespace of its own (`unshare --pid
//! --mount-proc`, like `pidMode: task`), its PID 1 a `sleep`, the real sidecar in it reporting to
//! a console, a fake ECS task metadata endpoint, and wrappers entering it with `nsenter`. The
//! sidecar sees only the task's processes, so a prevent-mode policy of one test never touches
//! another test's. Loopback is the machine's, as a task's containers share theirs.
//!
//! The container `app` is a cgroup (`name=systemd` hierarchy) named after its Docker ID, so the
//! sidecar's scan finds the container of a process as it does on ECS (`/proc/PID/cgroup`).

use crate::exec::DEFENDER;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static TASKS: AtomicU32 = AtomicU32::new(0);

/// The defender binary the task runs: this build's, or `PALISADE_TEST_DEFENDER` (a release
/// build, for the measurements).
fn defender() -> String {
    std::env::var("PALISADE_TEST_DEFENDER").unwrap_or_else(|_| DEFENDER.to_owned())
}

pub struct Task {
    namespace: Child,
    /// The namespace's PID 1, as this machine numbers it.
    init: u32,
    pub dir: tempfile::TempDir,
    pub local_addr: String,
    metadata: String,
    /// The Docker ID of the task's container `app`, and its cgroup.
    pub app_id: String,
    cgroup: PathBuf,
    console_url: String,
    mode: &'static str,
    extra: Vec<(String, String)>,
    sidecar: Option<Sidecar>,
}

pub struct Sidecar {
    /// `nsenter`, whose child is the sidecar.
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Task {
    /// A task whose sidecar reports to `console_url` in `mode`, with `extra` environment.
    pub fn start(console_url: &str, mode: &'static str, extra: &[(&str, &str)]) -> Task {
        let number = TASKS.fetch_add(1, Ordering::SeqCst);
        let app_id = format!("palisade-test-app-{}-{number}", std::process::id());
        let cgroup = Path::new("/sys/fs/cgroup/systemd").join(&app_id);
        std::fs::create_dir_all(&cgroup).expect("a name=systemd cgroup hierarchy (root)");
        let namespace = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(["sleep", "100000"])
            .spawn()
            .expect("unshare (util-linux) must be installed");
        let init = children(namespace.id(), Duration::from_secs(10))
            .expect("the namespace's PID 1 started");
        let mut task = Task {
            namespace,
            init,
            dir: tempfile::tempdir().unwrap(),
            local_addr: free_addr(),
            metadata: fake_metadata(&app_id),
            app_id,
            cgroup,
            console_url: console_url.to_owned(),
            mode,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sidecar: None,
        };
        task.start_sidecar();
        task
    }

    /// Starts the sidecar (again) in the task, and waits until it answers its health check.
    pub fn start_sidecar(&mut self) {
        let mut child = self
            .in_task()
            .args([defender().as_str(), "run"])
            .env("PALISADE_CONSOLE_URL", &self.console_url)
            .env("PALISADE_TOKEN", "pal_test")
            .env("PALISADE_MODE", self.mode)
            .env("PALISADE_VOLUME", self.dir.path().join("volume"))
            .env("PALISADE_STATE_DIR", self.dir.path().join("state"))
            .env("PALISADE_LOCAL_ADDR", &self.local_addr)
            .env(
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("{}/v4/defender-docker-id", self.metadata),
            )
            .env("PALISADE_RECONNECT_MIN_MS", "200")
            .env("PALISADE_RECONNECT_MAX_MS", "1000")
            .envs(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = collected.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.sidecar = Some(Sidecar { child, log });
        self.wait_log("binary in place");
    }

    /// A command run inside the task (its PID and mount namespaces).
    fn in_task(&self) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.init.to_string(), "-p", "-m", "--"])
            .current_dir("/");
        command
    }

    /// The sidecar's pid, as this machine numbers it.
    pub fn sidecar_pid(&self) -> u32 {
        let nsenter = self.sidecar.as_ref().expect("a sidecar").child.id();
        children(nsenter, Duration::from_secs(5)).expect("the sidecar runs")
    }

    pub fn signal_sidecar(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.sidecar_pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILL to the sidecar, and its end awaited.
    pub fn kill_sidecar(&mut self) {
        self.signal_sidecar("-KILL");
        if let Some(mut sidecar) = self.sidecar.take() {
            let _ = sidecar.child.wait();
            self.sidecar = Some(sidecar);
        }
    }

    pub fn log(&self) -> String {
        self.sidecar
            .as_ref()
            .map(|sidecar| sidecar.log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Waits (10 s at most) until the sidecar's log says `what`.
    pub fn wait_log(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(what) {
            assert!(
                Instant::now() < deadline,
                "the sidecar never said {what:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `palisade-defender exec -- sh -c SCRIPT sh ARGS...` as the container `app`'s entrypoint
    /// in the task, traced unless `trace` is false. With `cgroup`, it runs in the container's
    /// cgroup, so the sidecar's scan knows its processes' container too.
    pub fn wrapper(&self, trace: bool, cgroup: bool, script: &str, args: &[&str]) -> Command {
        let mut command = self.in_task();
        if cgroup {
            let procs = self.cgroup.join("cgroup.procs");
            command.args([
                "sh",
                "-c",
                &format!("echo $$ > {} && exec \"$@\"", procs.display()),
                "sh",
            ]);
        }
        command
            .args([defender().as_str(), "exec", "--", "sh", "-c", script, "sh"])
            .args(args)
            .env("PALISADE_LOCAL_ADDR", &self.local_addr)
            .env(
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("{}/v4/{}", self.metadata, self.app_id),
            )
            .env("PALISADE_TRACE", if trace { "on" } else { "off" });
        command
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // The namespace's PID 1 dies with unshare (--kill-child), and every process of the task
        // with it.
        let _ = self.namespace.kill();
        let _ = self.namespace.wait();
        if let Some(sidecar) = &mut self.sidecar {
            let _ = sidecar.child.kill();
            let _ = sidecar.child.wait();
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The first child of `pid`, once it has one.
fn children(pid: u32, wait: Duration) -> Option<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + wait;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(child) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
            return Some(child);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// Serves the task metadata (`/v4/{id}/task`) as ECS does for a task with the containers `app`
/// (Docker ID `app_id`) and `palisade-defender`: a plain HTTP/1.1 answer to any request.
fn fake_metadata(app_id: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = json!({
        "Cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "TaskARN": format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{app_id}"),
        "Family": "billing", "Revision": "7", "AvailabilityZone": "us-east-1b", "LaunchType": "FARGATE",
        "Containers": [
            {"Name": "app", "Image": "billing:1", "DockerId": app_id},
            {"Name": "palisade-defender", "Image": "palisade/defender:1", "DockerId": "defender-docker-id"}
        ]
    })
    .to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{task}",
                task.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}
