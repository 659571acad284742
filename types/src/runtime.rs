//! Runtime defense as the Incidents and Models pages, the REST API and the CLI show it: the
//! rules' catalogue, a family's policy and learned model, incidents with their alerts and the
//! process trees around them, and the requests that change them.

use serde::{Deserialize, Serialize};

/// One rule of the catalogue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleView {
    /// The stable id policies, alerts and filters use (`crypto-miner`).
    pub id: String,
    pub name: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// What the rule sees and why it matters, in plain words.
    pub explanation: String,
    /// Whether a policy may switch it off.
    pub can_disable: bool,
    /// `defender` (judged in the task) or `console` (`defender-silent`).
    pub judged_by: String,
}

/// The rules, in the order the pages list them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// An allow or deny entry: an absolute executable path or glob, for one container or all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListEntryView {
    pub executable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A port that may listen although the model never saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortEntryView {
    pub port: u16,
    /// `tcp` or `udp`; both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// Where a family's model stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LearningView {
    /// `waiting` (no defender connected yet), `learning` or `active`.
    pub state: String,
    /// The window, counted from the family's first defender connection (or a relearn).
    pub window_minutes: u32,
    pub started_at_ms: Option<i64>,
    pub ends_at_ms: Option<i64>,
    pub activated_at_ms: Option<i64>,
}

/// A family's policy: what its defenders are sent, bar the model (`GET .../model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyView {
    pub family: String,
    /// Grows with every change of the settings or the model.
    pub revision: i64,
    /// `off`, `alert` or `prevent`.
    pub mode: String,
    pub disabled_rules: Vec<String>,
    pub allow: Vec<ListEntryView>,
    pub deny: Vec<ListEntryView>,
    pub allowed_ports: Vec<PortEntryView>,
    pub learning: LearningView,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// A change of a family's policy: each field given replaces the policy's, each absent one stays.
/// Changing `mode` needs the admin role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PolicyChange {
    /// `off`, `alert` or `prevent`.
    pub mode: Option<String>,
    /// Rule ids (`GET /api/v1/rules`); `deny-list` cannot be switched off.
    pub disabled_rules: Option<Vec<String>>,
    pub allow: Option<Vec<ListEntryView>>,
    pub deny: Option<Vec<ListEntryView>>,
    pub allowed_ports: Option<Vec<PortEntryView>>,
    /// How long the model learns (1 to 43,200 minutes, 30 days): from the first defender's
    /// connection; while learning, from when learning started.
    pub learning_minutes: Option<u32>,
}

/// Every family with a policy, as the Models page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FamilyPolicyList {
    pub families: Vec<FamilySummaryView>,
    pub now_ms: i64,
}

/// One family's policy at a glance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FamilySummaryView {
    pub family: String,
    pub revision: i64,
    pub mode: String,
    pub learning: LearningView,
    pub containers: usize,
    pub executables: usize,
    pub ports: usize,
    pub tasks: i64,
}

/// An executable a container ran while its model was learned (or a person marked normal).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecRecordView {
    pub executable: String,
    pub parents: Vec<String>,
    pub uids: Vec<u32>,
    /// Times seen; 0 for one a person marked normal.
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// A port a container listened on (`tcp` or `udp`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortRecordView {
    pub protocol: String,
    pub port: u16,
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// One container's model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerModelView {
    pub name: String,
    pub executables: Vec<ExecRecordView>,
    pub ports: Vec<PortRecordView>,
    /// New executables and ports refused because its lists were full.
    pub overflow: u64,
}

/// A family's model: what was learned, from how many tasks, and where learning stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelView {
    pub family: String,
    /// The family's policy revision.
    pub revision: i64,
    pub learning: LearningView,
    pub containers: Vec<ContainerModelView>,
    /// New containers refused because the model was full.
    pub overflow: u64,
    /// Tasks it learned from.
    pub tasks: i64,
    /// While learning, when what is shown was last saved (every minute).
    pub saved_at_ms: i64,
    pub now_ms: i64,
}

/// "This is normal": an alert's executable (or port) added to its container's model, or one
/// named here. Give `incident_id` and `alert_id`, or `container` with `executable` or `port`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NormalChange {
    pub incident_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub container: Option<String>,
    pub executable: Option<String>,
    pub port: Option<u16>,
    /// `tcp` (default) or `udp`, with `port`.
    pub protocol: Option<String>,
}

/// How long learning goes on from now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendLearning {
    /// 1 to 43,200 minutes (30 days).
    pub minutes: u32,
}

/// Which incidents to list, as a URL or a form says it (each empty for all).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(default)]
pub struct IncidentFilter {
    pub family: String,
    /// A rule id (`GET /api/v1/rules`).
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// From 1.
    pub page: u32,
    /// 1 to 500, default 50.
    #[cfg_attr(feature = "openapi", param(maximum = 500))]
    pub per_page: u32,
}

/// One incident: the alerts of one rule in one container of a family, within 24 hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentView {
    pub id: i64,
    pub family: String,
    pub rule: String,
    pub rule_name: String,
    /// The container its alerts named, when one of its task's.
    pub container: Option<String>,
    /// The highest of its alerts'.
    pub severity: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub alert_count: i64,
    /// Alerts kept whole (the first 100).
    pub stored_alerts: i64,
    /// Tasks listed (the first 100), and alerts from tasks past them.
    pub task_count: i64,
    pub unlisted_task_alerts: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The last alert's message.
    pub summary: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at_ms: Option<i64>,
}

/// Incidents by state over all families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentCountsView {
    pub open: i64,
    pub acknowledged: i64,
    /// Alerts in open incidents.
    pub open_alerts: i64,
}

/// A page of incidents, the latest alert first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentList {
    pub incidents: Vec<IncidentView>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub counts: IncidentCountsView,
    pub now_ms: i64,
}

/// A task an incident's alerts came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentTaskView {
    pub task_arn: String,
    /// Its defender's page (the defender may have been removed since).
    pub defender_id: i64,
    pub alerts: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// A process as an alert or a process tree shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessView {
    pub pid: u32,
    pub ppid: u32,
    /// `www-data (33)` or `uid 33`.
    pub user: String,
    pub executable: String,
    pub command_line: String,
    pub container: Option<String>,
}

/// One process of the tree around an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeNodeView {
    /// `ancestor`, `alert`, `sibling` or `child`.
    pub relation: String,
    /// For an ancestor: 1 is the direct parent.
    pub depth: u32,
    pub process: ProcessView,
    /// When it started (the defender's clock), when known.
    pub at_ms: Option<i64>,
}

/// One alert an incident keeps, with the processes around it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertView {
    pub id: i64,
    pub defender_id: i64,
    pub task_arn: String,
    /// The alert's sequence number on its defender's timeline (0: raised by the console).
    pub seq: i64,
    /// The defender's clock, and when the console received it.
    pub at_ms: i64,
    pub received_at_ms: i64,
    pub severity: String,
    pub message: String,
    /// Every rule this report fired, with its message.
    pub rules: Vec<String>,
    /// `allow` or `kill`: what the policy asked for.
    pub action: String,
    /// What came of a kill: `killed before it ran`, `killed`, or why not.
    pub outcome: Option<String>,
    pub policy_revision: u64,
    pub process: Option<ProcessView>,
    /// `tcp 4444` for a port alert.
    pub port: Option<PortEntryView>,
    /// The process tree around it, from its defender's stored timeline.
    pub tree: Vec<TreeNodeView>,
    /// What the tree could not show (trimmed events, a removed defender).
    pub tree_note: Option<String>,
}

/// One incident with its rule's explanation, tasks and alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentDetail {
    pub incident: IncidentView,
    pub explanation: String,
    pub tasks: Vec<IncidentTaskView>,
    pub alerts: Vec<AlertView>,
    pub now_ms: i64,
}
