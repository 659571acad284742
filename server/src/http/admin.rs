//! The administrator's REST routes: pipeline tokens, people, the audit log.

use super::error::{
    ApiError, AppJson, AppPath, AppQuery, BadRequest, BodyRefused, Conflict, Guarded, NotFound,
};
use super::{Caller, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palisade_console::auth::Role;
use palisade_console::Console;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::routes;

pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(list_api_tokens))
        .route(routes!(create_api_token))
        .route(routes!(revoke_api_token))
        .route(routes!(list_users))
        .route(routes!(add_user))
        .route(routes!(change_user))
        .route(routes!(remove_user))
        .route(routes!(list_audit))
}

#[utoipa::path(
    get, path = "/api/v1/api-tokens", tag = "people",
    responses(
        (status = 200, description = "pipeline tokens, never their values", body = Object),
        Guarded,
    )
)]
pub(crate) async fn list_api_tokens(
    State(console): State<Console>,
) -> Result<Json<Value>, ApiError> {
    let tokens: Vec<Value> = console
        .api_tokens()
        .list()
        .await?
        .into_iter()
        .map(|token| {
            json!({
                "id": token.id, "label": token.label, "role": token.role,
                "created_at": token.created_at, "created_by": token.created_by,
                "revoked_at": token.revoked_at,
                "last_used_at": token.last_used_at,
            })
        })
        .collect();
    Ok(Json(json!({ "api_tokens": tokens })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiToken {
    role: String,
    #[serde(default)]
    label: String,
}

#[utoipa::path(
    post, path = "/api/v1/api-tokens", tag = "people", request_body = NewApiToken,
    responses(
        (status = 201, description = "the token, shown once", body = Object),
        Guarded,
        BodyRefused,
    )
)]
pub(crate) async fn create_api_token(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<NewApiToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = Role::parse(&request.role)?;
    let created = console
        .api_tokens()
        .create(&caller, role, &request.label)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": created.id, "role": created.role, "label": created.label, "token": created.token }),
        ),
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/api-tokens/{id}", tag = "people", params(("id" = i64, Path, description = "token id")),
    responses(
        (status = 204, description = "revoked"),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn revoke_api_token(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    console.api_tokens().revoke(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/users", tag = "people",
    responses(
        (status = 200, description = "accounts and their roles", body = Object),
        Guarded,
    )
)]
pub(crate) async fn list_users(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let users: Vec<Value> = console
        .users()
        .list()
        .await?
        .into_iter()
        .map(|user| {
            json!({
                "username": user.username, "role": user.role, "source": user.source,
                "created_at": user.created_at, "last_sign_in_at": user.last_sign_in_at,
            })
        })
        .collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    username: String,
    password: String,
    role: String,
}

#[utoipa::path(
    post, path = "/api/v1/users", tag = "people", request_body = NewUser,
    responses(
        (status = 201, description = "created"),
        Guarded,
        BodyRefused,
        Conflict,
    )
)]
pub(crate) async fn add_user(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<NewUser>,
) -> Result<StatusCode, ApiError> {
    let role = Role::parse(&request.role)?;
    console
        .users()
        .add(&caller, &request.username, &request.password, role)
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    password: Option<String>,
    role: Option<String>,
}

#[utoipa::path(
    put, path = "/api/v1/users/{username}", tag = "people", request_body = UserChange, params(("username" = String, Path, description = "account name")),
    responses(
        (status = 204, description = "changed"),
        Guarded,
        BodyRefused,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn change_user(
    State(console): State<Console>,
    caller: Caller,
    AppPath(username): AppPath<String>,
    AppJson(change): AppJson<UserChange>,
) -> Result<StatusCode, ApiError> {
    let role = change.role.as_deref().map(Role::parse).transpose()?;
    let change = palisade_console::use_cases::UserChange {
        password: change.password,
        role,
    };
    console.users().change(&caller, &username, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/users/{username}", tag = "people", params(("username" = String, Path, description = "account name")),
    responses(
        (status = 204, description = "removed"),
        Guarded,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn remove_user(
    State(console): State<Console>,
    caller: Caller,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    console.users().remove(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Entries older than this id.
    before: Option<i64>,
    /// At most this many (1 to 1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/audit", tag = "people", params(AuditQuery),
    responses(
        (status = 200, description = "audit entries, newest first", body = Object),
        Guarded,
        BadRequest,
    )
)]
pub(crate) async fn list_audit(
    State(console): State<Console>,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(200);
    if !(1..=palisade_console::use_cases::AuditLog::MAX_PAGE).contains(&limit) {
        return Err(ApiError::malformed("limit is 1 to 1000"));
    }
    let entries: Vec<Value> = console
        .audit_log()
        .list(limit, query.before)
        .await?
        .into_iter()
        .map(|entry| {
            json!({
                "id": entry.id, "at": entry.at, "actor": entry.actor, "address": entry.address,
                "action": entry.action, "target": entry.target, "outcome": entry.outcome,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
