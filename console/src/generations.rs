//! The generation history: every successful Generate, as the generator produced it (input, the
//! normalized input, the output, summary, warnings, container plans, entrypoints read from
//! registries, notes), listed as "Recent generations" and reopened from there. The recorded options
//! never hold a plain token.

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use crate::images::Resolution;
use palisade_taskdef::protect::ContainerPlan;
use palisade_taskdef::{normalize_text, to_pretty, InputForm, ProtectOptions, Protected};
use palisade_taskdef::{TokenSource, Warning};
use sqlx::SqlitePool;

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
    if matches!(options.token, Some(TokenSource::Plain(_))) {
        options.token = None;
    }
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
    let (normalized, output) = (
        to_pretty(&protected.normalized),
        to_pretty(&protected.output),
    );
    let (warnings, containers, resolutions, notes) = (
        json(&protected.warnings)?,
        json(&protected.plan)?,
        json(new.resolutions)?,
        json(new.notes)?,
    );
    sqlx::query_scalar!(
        r#"INSERT INTO generations (created_at, family, form, containers_protected, summary, options, input, normalized, output, warnings, containers, resolutions, notes)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
        created_at,
        protected.family,
        form,
        containers_protected,
        summary,
        options,
        new.input,
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
        assert_eq!(recorded.output, to_pretty(&protected.output));
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
}
