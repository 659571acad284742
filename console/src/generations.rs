//! The generation history: every successful Generate, as the generator produced it (input, the
//! normalized input, the output, summary, warnings, container plans, entrypoints read from
//! registries, notes), listed as "Recent generations" and reopened from there, kept
//! [`DEFAULT_RETENTION_DAYS`] days (pasted inputs are often full of secrets). A plain token is never
//! written down: the recorded texts hold [`PLAIN_TOKEN_MARKER`] in its place, and the real output is
//! held in memory ([`HeldOutputs`]) just long enough to register it.

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use crate::images::Resolution;
use crate::redact::Disclosure;
use palisade_taskdef::protect::ContainerPlan;
use palisade_taskdef::{normalize_text, to_pretty, InputForm, ProtectOptions, Protected};
use palisade_taskdef::{TokenSource, Warning};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the history keeps where a generation embedded a plain token.
pub const PLAIN_TOKEN_MARKER: &str = "<plain token: shown once, not kept>";
/// How long generations are kept unless `PALISADE_GENERATION_RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION_DAYS: u64 = 90;

/// `text` with every JSON string that is exactly `token` replaced by the marker. Whole string
/// literals only, so a short token cannot mangle the rest of the document.
fn without_token(text: &str, token: &str) -> String {
    let literal = serde_json::to_string(token).expect("a string serializes");
    let marker = serde_json::to_string(PLAIN_TOKEN_MARKER).expect("a string serializes");
    text.replace(&literal, &marker)
}

/// Outputs that embed a plain token, in memory only, for [`HeldOutputs::KEPT_FOR`] after they were
/// generated: Register works right after Generate, and the token is never on disk. A restart
/// forgets them (registering then says to generate again).
#[derive(Default)]
pub struct HeldOutputs {
    outputs: Mutex<HashMap<i64, (Instant, String)>>,
}

impl std::fmt::Debug for HeldOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the outputs: they hold plain tokens.
        f.debug_struct("HeldOutputs").finish_non_exhaustive()
    }
}

impl HeldOutputs {
    pub const KEPT_FOR: Duration = Duration::from_secs(15 * 60);
    /// At most this many at once; the oldest goes first.
    const MAX: usize = 256;

    pub fn hold(&self, generation_id: i64, output: String) {
        let mut outputs = crate::lock(&self.outputs);
        outputs.retain(|_, (at, _)| at.elapsed() < Self::KEPT_FOR);
        if outputs.len() >= Self::MAX {
            if let Some(oldest) = outputs
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(id, _)| *id)
            {
                outputs.remove(&oldest);
            }
        }
        outputs.insert(generation_id, (Instant::now(), output));
    }

    /// The output of `generation_id` while it is held.
    pub fn get(&self, generation_id: i64) -> Option<String> {
        crate::lock(&self.outputs)
            .get(&generation_id)
            .filter(|(at, _)| at.elapsed() < Self::KEPT_FOR)
            .map(|(_, output)| output.clone())
    }
}

/// What is recorded of one successful generation.
pub struct NewGeneration<'a> {
    pub input: &'a str,
    /// The options the user chose (before entrypoints were read from registries).
    pub options: &'a ProtectOptions,
    pub protected: &'a Protected,
    pub resolutions: &'a [Resolution],
    pub notes: &'a [String],
}

/// A generation as "Recent generations" lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationItem {
    pub id: i64,
    pub created_at: UnixMs,
    pub family: Option<String>,
    /// The containers that were wrapped.
    pub containers_protected: Vec<String>,
    /// The summary's sentences.
    pub summary: Vec<String>,
}

impl GenerationItem {
    /// The item as `disclosure` lets its reader see it: the summary quotes each wrapped argv word
    /// for word.
    pub fn disclosed(mut self, disclosure: Disclosure) -> Self {
        self.summary = disclosure.lines(self.summary);
        self
    }
}

/// A whole recorded generation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationRecord {
    pub item: GenerationItem,
    pub form: InputForm,
    pub options: ProtectOptions,
    pub input: String,
    /// normalize(input), pretty-printed.
    pub normalized: String,
    /// The result, pretty-printed.
    pub output: String,
    pub warnings: Vec<Warning>,
    pub containers: Vec<ContainerPlan>,
    pub resolutions: Vec<Resolution>,
    pub notes: Vec<String>,
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).context("recording a generation")
}

fn read<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).context("reading a recorded generation")
}

/// Records one generation; answers its id.
#[tracing::instrument(skip_all)]
pub async fn record(db: &SqlitePool, new: NewGeneration<'_>) -> Result<i64> {
    let mut options = new.options.clone();
    let plain_token = match options.token.take() {
        Some(TokenSource::Plain(token)) => Some(token),
        other => {
            options.token = other;
            None
        }
    };
    let kept = |text: String| match &plain_token {
        Some(token) => without_token(&text, token),
        None => text,
    };
    let protected = new.protected;
    let created_at = now_ms();
    let form = protected.form.as_str();
    let containers_protected: Vec<&str> = protected
        .plan
        .iter()
        .filter(|plan| plan.protect)
        .map(|plan| plan.name.as_str())
        .collect();
    let (containers_protected, summary, options) = (
        json(&containers_protected)?,
        json(&protected.summary.lines())?,
        json(&options)?,
    );
    let (input, normalized, output) = (
        kept(new.input.to_owned()),
        kept(to_pretty(&protected.normalized)),
        kept(to_pretty(&protected.output)),
    );
    let (warnings, containers, resolutions, notes) = (
        json(&protected.warnings)?,
        json(&protected.plan)?,
        json(new.resolutions)?,
        json(new.notes)?,
    );
    let _turn = crate::db::write_turn().await;
    sqlx::query_scalar!(
        r#"INSERT INTO generations (created_at, family, form, containers_protected, summary, options, input, normalized, output, warnings, containers, resolutions, notes)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
        created_at,
        protected.family,
        form,
        containers_protected,
        summary,
        options,
        input,
        normalized,
        output,
        warnings,
        containers,
        resolutions,
        notes
    )
    .fetch_one(db)
    .await
    .context("recording a generation")
}

/// The newest `limit` generations, newest first.
#[tracing::instrument(skip(db))]
pub async fn recent(db: &SqlitePool, limit: i64) -> Result<Vec<GenerationItem>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", created_at, family, containers_protected, summary
           FROM generations ORDER BY created_at DESC, id DESC LIMIT ?"#,
        limit
    )
    .fetch_all(db)
    .await
    .context("listing recent generations")?;
    rows.into_iter()
        .map(|row| {
            Ok(GenerationItem {
                id: row.id,
                created_at: row.created_at,
                family: row.family,
                containers_protected: read(&row.containers_protected)?,
                summary: read(&row.summary)?,
            })
        })
        .collect()
}

/// One generation, whole.
#[tracing::instrument(skip(db))]
pub async fn get(db: &SqlitePool, id: i64) -> Result<GenerationRecord> {
    let row = sqlx::query!(
        r#"SELECT id AS "id!", created_at, family, form, containers_protected, summary, options, input, normalized,
                  output, warnings, containers, resolutions, notes
           FROM generations WHERE id = ?"#,
        id
    )
    .fetch_optional(db)
    .await
    .context("loading a generation")?
    .ok_or_else(|| Error::NotFound(format!("generation {id} does not exist")))?;
    let form = InputForm::from_name(&row.form).ok_or_else(|| {
        Error::internal(
            "reading a recorded generation",
            format!("unknown input form `{}`", row.form),
        )
    })?;
    // Recorded before the normalized input was kept: normalizing is pure, so it is made again
    // (an input that generated once normalizes again; if not, the diff shows all as added).
    let normalized = match row.normalized {
        Some(normalized) => normalized,
        None => normalize_text(&row.input)
            .map(|normalized| to_pretty(&normalized.document()))
            .unwrap_or_default(),
    };
    Ok(GenerationRecord {
        item: GenerationItem {
            id: row.id,
            created_at: row.created_at,
            family: row.family,
            containers_protected: read(&row.containers_protected)?,
            summary: read(&row.summary)?,
        },
        form,
        options: read(&row.options)?,
        input: row.input,
        normalized,
        output: row.output,
        warnings: read(&row.warnings)?,
        containers: read(&row.containers)?,
        resolutions: read(&row.resolutions)?,
        notes: read(&row.notes)?,
    })
}

/// Its input and output, for registering it.
pub(crate) async fn input_and_output(db: &SqlitePool, id: i64) -> Result<(String, String)> {
    let row = sqlx::query!("SELECT input, output FROM generations WHERE id = ?", id)
        .fetch_optional(db)
        .await
        .context("loading a generation")?
        .ok_or_else(|| Error::NotFound(format!("generation {id} does not exist")))?;
    Ok((row.input, row.output))
}

/// Forgets the generations made before `before` (their inputs included); their registrations stay,
/// no longer linked to them. Answers how many went.
#[tracing::instrument(skip(db))]
pub async fn forget_before(db: &SqlitePool, before: UnixMs) -> Result<u64> {
    let mut transaction = db.begin().await.context("forgetting old generations")?;
    sqlx::query!(
        "UPDATE registrations SET generation_id = NULL
         WHERE generation_id IN (SELECT id FROM generations WHERE created_at < ?)",
        before
    )
    .execute(&mut *transaction)
    .await
    .context("forgetting old generations")?;
    let forgotten = sqlx::query!("DELETE FROM generations WHERE created_at < ?", before)
        .execute(&mut *transaction)
        .await
        .context("forgetting old generations")?
        .rows_affected();
    transaction
        .commit()
        .await
        .context("forgetting old generations")?;
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_taskdef::protect_text;

    const TASK: &str = r#"{"family": "billing", "revision": 3, "containerDefinitions": [{"name": "api", "image": "api:1", "entryPoint": ["/api"], "memory": 128}]}"#;

    #[tokio::test]
    async fn a_generation_is_recorded_as_produced_and_without_a_plain_token() {
        let (_dir, db) = crate::testing::database().await;
        let options = ProtectOptions {
            token: Some(TokenSource::Plain("pal_secret".into())),
            ..ProtectOptions::default()
        };
        let protected = protect_text(TASK, &options).unwrap();
        let notes = vec!["token 1 was created".to_owned()];
        let id = record(
            &db,
            NewGeneration {
                input: TASK,
                options: &options,
                protected: &protected,
                resolutions: &[],
                notes: &notes,
            },
        )
        .await
        .unwrap();

        let recorded = get(&db, id).await.unwrap();
        assert_eq!(recorded.item.family.as_deref(), Some("billing"));
        assert_eq!(recorded.item.containers_protected, ["api"]);
        assert_eq!(recorded.item.summary, protected.summary.lines());
        assert_eq!(recorded.form, InputForm::TaskDefinition);
        assert_eq!(
            recorded.options.token, None,
            "a plain token is never recorded"
        );
        assert_eq!(recorded.normalized, to_pretty(&protected.normalized));
        // The output as produced, but the token: nowhere in the database file.
        assert_eq!(
            recorded.output,
            to_pretty(&protected.output).replace("pal_secret", PLAIN_TOKEN_MARKER)
        );
        assert!(recorded.output.contains(PLAIN_TOKEN_MARKER));
        let everything: Vec<String> = sqlx::query_scalar(
            "SELECT input || options || normalized || output || notes FROM generations",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        assert!(!everything.concat().contains("pal_secret"));
        assert_eq!(recorded.warnings, protected.warnings);
        assert_eq!(recorded.containers, protected.plan);
        assert_eq!(recorded.notes, notes);
        assert!(
            recorded.item.created_at > 1_700_000_000_000,
            "Unix milliseconds"
        );
        assert_eq!(recent(&db, 5).await.unwrap(), [recorded.item]);
        assert!(matches!(get(&db, id + 1).await, Err(Error::NotFound(_))));
    }

    #[test]
    fn only_whole_strings_equal_to_the_token_are_replaced() {
        let text = r#"{"name": "a", "value": "a", "other": "abc", "escaped": "x\"y"}"#;
        assert_eq!(
            without_token(text, "a"),
            format!(
                r#"{{"name": "{PLAIN_TOKEN_MARKER}", "value": "{PLAIN_TOKEN_MARKER}", "other": "abc", "escaped": "x\"y"}}"#
            )
        );
        assert!(without_token(text, "x\"y").contains(PLAIN_TOKEN_MARKER));
    }

    #[tokio::test]
    async fn old_generations_are_forgotten_and_their_registrations_stay() {
        let (_dir, db) = crate::testing::database().await;
        let options = ProtectOptions::default();
        let protected = protect_text(TASK, &options).unwrap();
        let new = || NewGeneration {
            input: TASK,
            options: &options,
            protected: &protected,
            resolutions: &[],
            notes: &[],
        };
        let (old, young) = (
            record(&db, new()).await.unwrap(),
            record(&db, new()).await.unwrap(),
        );
        sqlx::query("UPDATE generations SET created_at = 1000 WHERE id = ?")
            .bind(old)
            .execute(&db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status)
             VALUES (1000, ?, 'generation:old', 'admin', 'billing', '', '', 'registered')",
        )
        .bind(old)
        .execute(&db)
        .await
        .unwrap();
        assert_eq!(forget_before(&db, 2000).await.unwrap(), 1);
        assert!(matches!(get(&db, old).await, Err(Error::NotFound(_))));
        assert!(get(&db, young).await.is_ok());
        let kept: Option<i64> = sqlx::query_scalar("SELECT generation_id FROM registrations")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(kept, None, "the registration stays, unlinked");
    }

    #[test]
    fn held_outputs_are_kept_briefly_and_never_shown_in_debug() {
        let held = HeldOutputs::default();
        held.hold(7, "pal_secret".into());
        assert_eq!(held.get(7).as_deref(), Some("pal_secret"));
        assert_eq!(held.get(8), None);
        assert!(!format!("{held:?}").contains("pal_secret"));
    }
}
