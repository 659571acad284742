//! The Palisade console's domain and IO, without a UI: the database, settings, Generate and its
//! history, registrations on ECS, defenders (tokens, presence, events), runtime defense (policies,
//! learned models, incidents), image lookups and the AWS clients. One [`Console`] value owns the database pool and the AWS state (SDK configurations,
//! ECR logins); the UI's server functions, the REST API and the CLI all call it.

pub mod auth;
pub mod aws;
pub mod clock;
pub mod coverage;
pub mod db;
pub mod defender_image;
pub mod defenders;
pub mod error;
pub mod generate;
pub mod generations;
pub mod heavy;
pub mod images;
pub mod jobs;
pub mod outbound;
pub mod redact;
pub mod registrations;
pub mod runtime;
pub mod settings;
pub mod text;
pub mod use_cases;
pub mod views;

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    /// Types that hold a secret print without it, so no `{:?}` in a log or a panic leaks one.
    #[test]
    fn secrets_never_appear_in_debug_output() {
        use palisade_taskdef::{ProtectOptions, TokenSource};
        let secret = "pal_s3cret-value";
        let printed = [
            format!(
                "{:?}",
                crate::defenders::tokens::CreatedToken {
                    id: 1,
                    family: "f".into(),
                    token: secret.into(),
                }
            ),
            format!(
                "{:?}",
                crate::auth::api_tokens::CreatedApiToken {
                    id: 1,
                    role: crate::auth::Role::Admin,
                    label: "l".into(),
                    token: secret.into(),
                }
            ),
            format!(
                "{:?}",
                crate::auth::sessions::NewSession {
                    token: secret.into(),
                    expires_at: 0,
                }
            ),
            format!(
                "{:?}",
                crate::images::Access {
                    credentials: Some(("ci".into(), secret.into())),
                    origin: "https://registry.example".parse().unwrap(),
                }
            ),
            format!(
                "{:?}",
                ProtectOptions {
                    token: Some(TokenSource::Plain(secret.into())),
                    ..ProtectOptions::default()
                }
            ),
            format!(
                "{:?}",
                crate::generate::GenerateRequest {
                    token: crate::generate::TokenChoice::Given(TokenSource::Plain(secret.into())),
                    ..Default::default()
                }
            ),
        ];
        for text in printed {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

pub use error::{Error, Result, Upstream, UpstreamFailure};
pub use settings::AwsSettings;
pub use use_cases::Actor;

use aws::Aws;
use defenders::tokens;
use images::Images;
use sqlx::SqlitePool;
use std::sync::Arc;

/// A std mutex's guard, also after a panic elsewhere poisoned it: the maps the console guards
/// this way (caches, throttles, sign-ins under way) stay usable whatever state the panic left.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What only the console's deployment (its environment, never a request) decides: where signed
/// ECS requests go and where registry passwords may be read from.
#[derive(Clone, Debug, Default)]
pub struct Deployment {
    /// `AWS_ENDPOINT_URL_ECS` (or `AWS_ENDPOINT_URL`): `None` is AWS's endpoint for the region.
    pub ecs_endpoint: Option<String>,
    /// `PALISADE_SECRETS_DIR`: the one directory `file:` password references may name.
    pub secrets_dir: Option<std::path::PathBuf>,
    /// `PALISADE_DEFENDER_BINARIES`: where the defender binaries to publish are (`amd64/` and
    /// `arm64/`); `None` looks where the console image and a source checkout put them.
    pub defender_binaries: Option<std::path::PathBuf>,
}

/// The console: its database, its AWS access, its sign-in throttle and what its deployment
/// decided. Cheap to clone (all are shared).
#[derive(Clone)]
pub struct Console {
    db: SqlitePool,
    aws: Arc<Aws>,
    throttle: Arc<auth::throttle::SignInThrottle>,
    deployment: Arc<Deployment>,
    /// Generated outputs with a plain token, held briefly for Register (never on disk).
    held_outputs: Arc<generations::HeldOutputs>,
    /// The last coverage answer (ECS is asked at most every 30 s).
    coverage: Arc<coverage::CoverageCache>,
    /// Raised when a defender comes, goes or reports; open dashboards watch it.
    defender_changes: defenders::changes::DefenderChanges,
    /// The charts' last answer.
    charts: Arc<defenders::history::ChartCache>,
    /// The console's signing key, read from the database on first use.
    keys: Arc<tokio::sync::OnceCell<auth::keys::Keys>>,
    /// When credentials were last used, written in batches.
    last_use: Arc<auth::last_use::LastUse>,
    /// CPU work on callers' input, bounded and cancellable.
    heavy_work: Arc<heavy::HeavyWork>,
    /// Which family ECS says each task runs (asked at a task's first hello).
    task_families: Arc<defenders::binding::TaskFamilies>,
    /// Runtime defense: the families' policies and learning models, what their defenders wait
    /// on, and the defenders that left without a word.
    runtime: Arc<runtime::Runtime>,
}

impl Console {
    /// Opens (creating and migrating it when needed) the database at `url` (`sqlite://path`).
    pub async fn open(url: &str) -> Result<Console> {
        Ok(Console::with_pool(db::connect(url).await?))
    }

    /// A console on an open, migrated pool.
    pub fn with_pool(db: SqlitePool) -> Console {
        Console {
            db,
            aws: Arc::default(),
            throttle: Arc::default(),
            deployment: Arc::default(),
            held_outputs: Arc::default(),
            coverage: Arc::default(),
            defender_changes: Default::default(),
            charts: Arc::default(),
            keys: Arc::default(),
            last_use: Arc::default(),
            heavy_work: Arc::default(),
            task_families: Arc::default(),
            runtime: Arc::default(),
        }
    }

    /// CPU work on callers' input under way ([`Console::heavy`]).
    pub fn heavy_work(&self) -> &heavy::HeavyWork {
        &self.heavy_work
    }

    fn heavy_work_shared(&self) -> &Arc<heavy::HeavyWork> {
        &self.heavy_work
    }

    /// The same console under `deployment`.
    pub fn with_deployment(self, deployment: Deployment) -> Console {
        Console {
            deployment: Arc::new(deployment),
            ..self
        }
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// What open dashboards wait on (the defenders' writer raises it).
    pub fn defender_changes(&self) -> &defenders::changes::DefenderChanges {
        &self.defender_changes
    }

    /// The Defenders page's charts: the last 24 hours (see [`defenders::history`]).
    pub async fn defender_history(&self) -> Result<defenders::history::History> {
        self.charts.last_day(&self.db).await
    }

    /// The database, for the modules' functions that take it directly. Private: the front ends
    /// reach it only through the use-cases ([`use_cases`]), which audit what they change.
    pub(crate) fn db(&self) -> &SqlitePool {
        &self.db
    }

    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// The console's signing key (made at first use when the database has none).
    pub async fn keys(&self) -> Result<&auth::keys::Keys> {
        self.keys
            .get_or_try_init(|| auth::keys::Keys::load(&self.db))
            .await
    }

    /// When credentials were last used (written by [`auth::last_use::flush_forever`]).
    pub fn last_use(&self) -> &Arc<auth::last_use::LastUse> {
        &self.last_use
    }

    /// The pipeline behind `token` (noting that it was used), when it is valid.
    pub async fn api_token(&self, token: &str) -> Result<Option<auth::Principal>> {
        let principal = auth::api_tokens::authenticate(&self.db, token).await?;
        if let Some(auth::Who::ApiToken { id, .. }) = principal.as_ref().map(|p| &p.who) {
            self.last_use.api_token(*id, clock::now_ms());
        }
        Ok(principal)
    }

    /// The family a defender token lets in (noting that it was used), when it is valid.
    pub async fn defender_token(&self, token: &str) -> Result<Option<tokens::TokenGrant>> {
        let grant = tokens::authenticate(&self.db, token).await?;
        if let Some(grant) = &grant {
            self.last_use
                .defender_token(grant.token_id, clock::now_ms());
        }
        Ok(grant)
    }

    /// The person behind session `token` (noting that it was used), when it is open.
    pub async fn session(
        &self,
        token: &str,
        policy: auth::sessions::SessionPolicy,
    ) -> Result<Option<auth::Principal>> {
        auth::sessions::authenticate(&self.db, &self.last_use, token, policy).await
    }

    /// Failed sign-ins, per account and per address.
    pub fn throttle(&self) -> &auth::throttle::SignInThrottle {
        &self.throttle
    }

    /// Image lookups with the console's registry settings, AWS profile and cache.
    pub fn images(&self) -> Images<'_> {
        Images {
            db: Some(&self.db),
            aws: &self.aws,
            secrets_dir: self.deployment.secrets_dir.as_deref(),
        }
    }

    /// The saved AWS settings (unset fields: the standard chain) with the deployment's ECS
    /// endpoint.
    pub async fn aws_settings(&self) -> Result<AwsSettings> {
        Ok(AwsSettings {
            ecs_endpoint_url: self.deployment.ecs_endpoint.clone(),
            ..settings::load(&self.db).await?
        })
    }

    /// An ECS client with the saved settings.
    pub async fn ecs(&self) -> Result<aws_sdk_ecs::Client> {
        let settings = self.aws_settings().await?;
        Ok(self.aws.ecs(&settings).await?)
    }

    /// Registers a generation's output on ECS with the saved settings, once (the use-case is
    /// [`use_cases::Generations::register`]).
    pub(crate) async fn register_generation(
        &self,
        generation_id: i64,
        registered_by: &str,
    ) -> Result<(registrations::Registration, registrations::Outcome)> {
        let settings = self.aws_settings().await?;
        registrations::register_generation(
            &self.db,
            &self.aws,
            &settings,
            generation_id,
            registered_by,
            self.held_outputs.get(generation_id),
        )
        .await
    }

    pub(crate) fn held_outputs(&self) -> &generations::HeldOutputs {
        &self.held_outputs
    }

    /// Whether the console can keep tokens in Secrets Manager: it has a region and credentials
    /// (whether its role may write there is only known by trying; a failed write revokes the
    /// token and says so). Decides the Protect page's default token choice.
    pub async fn can_store_secrets(&self) -> bool {
        use aws_sdk_secretsmanager::config::ProvideCredentials;
        let Ok(settings) = self.aws_settings().await else {
            return false;
        };
        let Ok(config) = self.aws.config(&settings.without_ecs_endpoint()).await else {
            return false;
        };
        let Some(provider) = config.credentials_provider() else {
            return false;
        };
        let found = provider.provide_credentials();
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(3), found).await,
            Ok(Ok(_))
        )
    }
}
