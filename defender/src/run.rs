//! `palisade-defender run`: the sidecar. Delivers its own binary into the task volume, serves the
//! loopback endpoint (wrapper reports, policies to the wrappers, health), reads the task's
//! identity, watches and judges the task's processes and ports, and keeps the console informed
//! over the WebSocket channel, buffering while it is away.

use crate::channel;
use crate::config::Config;
use crate::local;
use crate::log::info;
use crate::shared::Shared;
use palisade_protocol::TaskIdentity;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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

/// The sidecar: answers the wrappers and the health check, delivers its binary to the shared
/// volume, watches the task's processes, and reports to the console until SIGTERM.
pub fn run(config: Config) -> i32 {
    harden();
    let _ = rustls::crypto::ring::default_provider().install_default();
    info!(
        "starting {} in {:?} mode",
        env!("CARGO_PKG_VERSION"),
        config.mode
    );
    let shared = Arc::new(
        Shared::new(config.mode.clone(), config.buffer_events)
            .with_state_dir(config.state_dir.clone()),
    );
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, shared.stopping.clone()) {
            info!("cannot handle signal {signal}: {error}");
        }
    }
    serve_the_wrappers(&config, &shared);
    deliver_the_binary(&config, &shared);
    let identity = read_identity(&config, &shared);
    shared.lock().identity = Some(identity.clone());
    crate::watch::start(&config, &shared, identity.containers.clone());
    match (&config.console_url, &config.token) {
        (Some(url), Some(token)) => channel::run(url, token, identity, &config, &shared),
        _ => {
            info!("PALISADE_CONSOLE_URL or PALISADE_TOKEN is not set: not reporting to a console");
            idle_until_stopped(&shared);
        }
    }
    info!("stopped");
    0
}

/// Keeps the token from the task's other processes, before any thread starts: the sidecar is
/// made non-dumpable (so a process of the task, root included, cannot read its
/// `/proc/PID/environ` or memory, nor ptrace it, without `CAP_SYS_PTRACE`), and the token leaves
/// its environment (`/proc/PID/environ` still shows the environment the process started with:
/// being non-dumpable is what protects it).
fn harden() {
    if let Err(error) = nix::sys::prctl::set_dumpable(false) {
        info!("cannot make the sidecar non-dumpable: {error}");
    }
    std::env::remove_var("PALISADE_TOKEN");
}

/// The local listener the wrappers report to and the health check asks, on its own thread.
fn serve_the_wrappers(config: &Config, shared: &Arc<Shared>) {
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
}

/// Copies this binary into the shared volume (retrying every 5 s) on its own thread; the
/// health check says ready once it is there.
fn deliver_the_binary(config: &Config, shared: &Arc<Shared>) {
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

/// Without a console to report to, the sidecar still delivers the binary and answers the
/// wrappers and the health check, until SIGTERM.
pub fn idle_until_stopped(shared: &Shared) {
    while !shared.stopping.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
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
