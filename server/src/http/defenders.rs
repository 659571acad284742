//! The defenders' and tokens' REST endpoints: the dashboard's list and a defender's page as JSON,
//! and defender tokens (create, list, revoke).

use super::error::{ApiError, AppJson, AppQuery};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use palisade_app::api::defenders::{DefenderDetail, DefenderFilter, DefenderList, TIMELINE_LENGTH};
use palisade_app::api::settings::{CreatedToken, TokenView};
use palisade_console::defenders::{self, tokens};
use palisade_console::Console;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/defenders", get(list))
        .route("/defenders/{id}", get(detail))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}

async fn list(
    State(console): State<Console>,
    AppQuery(filter): AppQuery<DefenderFilter>,
) -> Result<Json<DefenderList>, ApiError> {
    // Words the query string cannot mean are a malformed request, not a refused one.
    let query = filter.parse().map_err(ApiError::malformed)?;
    Ok(Json(defenders::list(console.db(), &query).await?.into()))
}

async fn detail(
    State(console): State<Console>,
    Path(id): Path<i64>,
) -> Result<Json<DefenderDetail>, ApiError> {
    Ok(Json(
        defenders::get(console.db(), id, TIMELINE_LENGTH)
            .await?
            .into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    family: String,
    #[serde(default)]
    label: String,
}

async fn create_token(
    State(console): State<Console>,
    AppJson(request): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = tokens::create(console.db(), &request.family, &request.label).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

async fn list_tokens(State(console): State<Console>) -> Result<Json<serde_json::Value>, ApiError> {
    let tokens: Vec<TokenView> = tokens::list(console.db())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

async fn revoke_token(
    State(console): State<Console>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(console.db(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
