//! Settings read from the environment (`PALISADE_*`), with defaults that run a local console.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How the console runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `PALISADE_ADDR`, default `127.0.0.1:3000`.
    pub addr: SocketAddr,
    /// `PALISADE_DATABASE_URL`, default a SQLite file `palisade.db` in the working directory.
    pub database_url: String,
    /// `PALISADE_SITE_ROOT` (or `LEPTOS_SITE_ROOT`): where `pkg/palisade.{js,wasm,css}` live.
    pub site_root: PathBuf,
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
        })
    }
}
