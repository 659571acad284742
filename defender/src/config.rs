//! The sidecar's settings, from the environment the protected task definition gives it.

use std::path::PathBuf;
use std::time::Duration;

/// Where the sidecar listens for the wrappers and the health check. Loopback is shared by all
/// containers of an awsvpc task.
pub const DEFAULT_LOCAL_ADDR: &str = "127.0.0.1:7451";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The app starts as soon as the binary is in place, console reachable or not.
    Availability,
    /// The sidecar is healthy only while connected to the console.
    Security,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub console_url: Option<String>,
    pub token: Option<String>,
    pub mode: Mode,
    pub volume: PathBuf,
    pub metadata_uri: Option<String>,
    pub local_addr: String,
    /// How often all of `/proc` is read (exits, and anything the probe missed).
    pub scan_interval: Duration,
    /// How often the new pids are probed (one read of `/proc/loadavg` when none are new); 50 ms
    /// by default: a process living longer than that is seen.
    pub probe_interval: Duration,
    /// Events kept while the console is away; the oldest go first when full.
    pub buffer_events: usize,
    /// Reconnect delay bounds (exponential with full jitter between them).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// `PALISADE_CA_CERT`: a CA to trust besides the public ones (PEM text, or a PEM file's path).
    pub ca_cert: Option<String>,
    /// `PALISADE_ALLOW_INSECURE=1`: a plain `ws://` console URL off loopback is allowed.
    pub allow_insecure: bool,
    /// `PALISADE_STATE_DIR`: where the last policy is kept across restarts, in the sidecar's own
    /// file system (never the task volume the workloads mount).
    pub state_dir: PathBuf,
    /// Alert floods: the same alert (rules, container, executable) is sent in full this many
    /// times per window, then counted into one summary at the window's end.
    pub alert_burst: u32,
    pub alert_window: Duration,
}

/// Where the sidecar keeps its state by default: its own container's file system.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/palisade";

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn millis(name: &str, default: u64) -> Duration {
    Duration::from_millis(var(name).and_then(|v| v.parse().ok()).unwrap_or(default))
}

pub fn local_addr() -> String {
    var("PALISADE_LOCAL_ADDR").unwrap_or_else(|| DEFAULT_LOCAL_ADDR.into())
}

impl Mode {
    /// As the console's `hello` and a wrapper's `welcome` spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Availability => "availability",
            Mode::Security => "security",
        }
    }
}

impl Config {
    pub fn from_env() -> Config {
        Config {
            console_url: var("PALISADE_CONSOLE_URL"),
            token: var("PALISADE_TOKEN"),
            mode: match var("PALISADE_MODE").as_deref() {
                Some("security") => Mode::Security,
                _ => Mode::Availability,
            },
            volume: var("PALISADE_VOLUME")
                .unwrap_or_else(|| "/palisade".into())
                .into(),
            metadata_uri: var("ECS_CONTAINER_METADATA_URI_V4"),
            local_addr: local_addr(),
            scan_interval: millis("PALISADE_SCAN_INTERVAL_MS", 1_000),
            probe_interval: millis("PALISADE_PROBE_INTERVAL_MS", 50).max(Duration::from_millis(1)),
            buffer_events: var("PALISADE_BUFFER_EVENTS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
            reconnect_min: millis("PALISADE_RECONNECT_MIN_MS", 1_000),
            reconnect_max: millis("PALISADE_RECONNECT_MAX_MS", 60_000),
            ca_cert: var("PALISADE_CA_CERT"),
            allow_insecure: var("PALISADE_ALLOW_INSECURE").as_deref() == Some("1"),
            state_dir: var("PALISADE_STATE_DIR")
                .unwrap_or_else(|| DEFAULT_STATE_DIR.into())
                .into(),
            alert_burst: var("PALISADE_ALERT_BURST")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
            alert_window: millis("PALISADE_ALERT_WINDOW_MS", 60_000).max(Duration::from_millis(1)),
        }
    }
}
