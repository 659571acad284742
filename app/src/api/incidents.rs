//! The Incidents pages' server functions; their types (also the REST API's answers) are
//! `palisade_types::runtime`.

use leptos::prelude::*;

pub use palisade_types::runtime::{
    AlertView, IncidentCountsView, IncidentDetail, IncidentFilter, IncidentList, IncidentTaskView,
    IncidentView, ModelView, NormalChange, ProcessView, RuleList, RuleView, TreeNodeView,
};

/// A page of incidents as the filter says, as the caller may see them.
#[server(endpoint = "list-incidents")]
pub async fn list_incidents(filter: IncidentFilter) -> Result<IncidentList, ServerFnError> {
    let console = super::console_for::<ListIncidents>()?;
    let query = palisade_console::runtime::incidents::IncidentQuery::from_filter(&filter)
        .map_err(super::server_error)?;
    let page = console
        .incidents()
        .list(&query)
        .await
        .map_err(super::server_error)?;
    Ok(palisade_console::views::incident_list(
        page,
        super::disclosure(),
    ))
}

/// One incident with its alerts and the process trees around them.
#[server(endpoint = "get-incident")]
pub async fn get_incident(id: i64) -> Result<IncidentDetail, ServerFnError> {
    let console = super::console_for::<GetIncident>()?;
    let full = console
        .incidents()
        .get(id)
        .await
        .map_err(super::server_error)?;
    Ok(palisade_console::views::incident_detail(
        full,
        super::disclosure(),
    ))
}

/// Open and acknowledged incidents (the navigation's count).
#[server(endpoint = "incident-counts")]
pub async fn incident_counts() -> Result<IncidentCountsView, ServerFnError> {
    let console = super::console_for::<IncidentCounts>()?;
    let counts = console
        .incidents()
        .counts()
        .await
        .map_err(super::server_error)?;
    Ok(counts.into())
}

/// Acknowledges (`acknowledged`) or resolves (`resolved`) an incident.
#[server(endpoint = "set-incident-state")]
pub async fn set_incident_state(id: i64, state: String) -> Result<IncidentView, ServerFnError> {
    let console = super::console_for::<SetIncidentState>()?;
    let actor = super::actor();
    let changed = match state.as_str() {
        "acknowledged" => console.incidents().acknowledge(&actor, id).await,
        "resolved" => console.incidents().resolve(&actor, id).await,
        other => Err(palisade_console::Error::invalid(format!(
            "`{other}` is not a state an incident can be moved to: acknowledged or resolved"
        ))),
    };
    Ok(changed.map_err(super::server_error)?.into())
}

/// "This is normal": an alert's executable (or port) added to its container's model.
#[server(endpoint = "mark-normal")]
pub async fn mark_normal(family: String, change: NormalChange) -> Result<ModelView, ServerFnError> {
    let console = super::console_for::<MarkNormal>()?;
    let policies = console.policies();
    policies
        .mark_normal(&super::actor(), &family, &change)
        .await
        .map_err(super::server_error)?;
    let (policy, model) = policies.get(&family).await.map_err(super::server_error)?;
    Ok(palisade_console::views::model_view(&policy, model))
}

/// The rules' catalogue.
#[server(endpoint = "list-rules")]
pub async fn list_rules() -> Result<RuleList, ServerFnError> {
    super::console_for::<ListRules>()?;
    Ok(palisade_console::views::rule_list())
}
