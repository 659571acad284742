//! Settings read from the environment (`PALISADE_*`), with defaults that run a local console.

use crate::http::listen::Limits;
use anyhow::{bail, Context};
use palisade_console::auth::sessions::SessionPolicy;
use palisade_console::auth::Role;
use palisade_console::defenders::events::EventsKept;
use palisade_console::defenders::presence::TaskCaps;
use palisade_console::defenders::DefenderSettings;
use palisade_console::Deployment;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the console runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `PALISADE_ADDR`, default `127.0.0.1:3000`: people and pipelines (UI, REST).
    pub addr: SocketAddr,
    /// `PALISADE_DEFENDER_ADDR`, default `127.0.0.1:3001`: defenders only (the channel).
    pub defender_addr: SocketAddr,
    /// `PALISADE_PUBLIC_URL`: the console as browsers reach it (`https://palisade.example.com`).
    /// Its host is the one name the people's listener answers to (besides IP addresses and
    /// `localhost`); `https` makes the session cookie `Secure`.
    pub public_url: Option<url::Url>,
    /// `PALISADE_TLS_CERT` and `PALISADE_TLS_KEY` (PEM files): both listeners speak HTTPS / WSS.
    pub tls: Option<TlsFiles>,
    /// `PALISADE_DATABASE_URL`, default a SQLite file `palisade.db` in the working directory.
    pub database_url: String,
    /// `PALISADE_SITE_ROOT` (or `LEPTOS_SITE_ROOT`): where `pkg/palisade.{js,wasm,css}` live.
    pub site_root: PathBuf,
    /// `PALISADE_ADMIN_PASSWORD`: the first `admin` account's password (first start only).
    pub admin_password: Option<String>,
    /// `PALISADE_SESSION_IDLE_MINUTES` (30) and `PALISADE_SESSION_HOURS` (12).
    pub sessions: SessionPolicy,
    /// Single sign-on, when `PALISADE_OIDC_ISSUER` is set.
    pub oidc: Option<OidcConfig>,
    /// `PALISADE_TRUSTED_PROXIES`: networks (`10.0.0.0/16,192.168.1.7`) of the load balancers in
    /// front of the people's listener. A request from one of them is attributed to the address
    /// it put in `X-Forwarded-For`, for the sign-in throttle and the audit log; from anywhere
    /// else the header is ignored, so nobody can pick the address they are blamed under.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How the console treats defenders.
    pub defenders: DefenderSettings,
    /// What only the environment decides: the ECS endpoint (`AWS_ENDPOINT_URL_ECS`) and where
    /// registry passwords may be read (`PALISADE_SECRETS_DIR`).
    pub deployment: Deployment,
    /// `PALISADE_GENERATION_RETENTION_DAYS` (default 90, 1 to 3650): generations, their pasted
    /// inputs included, are forgotten after this long.
    pub generation_retention: Duration,
    /// The people's listener's bounds: `PALISADE_MAX_CONNECTIONS` (default 2048),
    /// `PALISADE_MAX_CONNECTIONS_PER_ADDRESS` (64; trusted proxies are exempt),
    /// `PALISADE_HEADER_TIMEOUT_SECS` (15: to send a request's headers, and to start the next
    /// request on a kept-alive connection), `PALISADE_IDLE_TIMEOUT_SECS` (60: no byte either way).
    pub people_limits: Limits,
    /// The defenders' listener's: `PALISADE_DEFENDER_MAX_CONNECTIONS` (default: what the open-file
    /// limit leaves after the people's listener and a reserve),
    /// `PALISADE_DEFENDER_MAX_CONNECTIONS_PER_ADDRESS` (default 0, none: a network load balancer
    /// in front may present every task under its own address); the same timeouts, the idle one
    /// never shorter than three heartbeats.
    pub defender_max_connections: usize,
    pub defender_max_per_address: usize,
}

/// Open files the console keeps for itself beyond its listeners' connections (the database,
/// registries, AWS, logs).
const RESERVED_FILES: usize = 512;

/// Raises the soft open-file limit to the hard one (the default soft limit, often 1024, is far
/// below what thousands of defenders need) and answers the soft limit now in force.
pub fn raise_open_file_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return usize::try_from(limit.maximum.unwrap_or(1 << 20)).unwrap_or(usize::MAX);
        }
    }
    limit.current.map_or(1 << 20, |current| {
        usize::try_from(current).unwrap_or(usize::MAX)
    })
}

/// The defenders' listener's default cap: what the open-file limit leaves.
fn default_defender_connections(open_files: usize, people: usize) -> usize {
    open_files
        .saturating_sub(people)
        .saturating_sub(RESERVED_FILES)
        .max(256)
}

/// The certificate chain and private key both listeners serve.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// OpenID Connect: who the provider is, how the console is known to it, and which claim values
/// give which role.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// `PALISADE_OIDC_ISSUER`: the provider's issuer URL (its discovery document is read from it).
    pub issuer: String,
    /// `PALISADE_OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `PALISADE_OIDC_CLIENT_SECRET_REF`: `env:NAME` or `file:/path`, read at start.
    pub client_secret_ref: String,
    /// `PALISADE_OIDC_ROLE_CLAIM`, default `groups`: a string or a list of strings in the ID token.
    pub role_claim: String,
    /// `PALISADE_OIDC_ROLES`, `value=role,...` (`palisade-admins=admin,sre=operator`); `*=viewer`
    /// gives everyone else a role. A user whose claims match nothing is refused.
    pub roles: Vec<(String, Role)>,
    /// `PALISADE_OIDC_USERNAME_CLAIM`, default `preferred_username` (then `email`, then `sub`).
    pub username_claim: String,
    /// `PALISADE_OIDC_SCOPES`, default `openid profile email` (add the scope that carries the
    /// role claim, `groups` at many providers).
    pub scopes: Vec<String>,
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match variable(name) {
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} `{text}` is not a whole number")),
        None => Ok(None),
    }
}

/// `PALISADE_TRUSTED_PROXIES`: comma-separated networks or single addresses.
fn trusted_proxies_from_env() -> anyhow::Result<Vec<ipnet::IpNet>> {
    let text = variable("PALISADE_TRUSTED_PROXIES").unwrap_or_default();
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "PALISADE_TRUSTED_PROXIES: `{item}` is not a network like 10.0.0.0/16 or an address"
                    )
                })
        })
        .collect()
}

fn address(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let text = variable(name).unwrap_or_else(|| default.to_owned());
    text.parse().map_err(|error| {
        anyhow::anyhow!("{name} `{text}` is not an address like {default}: {error}")
    })
}

/// `PALISADE_GENERATION_RETENTION_DAYS`: 1 to 3650 days, default 90.
fn generation_retention_from_env() -> anyhow::Result<Duration> {
    let days = number::<u64>("PALISADE_GENERATION_RETENTION_DAYS")?
        .unwrap_or(palisade_console::generations::DEFAULT_RETENTION_DAYS);
    anyhow::ensure!(
        (1..=3650).contains(&days),
        "PALISADE_GENERATION_RETENTION_DAYS must be 1 to 3650"
    );
    Ok(Duration::from_secs(days * 86_400))
}

/// `AWS_ENDPOINT_URL_ECS` (else `AWS_ENDPOINT_URL`): an http(s) URL; `PALISADE_SECRETS_DIR`: an
/// existing directory, kept as its canonical path (a `file:` reference must resolve inside it);
/// `PALISADE_DEFENDER_BINARIES`: where the defender binaries to publish are.
pub fn deployment_from_env() -> anyhow::Result<Deployment> {
    let ecs_endpoint = palisade_console::settings::deployment_ecs_endpoint();
    if let Some(endpoint) = &ecs_endpoint {
        let url = url::Url::parse(endpoint)
            .with_context(|| format!("AWS_ENDPOINT_URL_ECS `{endpoint}` is not a URL"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
            "AWS_ENDPOINT_URL_ECS `{endpoint}` must be an http(s) URL with a host"
        );
    }
    let secrets_dir = match variable("PALISADE_SECRETS_DIR") {
        Some(dir) => {
            let canonical = std::fs::canonicalize(&dir)
                .with_context(|| format!("PALISADE_SECRETS_DIR `{dir}` cannot be opened"))?;
            anyhow::ensure!(
                canonical.is_dir(),
                "PALISADE_SECRETS_DIR `{dir}` is not a directory"
            );
            Some(canonical)
        }
        None => None,
    };
    let defender_binaries = variable("PALISADE_DEFENDER_BINARIES").map(std::path::PathBuf::from);
    Ok(Deployment {
        ecs_endpoint,
        secrets_dir,
        defender_binaries,
    })
}

/// `PALISADE_HEARTBEAT_SECS` (default 10, at most an hour), `PALISADE_DEFENDER_RETENTION_SECS`
/// (default a day), `PALISADE_DEFENDER_EVENTS_KEPT` (default 2000) and
/// `PALISADE_DEFENDER_EVENT_BYTES_KEPT` (default 1 MiB, at least 64 KiB: the heaviest event),
/// `PALISADE_DEFENDER_CONNECTIONS_PER_TOKEN` (default 5000), `PALISADE_DEFENDER_TASKS_PER_FAMILY` and
/// `PALISADE_DEFENDER_TASKS_PER_TOKEN` (10,000 each: distinct tasks listed, connected or not),
/// `PALISADE_DEFENDER_FAMILY_EVENT_BYTES_KEPT` (512 MiB: a family's events in all).
pub fn defender_settings_from_env() -> anyhow::Result<DefenderSettings> {
    let defaults = DefenderSettings::default();
    let heartbeat =
        number::<u64>("PALISADE_HEARTBEAT_SECS")?.map_or(defaults.heartbeat, Duration::from_secs);
    anyhow::ensure!(
        (1..=3600).contains(&heartbeat.as_secs()),
        "PALISADE_HEARTBEAT_SECS must be 1 to 3600"
    );
    let bytes =
        number::<i64>("PALISADE_DEFENDER_EVENT_BYTES_KEPT")?.unwrap_or(defaults.events_kept.bytes);
    let heaviest = palisade_protocol::MAX_EVENT_BYTES as i64;
    anyhow::ensure!(
        bytes >= heaviest,
        "PALISADE_DEFENDER_EVENT_BYTES_KEPT must be at least {heaviest} (one event can weigh that much)"
    );
    Ok(DefenderSettings {
        heartbeat,
        retention: number::<u64>("PALISADE_DEFENDER_RETENTION_SECS")?
            .map_or(defaults.retention, Duration::from_secs),
        events_kept: EventsKept {
            count: number::<i64>("PALISADE_DEFENDER_EVENTS_KEPT")?
                .unwrap_or(defaults.events_kept.count)
                .max(1),
            bytes,
        },
        connections_per_token: number::<usize>("PALISADE_DEFENDER_CONNECTIONS_PER_TOKEN")?
            .unwrap_or(defaults.connections_per_token)
            .max(1),
        task_caps: TaskCaps {
            per_family: number::<i64>("PALISADE_DEFENDER_TASKS_PER_FAMILY")?
                .unwrap_or(defaults.task_caps.per_family)
                .max(1),
            per_token: number::<i64>("PALISADE_DEFENDER_TASKS_PER_TOKEN")?
                .unwrap_or(defaults.task_caps.per_token)
                .max(1),
        },
        family_event_bytes: {
            let bytes = number::<i64>("PALISADE_DEFENDER_FAMILY_EVENT_BYTES_KEPT")?
                .unwrap_or(defaults.family_event_bytes);
            anyhow::ensure!(
                bytes >= heaviest,
                "PALISADE_DEFENDER_FAMILY_EVENT_BYTES_KEPT must be at least {heaviest} (one event can weigh that much)"
            );
            bytes
        },
    })
}

/// The people's listener's bounds (see [`Config::people_limits`]).
fn listener_limits_from_env(trusted_proxies: &[ipnet::IpNet]) -> anyhow::Result<Limits> {
    let seconds = |name: &str, default: u64| -> anyhow::Result<Duration> {
        let value = number::<u64>(name)?.unwrap_or(default);
        anyhow::ensure!(
            (1..=3600).contains(&value),
            "{name} must be 1 to 3600 seconds"
        );
        Ok(Duration::from_secs(value))
    };
    Ok(Limits {
        max_connections: number::<usize>("PALISADE_MAX_CONNECTIONS")?
            .unwrap_or(2048)
            .max(1),
        max_per_address: number::<usize>("PALISADE_MAX_CONNECTIONS_PER_ADDRESS")?.unwrap_or(64),
        header_timeout: seconds("PALISADE_HEADER_TIMEOUT_SECS", 15)?,
        idle_timeout: seconds("PALISADE_IDLE_TIMEOUT_SECS", 60)?,
        exempt: trusted_proxies.to_vec(),
    })
}

fn sessions_from_env() -> anyhow::Result<SessionPolicy> {
    let defaults = SessionPolicy::default();
    let idle = number::<u64>("PALISADE_SESSION_IDLE_MINUTES")?
        .map_or(defaults.idle, |minutes| Duration::from_secs(minutes * 60));
    let absolute = number::<u64>("PALISADE_SESSION_HOURS")?
        .map_or(defaults.absolute, |hours| Duration::from_secs(hours * 3600));
    anyhow::ensure!(
        !idle.is_zero() && !absolute.is_zero(),
        "session lifetimes must be at least 1"
    );
    Ok(SessionPolicy { idle, absolute })
}

/// `value=role,value=role`.
pub(crate) fn role_map(text: &str) -> anyhow::Result<Vec<(String, Role)>> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (value, role) = pair
                .rsplit_once('=')
                .with_context(|| format!("PALISADE_OIDC_ROLES: `{pair}` is not value=role"))?;
            let role = Role::parse(role)
                .map_err(|error| anyhow::anyhow!("PALISADE_OIDC_ROLES: {error}"))?;
            Ok((value.trim().to_owned(), role))
        })
        .collect()
}

fn oidc_from_env() -> anyhow::Result<Option<OidcConfig>> {
    let Some(issuer) = variable("PALISADE_OIDC_ISSUER") else {
        return Ok(None);
    };
    let client_id = variable("PALISADE_OIDC_CLIENT_ID")
        .context("PALISADE_OIDC_ISSUER needs PALISADE_OIDC_CLIENT_ID")?;
    let client_secret_ref = variable("PALISADE_OIDC_CLIENT_SECRET_REF").context(
        "PALISADE_OIDC_ISSUER needs PALISADE_OIDC_CLIENT_SECRET_REF (env:NAME or file:/path)",
    )?;
    let roles = role_map(&variable("PALISADE_OIDC_ROLES").unwrap_or_default())?;
    if roles.is_empty() {
        bail!("PALISADE_OIDC_ROLES must map at least one claim value to a role (e.g. palisade-admins=admin,*=viewer)");
    }
    Ok(Some(OidcConfig {
        issuer,
        client_id,
        client_secret_ref,
        role_claim: variable("PALISADE_OIDC_ROLE_CLAIM").unwrap_or_else(|| "groups".into()),
        roles,
        username_claim: variable("PALISADE_OIDC_USERNAME_CLAIM")
            .unwrap_or_else(|| "preferred_username".into()),
        scopes: variable("PALISADE_OIDC_SCOPES")
            .unwrap_or_else(|| "openid profile email".into())
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    }))
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let addr = address("PALISADE_ADDR", "127.0.0.1:3000")?;
        let defender_addr = address("PALISADE_DEFENDER_ADDR", "127.0.0.1:3001")?;
        if addr == defender_addr && addr.port() != 0 {
            bail!("PALISADE_ADDR and PALISADE_DEFENDER_ADDR must differ: defenders get a listener of their own");
        }
        let public_url = match variable("PALISADE_PUBLIC_URL") {
            Some(text) => {
                let url = url::Url::parse(&text).with_context(|| {
                    format!("PALISADE_PUBLIC_URL `{text}` is not a URL like https://palisade.example.com")
                })?;
                anyhow::ensure!(
                    matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
                    "PALISADE_PUBLIC_URL `{text}` must be an http(s) URL with a host"
                );
                Some(url)
            }
            None => None,
        };
        let oidc = oidc_from_env()?;
        if oidc.is_some() && public_url.is_none() {
            bail!("single sign-on (PALISADE_OIDC_ISSUER) needs PALISADE_PUBLIC_URL: the provider sends people back to it");
        }
        let tls = match (variable("PALISADE_TLS_CERT"), variable("PALISADE_TLS_KEY")) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            _ => bail!("give both PALISADE_TLS_CERT and PALISADE_TLS_KEY, or neither"),
        };
        let database_url =
            variable("PALISADE_DATABASE_URL").unwrap_or_else(|| "sqlite://palisade.db".into());
        let trusted_proxies = trusted_proxies_from_env()?;
        let people_limits = listener_limits_from_env(&trusted_proxies)?;
        let defender_max_connections = match number::<usize>("PALISADE_DEFENDER_MAX_CONNECTIONS")? {
            Some(most) => most.max(1),
            None => {
                default_defender_connections(raise_open_file_limit(), people_limits.max_connections)
            }
        };
        let site_root = variable("PALISADE_SITE_ROOT")
            .or_else(|| variable("LEPTOS_SITE_ROOT"))
            .unwrap_or_else(|| "target/site".into());
        Ok(Config {
            addr,
            defender_addr,
            public_url,
            tls,
            database_url,
            site_root: site_root.into(),
            admin_password: std::env::var("PALISADE_ADMIN_PASSWORD")
                .ok()
                .filter(|password| !password.is_empty()),
            sessions: sessions_from_env()?,
            oidc,
            trusted_proxies,
            defenders: defender_settings_from_env()?,
            deployment: deployment_from_env()?,
            generation_retention: generation_retention_from_env()?,
            people_limits,
            defender_max_connections,
            defender_max_per_address: number::<usize>(
                "PALISADE_DEFENDER_MAX_CONNECTIONS_PER_ADDRESS",
            )?
            .unwrap_or(0),
        })
    }

    /// A console on loopback with defaults, for tests: both listeners on `127.0.0.1:0`.
    pub fn local(database_url: String, site_root: PathBuf) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            defender_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            tls: None,
            database_url,
            site_root,
            admin_password: None,
            sessions: SessionPolicy::default(),
            oidc: None,
            trusted_proxies: Vec::new(),
            defenders: DefenderSettings::default(),
            deployment: Deployment::default(),
            generation_retention: Duration::from_secs(
                palisade_console::generations::DEFAULT_RETENTION_DAYS * 86_400,
            ),
            people_limits: Limits::local(),
            defender_max_connections: Limits::local().max_connections,
            defender_max_per_address: 0,
        }
    }

    /// The defenders' listener's bounds: its own caps, the people's timeouts, and an idle
    /// timeout no shorter than three heartbeats (a quiet defender is not an idle socket).
    pub fn defender_limits(&self) -> Limits {
        let heartbeats = self.defenders.heartbeat * 3 + Duration::from_secs(5);
        Limits {
            max_connections: self.defender_max_connections,
            max_per_address: self.defender_max_per_address,
            header_timeout: self.people_limits.header_timeout,
            idle_timeout: self.people_limits.idle_timeout.max(heartbeats),
            exempt: Vec::new(),
        }
    }

    /// Whether people reach the console over HTTPS (the session cookie is then `Secure`).
    pub fn https(&self) -> bool {
        self.tls.is_some()
            || self
                .public_url
                .as_ref()
                .is_some_and(|url| url.scheme() == "https")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_values_map_to_roles() {
        assert_eq!(
            role_map("palisade-admins=admin, sre = operator,*=viewer").unwrap(),
            [
                ("palisade-admins".to_owned(), Role::Admin),
                ("sre".to_owned(), Role::Operator),
                ("*".to_owned(), Role::Viewer)
            ]
        );
        assert!(role_map("admins").is_err());
        assert!(role_map("admins=root").is_err());
    }
}
