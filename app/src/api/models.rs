//! The Models pages' server functions: every family's policy at a glance, one family's policy
//! and model, and their changes (the REST API's types, `palisade_types::runtime`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use palisade_types::runtime::{
    ContainerModelView, ExecRecordView, FamilyPolicyList, FamilySummaryView, LearningView,
    ListEntryView, ModelView, PolicyChange, PolicyView, PortEntryView, PortRecordView,
};

/// One family's page: its policy and its model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyDetail {
    pub policy: PolicyView,
    pub model: ModelView,
}

/// Every family with a policy.
#[server(endpoint = "list-families")]
pub async fn list_families() -> Result<FamilyPolicyList, ServerFnError> {
    let console = super::console_for::<ListFamilies>()?;
    let families = console
        .policies()
        .list()
        .await
        .map_err(super::server_error)?;
    Ok(palisade_console::views::family_list(families))
}

#[cfg(feature = "ssr")]
async fn detail(
    console: &palisade_console::Console,
    family: &str,
) -> Result<FamilyDetail, ServerFnError> {
    let (policy, model) = console
        .policies()
        .get(family)
        .await
        .map_err(super::server_error)?;
    Ok(FamilyDetail {
        policy: palisade_console::views::policy_view(&policy, &model),
        model: palisade_console::views::model_view(&policy, model),
    })
}

/// One family's policy and model.
#[server(endpoint = "get-family")]
pub async fn get_family(family: String) -> Result<FamilyDetail, ServerFnError> {
    let console = super::console_for::<GetFamily>()?;
    detail(&console, &family).await
}

/// Changes a family's policy (a change of mode needs an admin; the console refuses it otherwise).
#[server(endpoint = "save-policy")]
pub async fn save_policy(
    family: String,
    change: PolicyChange,
) -> Result<FamilyDetail, ServerFnError> {
    let console = super::console_for::<SavePolicy>()?;
    console
        .policies()
        .update(&super::actor(), &family, &change)
        .await
        .map_err(super::server_error)?;
    detail(&console, &family).await
}

/// Forgets the family's model and learns again from now.
#[server(endpoint = "relearn-model")]
pub async fn relearn_model(family: String) -> Result<FamilyDetail, ServerFnError> {
    let console = super::console_for::<RelearnModel>()?;
    console
        .policies()
        .relearn(&super::actor(), &family)
        .await
        .map_err(super::server_error)?;
    detail(&console, &family).await
}

/// Learns again, into the model, for `minutes` from now.
#[server(endpoint = "extend-learning")]
pub async fn extend_learning(family: String, minutes: u32) -> Result<FamilyDetail, ServerFnError> {
    let console = super::console_for::<ExtendLearning>()?;
    console
        .policies()
        .extend(&super::actor(), &family, minutes)
        .await
        .map_err(super::server_error)?;
    detail(&console, &family).await
}
