//! Registering a generation as a new ECS revision, once: each attempt is a row (who, when, digests
//! of input and output, the ARN or the error), keyed by the generation so a double submit finds the
//! first attempt instead of registering twice.

use crate::aws::{ecs, Aws};
use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use crate::redact::Disclosure;
use crate::settings::AwsSettings;
use crate::text::sha256_hex;
use sqlx::SqlitePool;

/// A pending registration older than this was cut off (the console stopped mid-call: the ECS
/// client gives up after 60 s), so it may be claimed again instead of answering 409 forever.
pub const ABANDONED_AFTER_MS: i64 = 5 * 60 * 1000;

/// Where an attempt stands (pending: ECS is being called; failed: ECS refused or could not be
/// reached, and the generation may be registered again): the one type every front end shows.
pub use palisade_types::generations::RegistrationStatus;

/// The status column as the queries decode it. palisade-types has no sqlx (it builds for the
/// browser), so the queries read this and `query_as!` converts it (`.into()`) into the shared
/// type: their text, and so `.sqlx/`, name `RegistrationStatus`, which each query's function
/// brings in from here.
mod stored {
    #[derive(sqlx::Type)]
    #[sqlx(rename_all = "lowercase")]
    pub enum RegistrationStatus {
        Pending,
        Registered,
        Failed,
    }

    impl From<RegistrationStatus> for super::RegistrationStatus {
        fn from(status: RegistrationStatus) -> Self {
            match status {
                RegistrationStatus::Pending => Self::Pending,
                RegistrationStatus::Registered => Self::Registered,
                RegistrationStatus::Failed => Self::Failed,
            }
        }
    }
}

/// One registration attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub id: i64,
    pub created_at: UnixMs,
    pub generation_id: Option<i64>,
    pub registered_by: String,
    pub family: String,
    /// SHA-256 (hex) of what the user pasted and of the JSON sent to ECS.
    pub input_sha256: String,
    pub output_sha256: String,
    pub status: RegistrationStatus,
    pub task_definition_arn: Option<String>,
    pub revision: Option<i64>,
    pub region: Option<String>,
    pub error: Option<String>,
}

impl Registration {
    /// The registration as `disclosure` lets its reader see it: the error of a failed one may
    /// quote what ECS was sent.
    pub fn disclosed(mut self, disclosure: Disclosure) -> Self {
        self.error = self.error.map(|error| disclosure.text(&error).into_owned());
        self
    }

    /// The revision's page in the AWS console, once registered.
    pub fn console_link(&self) -> Option<String> {
        match (&self.region, self.revision) {
            (Some(region), Some(revision)) => {
                Some(ecs::console_link(region, &self.family, revision))
            }
            _ => None,
        }
    }
}

/// What a call to [`register_generation`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This call registered the generation.
    Registered,
    /// It was registered before: the answer is that registration.
    AlreadyRegistered,
}

async fn by_key(db: &SqlitePool, key: &str) -> Result<Option<Registration>> {
    use stored::RegistrationStatus;
    sqlx::query_as!(
        Registration,
        r#"SELECT id AS "id!", created_at, generation_id, registered_by, family, input_sha256, output_sha256,
                  status AS "status: RegistrationStatus", task_definition_arn, revision, region, error
           FROM registrations WHERE idempotency_key = ?"#,
        key
    )
    .fetch_optional(db)
    .await
    .context("reading a registration")
}

fn in_progress() -> Error {
    Error::Conflict("a registration of this generation is already in progress".into())
}

/// Claims the right to register under `key`: true when this call inserted (or took over) the
/// pending row. Of two simultaneous claims only one wins; a failed or abandoned attempt is
/// claimed again, a registered one never.
pub(crate) async fn claim(
    db: &SqlitePool,
    key: &str,
    generation_id: i64,
    registered_by: &str,
    family: &str,
    digests: (&str, &str),
) -> Result<bool> {
    let now = now_ms();
    let abandoned_before = now - ABANDONED_AFTER_MS;
    let (input_sha256, output_sha256) = digests;
    let _turn = crate::db::write_turn().await;
    let claimed = sqlx::query!(
        "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')
         ON CONFLICT (idempotency_key) DO UPDATE SET status = 'pending', error = NULL, created_at = excluded.created_at, registered_by = excluded.registered_by
         WHERE registrations.status = 'failed' OR (registrations.status = 'pending' AND registrations.created_at < ?)",
        now,
        generation_id,
        key,
        registered_by,
        family,
        input_sha256,
        output_sha256,
        abandoned_before
    )
    .execute(db)
    .await
    .context("claiming a registration")?
    .rows_affected();
    Ok(claimed == 1)
}

/// Registers the output of generation `generation_id` on ECS with `settings`, once: a generation
/// already registered answers with that registration; a failed one may be tried again. `held` is
/// its real output when it embeds a plain token (the history only has a marker in its place).
#[tracing::instrument(skip(db, aws, settings, registered_by, held))]
pub async fn register_generation(
    db: &SqlitePool,
    aws: &Aws,
    settings: &AwsSettings,
    generation_id: i64,
    registered_by: &str,
    held: Option<String>,
) -> Result<(Registration, Outcome)> {
    let (input, stored) = crate::generations::input_and_output(db, generation_id).await?;
    let output = held.unwrap_or(stored);
    let (task, family) = registrable_task(generation_id, &output)?;
    let key = format!("generation:{generation_id}");
    let digests = (sha256_hex(&input), sha256_hex(&output));
    if !claim(
        db,
        &key,
        generation_id,
        registered_by,
        &family,
        (&digests.0, &digests.1),
    )
    .await?
    {
        return earlier_registration(db, &key).await;
    }

    let result = match aws.ecs(settings).await {
        Ok(client) => ecs::register(&client, &task).await,
        Err(upstream) => Err(upstream.into()),
    };
    record_attempt(db, &key, &result).await?;
    result?;
    let registration = by_key(db, &key).await?.ok_or_else(in_progress)?;
    Ok((registration, Outcome::Registered))
}

/// The task definition `output` holds, and its family; refused when it embeds a plain token the
/// console no longer holds, or is not a whole task definition.
fn registrable_task(
    generation_id: i64,
    output: &str,
) -> Result<(serde_json::Map<String, serde_json::Value>, String)> {
    if output.contains(crate::generations::PLAIN_TOKEN_MARKER) {
        return Err(Error::invalid(format!(
            "generation {generation_id} embedded a plain token, which the console never writes down and holds in memory for {} minutes after generating: generate again and register then, or keep the token in Secrets Manager",
            crate::generations::HeldOutputs::KEPT_FOR.as_secs() / 60
        )));
    }
    let task = match serde_json::from_str::<serde_json::Value>(output) {
        Ok(serde_json::Value::Object(task)) => task,
        _ => {
            return Err(Error::invalid(
                "this generation is a containerDefinitions array: register the whole task definition around it",
            ))
        }
    };
    let family = task
        .get("family")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| Error::invalid("this generation's task definition has no family"))?
        .to_owned();
    Ok((task, family))
}

/// The answer when another call claimed the key: its registration if it is done, else "in
/// progress".
async fn earlier_registration(db: &SqlitePool, key: &str) -> Result<(Registration, Outcome)> {
    match by_key(db, key).await? {
        Some(existing) if existing.status == RegistrationStatus::Registered => {
            Ok((existing, Outcome::AlreadyRegistered))
        }
        _ => Err(in_progress()),
    }
}

/// What ECS answered, written on the claimed row: registered with its ARN, or failed with why.
async fn record_attempt(
    db: &SqlitePool,
    key: &str,
    result: &Result<ecs::Registered>,
) -> Result<()> {
    match result {
        Ok(registered) => {
            let revision = i64::from(registered.revision);
            let _turn = crate::db::write_turn().await;
            sqlx::query!(
                "UPDATE registrations SET status = 'registered', task_definition_arn = ?, revision = ?, region = ? WHERE idempotency_key = ?",
                registered.arn,
                revision,
                registered.region,
                key
            )
            .execute(db)
            .await
            .context("recording a registration")?;
        }
        Err(error) => {
            let error = error.public_message();
            let _turn = crate::db::write_turn().await;
            sqlx::query!(
                "UPDATE registrations SET status = 'failed', error = ? WHERE idempotency_key = ?",
                error,
                key
            )
            .execute(db)
            .await
            .context("recording a failed registration")?;
        }
    }
    Ok(())
}

/// The newest `limit` registrations first.
#[tracing::instrument(skip(db))]
pub async fn list(db: &SqlitePool, limit: i64) -> Result<Vec<Registration>> {
    use stored::RegistrationStatus;
    sqlx::query_as!(
        Registration,
        r#"SELECT id AS "id!", created_at, generation_id, registered_by, family, input_sha256, output_sha256,
                  status AS "status: RegistrationStatus", task_definition_arn, revision, region, error
           FROM registrations ORDER BY created_at DESC, id DESC LIMIT ?"#,
        limit
    )
    .fetch_all(db)
    .await
    .context("listing the registrations")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generations::{record, NewGeneration};
    use palisade_taskdef::{protect_text, ProtectOptions};

    const TASK: &str = r#"{"family": "billing", "containerDefinitions": [{"name": "api", "image": "api:1", "entryPoint": ["/api"], "memory": 128}]}"#;

    async fn a_generation(db: &SqlitePool) -> i64 {
        let options = ProtectOptions::default();
        let protected = protect_text(TASK, &options).unwrap();
        record(
            db,
            NewGeneration {
                input: TASK,
                options: &options,
                protected: &protected,
                resolutions: &[],
                notes: &[],
            },
        )
        .await
        .unwrap()
    }

    async fn set_status(db: &SqlitePool, key: &str, status: &str, created_at: i64) {
        sqlx::query(
            "UPDATE registrations SET status = ?, created_at = ? WHERE idempotency_key = ?",
        )
        .bind(status)
        .bind(created_at)
        .bind(key)
        .execute(db)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_registration_is_claimed_once_and_again_only_when_it_failed_or_was_abandoned() {
        let (_dir, db) = crate::testing::database().await;
        let generation = a_generation(&db).await;
        let key = format!("generation:{generation}");
        let claim_now = || claim(&db, &key, generation, "test", "billing", ("a", "b"));

        assert!(claim_now().await.unwrap(), "the first claim wins");
        assert!(
            !claim_now().await.unwrap(),
            "a second one, while pending, does not"
        );

        set_status(&db, &key, "failed", now_ms()).await;
        assert!(
            claim_now().await.unwrap(),
            "a failed attempt may be tried again"
        );

        // Pending for longer than any ECS call takes: the console died mid-call.
        set_status(&db, &key, "pending", now_ms() - ABANDONED_AFTER_MS - 1).await;
        assert!(
            claim_now().await.unwrap(),
            "an abandoned attempt is taken over"
        );

        set_status(&db, &key, "registered", 0).await;
        assert!(
            !claim_now().await.unwrap(),
            "a registered generation never again"
        );
        let registered = by_key(&db, &key).await.unwrap().unwrap();
        assert_eq!(registered.status, RegistrationStatus::Registered);
        assert_eq!(registered.family, "billing");
        assert_eq!(list(&db, 10).await.unwrap().len(), 1);
    }
}
