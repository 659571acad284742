//! Runtime defense's REST endpoints: incidents (list, one with its alerts and process trees,
//! acknowledge, resolve), a family's policy (read, change) and model (read, relearn, extend,
//! "this is normal"), and the rules' catalogue. Each handler decodes, calls one use-case of
//! `console.incidents()` or `console.policies()` and encodes.

use super::error::{
    ApiError, AppJson, AppPath, AppQuery, BadRequest, BodyRefused, Conflict, Guarded, NotFound,
};
use super::{Caller, Routes};
use axum::extract::State;
use axum::Json;
use palisade_console::redact::Disclosure;
use palisade_console::runtime::incidents::IncidentQuery;
use palisade_console::{views, Console};
use palisade_types::runtime::{
    ExtendLearning, IncidentDetail, IncidentFilter, IncidentList, IncidentView, ModelView,
    NormalChange, PolicyChange, PolicyView, RuleList,
};
use utoipa_axum::routes;

/// Runtime defense's REST routes.
pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(list_incidents))
        .route(routes!(get_incident))
        .route(routes!(acknowledge_incident))
        .route(routes!(resolve_incident))
        .route(routes!(get_policy))
        .route(routes!(put_policy))
        .route(routes!(get_model))
        .route(routes!(relearn_model))
        .route(routes!(extend_learning))
        .route(routes!(add_to_model))
        .route(routes!(list_rules))
}

#[utoipa::path(
    get, path = "/api/v1/incidents", tag = "runtime", params(IncidentFilter),
    responses(
        (status = 200, description = "a page of incidents, the latest alert first, with the counts by state", body = IncidentList),
        Guarded,
        BadRequest,
    )
)]
pub(crate) async fn list_incidents(
    State(console): State<Console>,
    caller: Caller,
    AppQuery(filter): AppQuery<IncidentFilter>,
) -> Result<Json<IncidentList>, ApiError> {
    let query = IncidentQuery::from_filter(&filter).map_err(ApiError::malformed)?;
    let page = console.incidents().list(&query).await?;
    let disclosure = Disclosure::for_principal(caller.principal.as_ref());
    Ok(Json(views::incident_list(page, disclosure)))
}

#[utoipa::path(
    get, path = "/api/v1/incidents/{id}", tag = "runtime", params(("id" = i64, Path, description = "incident id")),
    responses(
        (status = 200, description = "the incident, its rule's explanation, its tasks, and its kept alerts each with the process tree around it (from its defender's stored timeline)", body = IncidentDetail),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn get_incident(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let full = console.incidents().get(id).await?;
    let disclosure = Disclosure::for_principal(caller.principal.as_ref());
    Ok(Json(views::incident_detail(full, disclosure)))
}

#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/acknowledge", tag = "runtime", params(("id" = i64, Path, description = "incident id")),
    responses(
        (status = 200, description = "acknowledged: someone is on it", body = IncidentView),
        Guarded,
        BadRequest,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn acknowledge_incident(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(
        console.incidents().acknowledge(&caller, id).await?.into(),
    ))
}

#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/resolve", tag = "runtime", params(("id" = i64, Path, description = "incident id")),
    responses(
        (status = 200, description = "resolved: its rule's next alert opens a new incident", body = IncidentView),
        Guarded,
        BadRequest,
        NotFound,
        Conflict,
    )
)]
pub(crate) async fn resolve_incident(
    State(console): State<Console>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(console.incidents().resolve(&caller, id).await?.into()))
}

#[utoipa::path(
    get, path = "/api/v1/families/{family}/policy", tag = "runtime", params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "the family's policy (bar its model) and where learning stands", body = PolicyView),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn get_policy(
    State(console): State<Console>,
    AppPath(family): AppPath<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let (policy, model) = console.policies().get(&family).await?;
    Ok(Json(views::policy_view(&policy, &model)))
}

#[utoipa::path(
    put, path = "/api/v1/families/{family}/policy", tag = "runtime", request_body = PolicyChange,
    params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "the policy as saved, with its new revision, sent to the family's connected defenders", body = PolicyView),
        Guarded,
        BodyRefused,
        NotFound,
    )
)]
pub(crate) async fn put_policy(
    State(console): State<Console>,
    caller: Caller,
    AppPath(family): AppPath<String>,
    AppJson(change): AppJson<PolicyChange>,
) -> Result<Json<PolicyView>, ApiError> {
    let policy = console.policies().update(&caller, &family, &change).await?;
    let (_, model) = console.policies().get(&family).await?;
    Ok(Json(views::policy_view(&policy, &model)))
}

#[utoipa::path(
    get, path = "/api/v1/families/{family}/model", tag = "runtime", params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "what the family's model learned, container by container, from how many tasks, and where learning stands", body = ModelView),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn get_model(
    State(console): State<Console>,
    AppPath(family): AppPath<String>,
) -> Result<Json<ModelView>, ApiError> {
    let (policy, model) = console.policies().get(&family).await?;
    Ok(Json(views::model_view(&policy, model)))
}

/// The family's model as it stands after a change.
async fn model_now(console: &Console, family: &str) -> Result<Json<ModelView>, ApiError> {
    let (policy, model) = console.policies().get(family).await?;
    Ok(Json(views::model_view(&policy, model)))
}

#[utoipa::path(
    post, path = "/api/v1/families/{family}/model/relearn", tag = "runtime", params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "the model is emptied and learns again from now, for the family's window (no model is sent meanwhile)", body = ModelView),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn relearn_model(
    State(console): State<Console>,
    caller: Caller,
    AppPath(family): AppPath<String>,
) -> Result<Json<ModelView>, ApiError> {
    console.policies().relearn(&caller, &family).await?;
    model_now(&console, &family).await
}

#[utoipa::path(
    post, path = "/api/v1/families/{family}/model/extend", tag = "runtime", request_body = ExtendLearning,
    params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "the model learns again, into what it holds, until the new end (no model is sent meanwhile)", body = ModelView),
        Guarded,
        BodyRefused,
        NotFound,
    )
)]
pub(crate) async fn extend_learning(
    State(console): State<Console>,
    caller: Caller,
    AppPath(family): AppPath<String>,
    AppJson(extend): AppJson<ExtendLearning>,
) -> Result<Json<ModelView>, ApiError> {
    console
        .policies()
        .extend(&caller, &family, extend.minutes)
        .await?;
    model_now(&console, &family).await
}

#[utoipa::path(
    post, path = "/api/v1/families/{family}/model/executables", tag = "runtime", request_body = NormalChange,
    params(("family" = String, Path, description = "task definition family")),
    responses(
        (status = 200, description = "\"this is normal\": the executable (or port) is in its container's model, sent to the family's defenders with a new revision", body = ModelView),
        Guarded,
        BodyRefused,
        NotFound,
    )
)]
pub(crate) async fn add_to_model(
    State(console): State<Console>,
    caller: Caller,
    AppPath(family): AppPath<String>,
    AppJson(change): AppJson<NormalChange>,
) -> Result<Json<ModelView>, ApiError> {
    console
        .policies()
        .mark_normal(&caller, &family, &change)
        .await?;
    model_now(&console, &family).await
}

#[utoipa::path(
    get, path = "/api/v1/rules", tag = "runtime",
    responses(
        (status = 200, description = "the rules: id, name, severity, explanation, whether a policy may switch it off, and who judges it", body = RuleList),
        Guarded,
    )
)]
pub(crate) async fn list_rules() -> Json<RuleList> {
    Json(views::rule_list())
}
