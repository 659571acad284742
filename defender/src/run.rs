//! `palisade-defender run`: the sidecar. Delivers its own binary into the task volume, serves the
//! loopback endpoint (wrapper reports, health), reads the task's identity, watches `/proc`, and
//! keeps the console informed over the WebSocket channel, buffering while it is away.

use crate::buffer::EventBuffer;
use crate::channel;
use crate::config::{Config, Mode};
use crate::local;
use crate::log::{info, now_ms};
use crate::procs::Scanner;
use palisade_protocol::{EventKind, LocalMessage, TaskIdentity};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the sidecar's threads share.
pub struct Shared {
    pub mode: Mode,
    state: Mutex<State>,
    /// Set by SIGTERM / SIGINT: close the channel cleanly and exit.
    pub stopping: Arc<AtomicBool>,
}

pub struct State {
    pub buffer: EventBuffer,
    pub binary_ready: bool,
    pub connected: bool,
    pub process_count: u32,
    pub identity: Option<TaskIdentity>,
}

impl Shared {
    pub fn new(mode: Mode, buffer_events: usize) -> Self {
        Shared {
            mode,
            state: Mutex::new(State {
                buffer: EventBuffer::new(buffer_events),
                binary_ready: false,
                connected: false,
                process_count: 0,
                identity: None,
            }),
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one thread must not take the others down with a poisoned lock.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> LocalMessage {
        let state = self.lock();
        let healthy = state.binary_ready && (self.mode == Mode::Availability || state.connected);
        LocalMessage::Status {
            binary_ready: state.binary_ready,
            connected: state.connected,
            healthy,
        }
    }

    /// A wrapper's report: its container's Docker ID becomes the container name.
    pub fn record_workload(&self, container_id: Option<&str>, kind: EventKind) {
        let mut state = self.lock();
        let name = container_id.and_then(|id| {
            state
                .identity
                .as_ref()?
                .containers
                .iter()
                .find(|c| c.docker_id == id)
                .map(|c| c.name.clone())
        });
        let kind = match kind {
            EventKind::WorkloadStarted {
                container,
                pid,
                argv,
            } => EventKind::WorkloadStarted {
                container: name.or(container),
                pid,
                argv,
            },
            EventKind::WorkloadExited {
                container,
                pid,
                code,
                signal,
            } => EventKind::WorkloadExited {
                container: name.or(container),
                pid,
                code,
                signal,
            },
            // Wrappers only report their workload.
            _ => return,
        };
        state.buffer.push(now_ms(), kind);
    }
}

/// Copies this binary into the volume (write, then rename, so a wrapper never runs half a file).
fn install_binary(volume: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(volume)?;
    let target = volume.join("palisade-defender");
    let partial = volume.join(".palisade-defender.partial");
    std::fs::copy("/proc/self/exe", &partial)?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&partial, &target)
}

pub fn run(config: Config) -> i32 {
    #[cfg(feature = "tls")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    info!(
        "starting {} in {:?} mode",
        env!("CARGO_PKG_VERSION"),
        config.mode
    );
    let shared = Arc::new(Shared::new(config.mode.clone(), config.buffer_events));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, shared.stopping.clone()) {
            info!("cannot handle signal {signal}: {error}");
        }
    }

    match std::net::TcpListener::bind(&config.local_addr) {
        Ok(listener) => {
            let shared = shared.clone();
            std::thread::spawn(move || local::serve(listener, shared));
        }
        Err(error) => info!(
            "cannot listen on {} ({error}): wrappers cannot report and the health check fails",
            config.local_addr
        ),
    }

    {
        let shared = shared.clone();
        let volume = config.volume.clone();
        std::thread::spawn(move || loop {
            match install_binary(&volume) {
                Ok(()) => {
                    info!("binary in place in {}", volume.display());
                    shared.lock().binary_ready = true;
                    return;
                }
                Err(error) => {
                    info!(
                        "cannot put the binary into {}: {error}; retrying",
                        volume.display()
                    );
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        });
    }

    let identity = read_identity(&config, &shared);
    shared.lock().identity = Some(identity.clone());

    {
        let shared = shared.clone();
        let scan_every = config.scan_interval;
        let probe_every = config.probe_interval;
        let containers = identity.containers.clone();
        std::thread::spawn(move || {
            let mut scanner = Scanner::new("/proc");
            let mut last_scan: Option<std::time::Instant> = None;
            loop {
                let events = match last_scan {
                    Some(at) if at.elapsed() < scan_every => scanner.probe(&containers),
                    _ => None,
                };
                let events = events.unwrap_or_else(|| {
                    last_scan = Some(std::time::Instant::now());
                    scanner.scan(&containers).0
                });
                let mut state = shared.lock();
                state.process_count = scanner.process_count();
                let now = now_ms();
                for event in events {
                    state.buffer.push(now, event);
                }
                drop(state);
                std::thread::sleep(probe_every);
            }
        });
    }

    match (&config.console_url, &config.token) {
        (Some(url), Some(token)) => channel::run(url, token, identity, &config, &shared),
        _ => {
            info!("PALISADE_CONSOLE_URL or PALISADE_TOKEN is not set: not reporting to a console");
            while !shared.stopping.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    info!("stopped");
    0
}

/// The task metadata, retried for a while (ECS serves it from the start; a slow endpoint must not
/// keep the sidecar from serving the binary, which runs in its own thread).
fn read_identity(config: &Config, shared: &Shared) -> TaskIdentity {
    let Some(uri) = &config.metadata_uri else {
        info!("ECS_CONTAINER_METADATA_URI_V4 is not set: the task's identity is unknown");
        return TaskIdentity::default();
    };
    let mut delay = Duration::from_millis(200);
    for _ in 0..10 {
        match crate::metadata::fetch(uri) {
            Ok(identity) => return identity,
            Err(error) => info!("task metadata: {error}; retrying"),
        }
        if shared.stopping.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    TaskIdentity::default()
}
