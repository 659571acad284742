//! The console's settings. Each is a `palisade serve` flag and an environment variable (clap's
//! derive, below: `palisade serve --help` is the reference, and a test checks
//! docs/configuration.md's table against it); what spans several settings is checked in
//! [`ServeArgs::config`]. A blank variable counts as unset ([`ignore_blank_variables`]).

use crate::http::listen::Limits;
use anyhow::{bail, Context};
use clap::Args;
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
    pub admin_password: Option<Secret>,
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

/// A value that never prints: the admin password read at start.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_owned()))
    }
}

/// The default database, a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://palisade.db";

/// Where the console's data is, and what only its deployment decides: the command line's global
/// settings, for every command that opens the console's database.
#[derive(Clone, Debug, Default, Args)]
pub struct StoreArgs {
    /// The console's database (SQLite: created and migrated at start, WAL mode) [default:
    /// sqlite://palisade.db; `protect` and `resolve` use one only when it is given]
    #[arg(long, env = "PALISADE_DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Where the console registers and imports: an ECS-compatible endpoint [default: AWS's, or
    /// AWS_ENDPOINT_URL]. Shown read-only in Settings, never set from the web
    #[arg(long, env = "AWS_ENDPOINT_URL_ECS", value_name = "URL", value_parser = http_url, global = true)]
    pub ecs_endpoint_url: Option<url::Url>,
    /// The AWS SDK's endpoint for every service, used for ECS when AWS_ENDPOINT_URL_ECS is unset
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL", value_parser = http_url, hide = true, global = true)]
    pub aws_endpoint_url: Option<url::Url>,
    /// The one directory registry password files (`file:` references) may be read from; unset,
    /// only `env:PALISADE_REGISTRY_*` references work
    #[arg(long, env = "PALISADE_SECRETS_DIR", value_name = "DIR", global = true)]
    pub secrets_dir: Option<PathBuf>,
    /// The directory holding amd64/palisade-defender and arm64/palisade-defender, the static
    /// binaries the console publishes as the defender image [default: where the console image
    /// and a source checkout put them]
    #[arg(
        long,
        env = "PALISADE_DEFENDER_BINARIES",
        value_name = "DIR",
        global = true
    )]
    pub defender_binaries: Option<PathBuf>,
}

impl StoreArgs {
    /// The database URL, or the default.
    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }

    /// What only the deployment decides. The secrets directory must exist and is kept as its
    /// canonical path (a `file:` reference must resolve inside it).
    pub fn deployment(&self) -> anyhow::Result<Deployment> {
        let ecs_endpoint = self
            .ecs_endpoint_url
            .as_ref()
            .or(self.aws_endpoint_url.as_ref())
            .map(|url| url.as_str().trim_end_matches('/').to_owned());
        let secrets_dir = match &self.secrets_dir {
            Some(dir) => {
                let canonical = std::fs::canonicalize(dir).with_context(|| {
                    format!("PALISADE_SECRETS_DIR `{}` cannot be opened", dir.display())
                })?;
                anyhow::ensure!(
                    canonical.is_dir(),
                    "PALISADE_SECRETS_DIR `{}` is not a directory",
                    dir.display()
                );
                Some(canonical)
            }
            None => None,
        };
        Ok(Deployment {
            ecs_endpoint,
            secrets_dir,
            defender_binaries: self.defender_binaries.clone(),
        })
    }

    /// The console's database (the default when none is given), created and migrated when
    /// missing, under its deployment.
    pub async fn open(&self) -> anyhow::Result<palisade_console::Console> {
        let deployment = self.deployment()?;
        let console = palisade_console::Console::open(self.database_url()).await?;
        Ok(console.with_deployment(deployment))
    }

    /// The console's database only when one is given: its registry settings and image cache
    /// then serve the command line too.
    pub async fn open_if_given(&self) -> anyhow::Result<Option<palisade_console::Console>> {
        match &self.database_url {
            Some(_) => Ok(Some(self.open().await?)),
            None => Ok(None),
        }
    }
}

/// `palisade serve`'s settings.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// The people's listener: pages, server functions, REST API (port 0 picks a free port and
    /// logs it)
    #[arg(
        long,
        env = "PALISADE_ADDR",
        default_value = "127.0.0.1:3000",
        value_name = "HOST:PORT"
    )]
    pub addr: SocketAddr,
    /// The defenders' listener: the defender channel and nothing else
    #[arg(
        long,
        env = "PALISADE_DEFENDER_ADDR",
        default_value = "127.0.0.1:3001",
        value_name = "HOST:PORT"
    )]
    pub defender_addr: SocketAddr,
    /// The console as browsers reach it (https://palisade.example.com): the one host name the
    /// people's listener answers to besides IP addresses and localhost, Secure cookies when
    /// https, single sign-on's callback
    #[arg(long, env = "PALISADE_PUBLIC_URL", value_name = "URL", value_parser = http_url)]
    pub public_url: Option<url::Url>,
    /// PEM certificate chain: both listeners speak HTTPS / WSS (with PALISADE_TLS_KEY)
    #[arg(
        long,
        env = "PALISADE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of PALISADE_TLS_CERT
    #[arg(
        long,
        env = "PALISADE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Where the browser bundle (pkg/palisade.js, .wasm, .css) is [default: target/site, or
    /// LEPTOS_SITE_ROOT]
    #[arg(long, env = "PALISADE_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,
    /// cargo-leptos' name for the site root
    #[arg(long, env = "LEPTOS_SITE_ROOT", value_name = "DIR", hide = true)]
    pub leptos_site_root: Option<PathBuf>,
    /// The first admin account's password, used at the very first start only; without it a
    /// generated one is logged once. Give it in the environment: a flag shows in `ps`
    #[arg(
        long,
        env = "PALISADE_ADMIN_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<Secret>,
    /// A session ends after this long unused
    #[arg(long, env = "PALISADE_SESSION_IDLE_MINUTES", value_name = "MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub session_idle_minutes: u64,
    /// A session ends this long after sign-in, whatever the use
    #[arg(long, env = "PALISADE_SESSION_HOURS", value_name = "HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub session_hours: u64,
    /// Networks of the load balancers in front (10.0.0.0/16,192.0.2.7): a request from one of
    /// them is attributed to the address in its X-Forwarded-For (sign-in throttle, audit log);
    /// from anywhere else the header is ignored
    #[arg(long, env = "PALISADE_TRUSTED_PROXIES", value_name = "NETWORKS", value_delimiter = ',', value_parser = network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Generations (pasted inputs included) are forgotten after this many days; their
    /// registrations stay
    #[arg(long, env = "PALISADE_GENERATION_RETENTION_DAYS", value_name = "DAYS", default_value_t = palisade_console::generations::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub generation_retention_days: u64,
    #[command(flatten)]
    pub limits: ListenerArgs,
    #[command(flatten)]
    pub defenders: DefenderArgs,
    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// The listeners' bounds.
#[derive(Clone, Debug, Args)]
pub struct ListenerArgs {
    /// Connections the people's listener holds at once; more are closed as soon as they are
    /// accepted
    #[arg(long, env = "PALISADE_MAX_CONNECTIONS", value_name = "N", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// And from one client address (the peers in PALISADE_TRUSTED_PROXIES are exempt: they
    /// carry many clients); 0: no such cap
    #[arg(
        long,
        env = "PALISADE_MAX_CONNECTIONS_PER_ADDRESS",
        value_name = "N",
        default_value_t = 64
    )]
    pub max_connections_per_address: u64,
    /// Time to send a request's headers, which is also how long an HTTP/1 connection may wait
    /// idle for its next request (both listeners)
    #[arg(long, env = "PALISADE_HEADER_TIMEOUT_SECS", value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// A connection on which no byte moved either way for this long is closed, upgraded ones and
    /// event streams included (on the defenders' listener never less than three heartbeats)
    #[arg(long, env = "PALISADE_IDLE_TIMEOUT_SECS", value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,
    /// Connections the defenders' listener holds at once [default: what the open-file limit
    /// leaves: the console raises its soft limit to the hard one at start, then keeps the
    /// people's listener's share and 512 for itself]
    #[arg(long, env = "PALISADE_DEFENDER_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub defender_max_connections: Option<u64>,
    /// Per client address on the defenders' listener; 0: none (a network load balancer may
    /// present every task under its own address)
    #[arg(
        long,
        env = "PALISADE_DEFENDER_MAX_CONNECTIONS_PER_ADDRESS",
        value_name = "N",
        default_value_t = 0
    )]
    pub defender_max_connections_per_address: u64,
}

/// How the console treats defenders.
#[derive(Clone, Debug, Args)]
pub struct DefenderArgs {
    /// Defender heartbeat interval; a defender silent for 3 of them is disconnected
    #[arg(long, env = "PALISADE_HEARTBEAT_SECS", value_name = "SECONDS", default_value_t = DefenderSettings::default().heartbeat.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_secs: u64,
    /// Disconnected defenders are removed after this
    #[arg(long, env = "PALISADE_DEFENDER_RETENTION_SECS", value_name = "SECONDS", default_value_t = DefenderSettings::default().retention.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub defender_retention_secs: u64,
    /// Process timeline entries kept per defender
    #[arg(long, env = "PALISADE_DEFENDER_EVENTS_KEPT", value_name = "N", default_value_t = DefenderSettings::default().events_kept.count, value_parser = clap::value_parser!(i64).range(1..))]
    pub defender_events_kept: i64,
    /// And at most this many bytes of them per defender (at least 65536, the heaviest event)
    #[arg(long, env = "PALISADE_DEFENDER_EVENT_BYTES_KEPT", value_name = "BYTES", default_value_t = DefenderSettings::default().events_kept.bytes, value_parser = clap::value_parser!(i64).range(HEAVIEST_EVENT..))]
    pub defender_event_bytes_kept: i64,
    /// Open defender sockets one token may hold; more are answered 429
    #[arg(long, env = "PALISADE_DEFENDER_CONNECTIONS_PER_TOKEN", value_name = "N", default_value_t = DefenderSettings::default().connections_per_token as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub defender_connections_per_token: u64,
    /// Distinct tasks (defender rows, connected or not) one family may have listed; a new one
    /// past the cap takes the place of the oldest disconnected one, and with none disconnected
    /// its hello is refused
    #[arg(long, env = "PALISADE_DEFENDER_TASKS_PER_FAMILY", value_name = "N", default_value_t = TaskCaps::default().per_family, value_parser = clap::value_parser!(i64).range(1..))]
    pub defender_tasks_per_family: i64,
    /// The same for one token
    #[arg(long, env = "PALISADE_DEFENDER_TASKS_PER_TOKEN", value_name = "N", default_value_t = TaskCaps::default().per_token, value_parser = clap::value_parser!(i64).range(1..))]
    pub defender_tasks_per_token: i64,
    /// A family's stored events in all: past it, the family's oldest disconnected defenders go
    /// first, then each connected one keeps an equal share (at least 65536)
    #[arg(long, env = "PALISADE_DEFENDER_FAMILY_EVENT_BYTES_KEPT", value_name = "BYTES", default_value_t = DefenderSettings::default().family_event_bytes, value_parser = clap::value_parser!(i64).range(HEAVIEST_EVENT..))]
    pub defender_family_event_bytes_kept: i64,
}

/// The heaviest event a defender may send: what every byte bound must at least hold.
const HEAVIEST_EVENT: i64 = palisade_protocol::MAX_EVENT_BYTES as i64;

impl DefenderArgs {
    pub fn settings(&self) -> DefenderSettings {
        DefenderSettings {
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            retention: Duration::from_secs(self.defender_retention_secs),
            events_kept: EventsKept {
                count: self.defender_events_kept,
                bytes: self.defender_event_bytes_kept,
            },
            connections_per_token: usize_of(self.defender_connections_per_token),
            task_caps: TaskCaps {
                per_family: self.defender_tasks_per_family,
                per_token: self.defender_tasks_per_token,
            },
            family_event_bytes: self.defender_family_event_bytes_kept,
        }
    }
}

/// Single sign-on, when an issuer is given.
#[derive(Clone, Debug, Args)]
pub struct OidcArgs {
    /// Single sign-on with this OpenID Connect provider (its discovery document is read from
    /// it; needs PALISADE_PUBLIC_URL, the client id, its secret and the roles)
    #[arg(long = "oidc-issuer", env = "PALISADE_OIDC_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// The console's client id at the provider
    #[arg(
        long = "oidc-client-id",
        env = "PALISADE_OIDC_CLIENT_ID",
        value_name = "ID"
    )]
    pub client_id: Option<String>,
    /// Where the client secret is read at start: env:NAME or file:/path
    #[arg(
        long = "oidc-client-secret-ref",
        env = "PALISADE_OIDC_CLIENT_SECRET_REF",
        value_name = "REF"
    )]
    pub client_secret_ref: Option<String>,
    /// value=role,... (palisade-admins=admin,sre=operator); *=viewer gives everyone else a role.
    /// A user whose claims match nothing is refused
    #[arg(
        long = "oidc-roles",
        env = "PALISADE_OIDC_ROLES",
        value_name = "VALUE=ROLE,..."
    )]
    pub roles: Option<String>,
    /// The ID token's claim holding the role values: a string or a list of strings
    #[arg(
        long = "oidc-role-claim",
        env = "PALISADE_OIDC_ROLE_CLAIM",
        value_name = "CLAIM",
        default_value = "groups"
    )]
    pub role_claim: String,
    /// The claim naming the user (then email, then sub)
    #[arg(
        long = "oidc-username-claim",
        env = "PALISADE_OIDC_USERNAME_CLAIM",
        value_name = "CLAIM",
        default_value = "preferred_username"
    )]
    pub username_claim: String,
    /// The scopes asked for (add the one that carries the role claim, groups at many providers)
    #[arg(
        long = "oidc-scopes",
        env = "PALISADE_OIDC_SCOPES",
        value_name = "SCOPES",
        default_value = "openid profile email"
    )]
    pub scopes: String,
}

impl OidcArgs {
    fn config(&self) -> anyhow::Result<Option<OidcConfig>> {
        let Some(issuer) = self.issuer.clone() else {
            return Ok(None);
        };
        let client_id = self
            .client_id
            .clone()
            .context("PALISADE_OIDC_ISSUER needs PALISADE_OIDC_CLIENT_ID")?;
        let client_secret_ref = self.client_secret_ref.clone().context(
            "PALISADE_OIDC_ISSUER needs PALISADE_OIDC_CLIENT_SECRET_REF (env:NAME or file:/path)",
        )?;
        let roles = role_map(self.roles.as_deref().unwrap_or_default())?;
        if roles.is_empty() {
            bail!("PALISADE_OIDC_ROLES must map at least one claim value to a role (e.g. palisade-admins=admin,*=viewer)");
        }
        Ok(Some(OidcConfig {
            issuer,
            client_id,
            client_secret_ref,
            role_claim: self.role_claim.clone(),
            roles,
            username_claim: self.username_claim.clone(),
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
        }))
    }
}

fn usize_of(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// An http(s) URL with a host.
fn http_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|error| format!("not a URL like https://palisade.example.com ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    Ok(url)
}

/// A network (`10.0.0.0/16`) or a single address.
fn network(text: &str) -> Result<ipnet::IpNet, String> {
    let item = text.trim();
    item.parse::<ipnet::IpNet>()
        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{item}` is not a network like 10.0.0.0/16 or an address"))
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

/// Calls `visit` with every argument of `command` and of its subcommands.
pub(crate) fn each_arg(command: &clap::Command, visit: &mut impl FnMut(&clap::Arg)) {
    command.get_arguments().for_each(&mut *visit);
    for subcommand in command.get_subcommands() {
        each_arg(subcommand, visit);
    }
}

/// Before the command line is read: a variable it reads (`command`'s) that is set but blank
/// counts as unset (a deployment template often writes every variable, empty when unused), and
/// values are trimmed, a secret's excepted (its spaces may be meant). Variables the command line
/// does not read (registry passwords named by `env:` references) are left as they are.
pub fn ignore_blank_variables(command: &clap::Command) {
    let mut read = Vec::new();
    each_arg(command, &mut |arg| {
        if let Some(name) = arg.get_env() {
            read.push((name.to_owned(), arg.is_hide_env_values_set()));
        }
    });
    for (name, secret) in read {
        let Some(value) = std::env::var_os(&name) else {
            continue;
        };
        let Some(value) = value.to_str() else {
            continue;
        };
        // Single-threaded still: this runs before the runtime and any thread start.
        if value.trim().is_empty() {
            std::env::remove_var(&name);
        } else if value.trim() != value && !secret {
            std::env::set_var(&name, value.trim());
        }
    }
}

impl ServeArgs {
    /// The console's settings (with `store`, the command line's global ones), once what spans
    /// several of them is checked.
    pub fn config(&self, store: &StoreArgs) -> anyhow::Result<Config> {
        if self.addr == self.defender_addr && self.addr.port() != 0 {
            bail!("PALISADE_ADDR and PALISADE_DEFENDER_ADDR must differ: defenders get a listener of their own");
        }
        let oidc = self.oidc.config()?;
        if oidc.is_some() && self.public_url.is_none() {
            bail!("single sign-on (PALISADE_OIDC_ISSUER) needs PALISADE_PUBLIC_URL: the provider sends people back to it");
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let limits = &self.limits;
        let people_limits = Limits {
            max_connections: usize_of(limits.max_connections),
            max_per_address: usize_of(limits.max_connections_per_address),
            header_timeout: Duration::from_secs(limits.header_timeout_secs),
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs),
            exempt: self.trusted_proxies.clone(),
        };
        let defender_max_connections = match limits.defender_max_connections {
            Some(most) => usize_of(most),
            None => {
                default_defender_connections(raise_open_file_limit(), people_limits.max_connections)
            }
        };
        let site_root = self
            .site_root
            .clone()
            .or_else(|| self.leptos_site_root.clone())
            .unwrap_or_else(|| "target/site".into());
        Ok(Config {
            addr: self.addr,
            defender_addr: self.defender_addr,
            public_url: self.public_url.clone(),
            tls,
            database_url: store.database_url().to_owned(),
            site_root,
            admin_password: self.admin_password.clone(),
            sessions: SessionPolicy {
                idle: Duration::from_secs(self.session_idle_minutes * 60),
                absolute: Duration::from_secs(self.session_hours * 3600),
            },
            oidc,
            trusted_proxies: self.trusted_proxies.clone(),
            defenders: self.defenders.settings(),
            deployment: store.deployment()?,
            generation_retention: Duration::from_secs(self.generation_retention_days * 86_400),
            people_limits,
            defender_max_connections,
            defender_max_per_address: usize_of(limits.defender_max_connections_per_address),
        })
    }
}

impl Config {
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

    /// Only what the command line reads is trimmed or unset; a secret keeps its spaces, and a
    /// variable read elsewhere (a registry password named by `env:`) is left whole.
    #[test]
    fn only_the_command_line_s_own_variables_are_trimmed_and_blank_ones_unset() {
        let command = clap::Command::new("palisade")
            .arg(clap::Arg::new("a").long("a").env("PALISADE_TEST_TRIMMED"))
            .arg(clap::Arg::new("b").long("b").env("PALISADE_TEST_BLANK"))
            .subcommand(
                clap::Command::new("serve").arg(
                    clap::Arg::new("s")
                        .long("s")
                        .env("PALISADE_TEST_SECRET")
                        .hide_env_values(true),
                ),
            );
        for (name, value) in [
            ("PALISADE_TEST_TRIMMED", "  x "),
            ("PALISADE_TEST_BLANK", "   "),
            ("PALISADE_TEST_SECRET", " pass word "),
            ("PALISADE_REGISTRY_TEST_ELSEWHERE", " kept "),
        ] {
            std::env::set_var(name, value);
        }
        ignore_blank_variables(&command);
        let read = |name: &str| std::env::var(name).ok();
        assert_eq!(read("PALISADE_TEST_TRIMMED").as_deref(), Some("x"));
        assert_eq!(read("PALISADE_TEST_BLANK"), None);
        assert_eq!(read("PALISADE_TEST_SECRET").as_deref(), Some(" pass word "));
        assert_eq!(
            read("PALISADE_REGISTRY_TEST_ELSEWHERE").as_deref(),
            Some(" kept ")
        );
    }

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
