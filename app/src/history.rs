//! The generation history in SQLite: every successful Generate, listed as "Recent generations"
//! and reopened from there. Plain tokens are never stored in the recorded options.

use crate::api::{GenerateResponse, GenerationDetail, GenerationListItem};
use palisade_taskdef::{ProtectOptions, TokenSource};
use sqlx::SqlitePool;

/// Stores one generation; returns its id.
#[tracing::instrument(skip_all)]
pub async fn record(
    pool: &SqlitePool,
    input: &str,
    options: &ProtectOptions,
    response: &GenerateResponse,
) -> Result<i64, sqlx::Error> {
    let mut stored_options = options.clone();
    if matches!(stored_options.token, Some(TokenSource::Plain(_))) {
        stored_options.token = None;
    }
    let created_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let containers: Vec<&str> = response
        .containers
        .iter()
        .filter(|c| c.protect)
        .map(|c| c.name.as_str())
        .collect();
    let row: (i64,) = sqlx::query_as(
        "INSERT INTO generations (created_at, family, input_form, containers_protected, summary, options, input, output, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(created_at)
    .bind(&response.family)
    .bind(if response.output.trim_start().starts_with('[') { "container_definitions" } else { "task_definition" })
    .bind(serde_json::to_string(&containers).unwrap_or_default())
    .bind(serde_json::to_string(&response.summary).unwrap_or_default())
    .bind(serde_json::to_string(&stored_options).unwrap_or_default())
    .bind(input)
    .bind(&response.output)
    .bind(serde_json::to_string(response).unwrap_or_default())
    .fetch_one(pool)
    .await?;
    Ok(row.0)
}

/// A row of `generations` as the list shows it (`input` and `response` only when reopening).
#[derive(sqlx::FromRow)]
struct GenerationRow {
    id: i64,
    created_at: String,
    family: Option<String>,
    containers_protected: String,
    summary: String,
    #[sqlx(default)]
    input: String,
    #[sqlx(default)]
    response: String,
}

impl GenerationRow {
    fn list_item(&self) -> GenerationListItem {
        GenerationListItem {
            id: self.id,
            created_at: self.created_at.clone(),
            family: self.family.clone(),
            containers_protected: serde_json::from_str(&self.containers_protected)
                .unwrap_or_default(),
            summary: serde_json::from_str(&self.summary).unwrap_or_default(),
        }
    }
}

/// The newest `limit` generations.
#[tracing::instrument(skip_all)]
pub async fn recent(pool: &SqlitePool, limit: i64) -> Result<Vec<GenerationListItem>, sqlx::Error> {
    let rows: Vec<GenerationRow> = sqlx::query_as(
        "SELECT id, created_at, family, containers_protected, summary FROM generations ORDER BY created_at DESC, id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(GenerationRow::list_item).collect())
}

/// One generation with its input and the full answer the page showed.
#[tracing::instrument(skip_all, fields(id))]
pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<GenerationDetail>, sqlx::Error> {
    let row: Option<GenerationRow> = sqlx::query_as(
        "SELECT id, created_at, family, containers_protected, summary, input, response FROM generations WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let mut response: crate::api::GenerateResponse =
            serde_json::from_str(&row.response).unwrap_or_default();
        // Stored before the id existed; the reopened page needs it to register.
        response.generation_id = Some(row.id);
        GenerationDetail {
            item: row.list_item(),
            response,
            input: row.input,
        }
    }))
}
