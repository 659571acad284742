//! Settings read from the environment (`PALISADE_*`), with defaults that run a local console.

use palisade_console::defenders::DefenderSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the console runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `PALISADE_ADDR`, default `127.0.0.1:3000`.
    pub addr: SocketAddr,
    /// `PALISADE_DATABASE_URL`, default a SQLite file `palisade.db` in the working directory.
    pub database_url: String,
    /// `PALISADE_SITE_ROOT` (or `LEPTOS_SITE_ROOT`): where `pkg/palisade.{js,wasm,css}` live.
    pub site_root: PathBuf,
    /// How the console treats defenders.
    pub defenders: DefenderSettings,
}

fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} `{text}` is not a whole number")),
        _ => Ok(None),
    }
}

/// `PALISADE_HEARTBEAT_SECS` (default 10), `PALISADE_DEFENDER_RETENTION_SECS` (default a day),
/// `PALISADE_DEFENDER_EVENTS_KEPT` (default 2000).
pub fn defender_settings_from_env() -> anyhow::Result<DefenderSettings> {
    let defaults = DefenderSettings::default();
    let heartbeat =
        number::<u64>("PALISADE_HEARTBEAT_SECS")?.map_or(defaults.heartbeat, Duration::from_secs);
    anyhow::ensure!(
        !heartbeat.is_zero(),
        "PALISADE_HEARTBEAT_SECS must be at least 1"
    );
    Ok(DefenderSettings {
        heartbeat,
        retention: number::<u64>("PALISADE_DEFENDER_RETENTION_SECS")?
            .map_or(defaults.retention, Duration::from_secs),
        events_kept: number::<i64>("PALISADE_DEFENDER_EVENTS_KEPT")?
            .unwrap_or(defaults.events_kept)
            .max(1),
    })
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let addr = std::env::var("PALISADE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
        let addr = addr.parse().map_err(|error| {
            anyhow::anyhow!("PALISADE_ADDR `{addr}` is not an address like 127.0.0.1:3000: {error}")
        })?;
        let database_url = std::env::var("PALISADE_DATABASE_URL")
            .unwrap_or_else(|_| "sqlite://palisade.db".into());
        let site_root = std::env::var("PALISADE_SITE_ROOT")
            .or_else(|_| std::env::var("LEPTOS_SITE_ROOT"))
            .unwrap_or_else(|_| "target/site".into());
        Ok(Config {
            addr,
            database_url,
            site_root: site_root.into(),
            defenders: defender_settings_from_env()?,
        })
    }
}
