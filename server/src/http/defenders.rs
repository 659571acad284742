//! The defenders' and tokens' REST endpoints: the dashboard's list and a defender's page as JSON,
//! and defender tokens (create, list, revoke).

use super::error::{ApiError, AppJson, AppQuery};
use super::{Caller, Routes};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use palisade_app::api::defenders::{DefenderDetail, DefenderFilter, DefenderList, TIMELINE_LENGTH};
use palisade_app::api::settings::{CreatedToken, TokenView};
use palisade_console::defenders::{self, tokens};
use palisade_console::Console;
use serde::Deserialize;

/// The defenders' and defender tokens' REST routes.
pub fn routes(routes: Routes) -> Routes {
    routes
        .add(Method::GET, "/api/v1/defenders", list)
        .add(Method::GET, "/api/v1/defenders/{id}", detail)
        .add(Method::GET, "/api/v1/tokens", list_tokens)
        .add(Method::POST, "/api/v1/tokens", create_token)
        .add(Method::DELETE, "/api/v1/tokens/{id}", revoke_token)
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
    caller: Caller,
    AppJson(request): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = tokens::create(console.db(), &request.family, &request.label).await;
    let created = caller
        .audited(&console, "defender-token-create", &request.family, created)
        .await;
    Ok((StatusCode::CREATED, Json(created?.into())))
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
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let revoked = tokens::revoke(console.db(), id).await;
    let revoked = caller
        .audited(
            &console,
            "defender-token-revoke",
            &format!("token {id}"),
            revoked,
        )
        .await;
    revoked?;
    Ok(StatusCode::NO_CONTENT)
}
