//! Registering a generation as a new ECS revision, once: each attempt is a row (who, when, digests
//! of input and output, the ARN or the error), keyed by the generation so a double submit finds the
//! first attempt instead of registering twice. Also the console's ECS settings.

use crate::api::{EcsSettingsView, RegistrationView};
use crate::ecs::{self, console_link, EcsError, EcsSettings};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("generation {0} does not exist")]
    UnknownGeneration(i64),
    #[error("{0}")]
    NotRegistrable(String),
    #[error("a registration of this generation is already in progress")]
    InProgress,
    #[error(transparent)]
    Ecs(#[from] EcsError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// A pending registration older than this was cut off (the console stopped mid-call: the ECS
/// client gives up after 60 s), so it may be claimed again instead of answering 409 forever.
const ABANDONED_AFTER: time::Duration = time::Duration::minutes(5);

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    id: i64,
    created_at: String,
    generation_id: Option<i64>,
    registered_by: String,
    family: String,
    input_sha256: String,
    output_sha256: String,
    status: String,
    task_definition_arn: Option<String>,
    revision: Option<i64>,
    region: Option<String>,
    error: Option<String>,
}

impl From<RegistrationRow> for RegistrationView {
    fn from(row: RegistrationRow) -> Self {
        let console = match (&row.region, row.revision) {
            (Some(region), Some(revision)) => Some(console_link(region, &row.family, revision)),
            _ => None,
        };
        RegistrationView {
            id: row.id,
            created_at: row.created_at,
            generation_id: row.generation_id,
            registered_by: row.registered_by,
            family: row.family,
            input_sha256: row.input_sha256,
            output_sha256: row.output_sha256,
            status: row.status,
            task_definition_arn: row.task_definition_arn,
            revision: row.revision,
            console_link: console,
            error: row.error,
        }
    }
}

const COLUMNS: &str = "id, created_at, generation_id, registered_by, family, input_sha256, output_sha256, status, task_definition_arn, revision, region, error";

async fn by_key(pool: &SqlitePool, key: &str) -> Result<Option<RegistrationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM registrations WHERE idempotency_key = ?"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Registers the output of generation `generation_id`; true when this call registered it. A
/// generation already registered answers with that registration (false); a failed one may be
/// tried again.
#[tracing::instrument(skip(pool, settings, registered_by))]
pub async fn register_generation(
    pool: &SqlitePool,
    generation_id: i64,
    settings: &EcsSettings,
    registered_by: &str,
) -> Result<(RegistrationView, bool), RegisterError> {
    let generation: Option<(String, String)> =
        sqlx::query_as("SELECT input, output FROM generations WHERE id = ?")
            .bind(generation_id)
            .fetch_optional(pool)
            .await?;
    let (input, output) = generation.ok_or(RegisterError::UnknownGeneration(generation_id))?;
    let task = match serde_json::from_str::<serde_json::Value>(&output) {
        Ok(serde_json::Value::Object(task)) => task,
        _ => {
            return Err(RegisterError::NotRegistrable(
                "this generation is a containerDefinitions array: register the whole task definition around it".into(),
            ))
        }
    };
    let family = task
        .get("family")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let key = format!("generation:{generation_id}");

    // Claim the key first: of two simultaneous submits, only one inserts the pending row. A failed
    // or abandoned attempt is claimed again; a registered one never.
    let claimed = sqlx::query(
        "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')
         ON CONFLICT (idempotency_key) DO UPDATE SET status = 'pending', error = NULL, created_at = excluded.created_at, registered_by = excluded.registered_by
         WHERE registrations.status = 'failed' OR (registrations.status = 'pending' AND registrations.created_at < ?)",
    )
    .bind(now())
    .bind(generation_id)
    .bind(&key)
    .bind(registered_by)
    .bind(&family)
    .bind(sha256_hex(input.as_bytes()))
    .bind(sha256_hex(output.as_bytes()))
    .bind(rfc3339(time::OffsetDateTime::now_utc() - ABANDONED_AFTER))
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        let existing = by_key(pool, &key).await?.ok_or(RegisterError::InProgress)?;
        return match existing.status.as_str() {
            "registered" => Ok((existing.into(), false)),
            _ => Err(RegisterError::InProgress),
        };
    }

    let result = async {
        let client = ecs::client(settings).await?;
        ecs::register(&client, &task).await
    }
    .await;
    match &result {
        Ok(registered) => {
            sqlx::query("UPDATE registrations SET status = 'registered', task_definition_arn = ?, revision = ?, region = ? WHERE idempotency_key = ?")
                .bind(&registered.arn)
                .bind(registered.revision)
                .bind(&registered.region)
                .bind(&key)
                .execute(pool)
                .await?;
        }
        Err(error) => {
            sqlx::query(
                "UPDATE registrations SET status = 'failed', error = ? WHERE idempotency_key = ?",
            )
            .bind(error.to_string())
            .bind(&key)
            .execute(pool)
            .await?;
        }
    }
    result?;
    Ok((
        by_key(pool, &key)
            .await?
            .ok_or(RegisterError::InProgress)?
            .into(),
        true,
    ))
}

/// The newest registrations first.
#[tracing::instrument(skip(pool))]
pub async fn list(pool: &SqlitePool, limit: i64) -> Result<Vec<RegistrationView>, sqlx::Error> {
    let rows: Vec<RegistrationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM registrations ORDER BY created_at DESC, id DESC LIMIT ?"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

const SETTING_KEYS: [&str; 3] = ["aws_region", "aws_profile", "ecs_endpoint_url"];

/// The ECS settings saved in the console; unset ones fall back to the SDK's standard chain.
pub async fn load_settings(pool: &SqlitePool) -> Result<EcsSettings, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE key IN (?, ?, ?)")
            .bind(SETTING_KEYS[0])
            .bind(SETTING_KEYS[1])
            .bind(SETTING_KEYS[2])
            .fetch_all(pool)
            .await?;
    let get = |wanted: &str| {
        rows.iter()
            .find(|(key, _)| key == wanted)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    Ok(EcsSettings {
        region: get(SETTING_KEYS[0]),
        profile: get(SETTING_KEYS[1]),
        endpoint_url: get(SETTING_KEYS[2]),
    })
}

impl From<EcsSettings> for EcsSettingsView {
    fn from(settings: EcsSettings) -> Self {
        EcsSettingsView {
            region: settings.region.unwrap_or_default(),
            profile: settings.profile.unwrap_or_default(),
            endpoint_url: settings.endpoint_url.unwrap_or_default(),
        }
    }
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Refuses values the SDK would only reject at the first call, far from where they were typed.
pub fn check_settings(settings: &EcsSettingsView) -> Result<(), String> {
    let region = settings.region.trim();
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "region `{region}` is not a region name like eu-west-1"
        ));
    }
    let endpoint = settings.endpoint_url.trim();
    let has_scheme = endpoint.starts_with("http://") || endpoint.starts_with("https://");
    if (!endpoint.is_empty() && !has_scheme) || endpoint.contains(char::is_whitespace) {
        return Err(format!("endpoint URL `{endpoint}` must start with https:// (or http:// for a local endpoint), or be empty to use AWS's"));
    }
    if settings.profile.trim().contains(char::is_whitespace) {
        return Err("a profile name has no spaces".into());
    }
    Ok(())
}

/// Saves the ECS settings (an empty field means "use the standard chain").
pub async fn save_settings(
    pool: &SqlitePool,
    settings: &EcsSettingsView,
) -> Result<(), SettingsError> {
    check_settings(settings).map_err(SettingsError::Invalid)?;
    let mut transaction = pool.begin().await?;
    for (key, value) in
        SETTING_KEYS
            .iter()
            .zip([&settings.region, &settings.profile, &settings.endpoint_url])
    {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value.trim())
            .execute(&mut *transaction)
            .await?;
    }
    Ok(transaction.commit().await?)
}
