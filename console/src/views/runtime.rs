//! Runtime defense's values as the shared answer types: the rules' catalogue, a family's policy
//! and model, incidents and their alerts with the process trees around them (command lines as
//! the reader may see them: a viewer sees no secret).

use crate::clock::now_ms;
use crate::redact::Disclosure;
use crate::runtime::incidents::{
    Incident, IncidentCounts, IncidentPage, IncidentQuery, IncidentTask, StoredAlert,
    DEFENDER_SILENT,
};
use crate::runtime::store::{FamilyModel, FamilyPolicy};
use crate::runtime::tree::{Relation, Tree, TreeNode};
use crate::use_cases::IncidentFull;
use crate::Result;
use palisade_policy::{ListEntry, Mode, PortEntry, RuleId};
use palisade_protocol::{Action, ProcessInfo};
use palisade_types::runtime::{
    AlertView, ContainerModelView, ExecRecordView, FamilyPolicyList, FamilySummaryView,
    IncidentCountsView, IncidentDetail, IncidentFilter, IncidentList, IncidentTaskView,
    IncidentView, LearningView, ListEntryView, ModelView, PolicyView, PortEntryView,
    PortRecordView, ProcessView, RuleList, RuleView, TreeNodeView,
};

/// What `defender-silent` says in the catalogue (the console judges it, not a defender).
const SILENT_NAME: &str = "Defender gone silent";
const SILENT_EXPLANATION: &str = "A defender stopped reporting without closing its channel while its task runs: the task may be unprotected right now, or someone stopped or cut off its defender.";

/// Every rule: the policy crate's, then the console's own.
pub fn rule_list() -> RuleList {
    let mut rules: Vec<RuleView> = palisade_policy::rules()
        .iter()
        .map(|info| RuleView {
            id: info.id.as_str().to_owned(),
            name: info.name.to_owned(),
            severity: info.severity.as_str().to_owned(),
            explanation: info.explanation.to_owned(),
            can_disable: info.can_disable,
            judged_by: "defender".into(),
        })
        .collect();
    rules.push(RuleView {
        id: DEFENDER_SILENT.into(),
        name: SILENT_NAME.into(),
        severity: "high".into(),
        explanation: SILENT_EXPLANATION.into(),
        can_disable: false,
        judged_by: "console".into(),
    });
    RuleList { rules }
}

/// A rule's name and explanation, by id (an id this console does not know is its own name).
pub fn rule_words(id: &str) -> (String, String) {
    rule_list()
        .rules
        .into_iter()
        .find(|rule| rule.id == id)
        .map_or_else(
            || {
                (
                    id.to_owned(),
                    "A rule this console does not know.".to_owned(),
                )
            },
            |rule| (rule.name, rule.explanation),
        )
}

fn mode_name(mode: Mode) -> String {
    serde_json::to_value(mode)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn learning(policy: &FamilyPolicy, model: &FamilyModel) -> LearningView {
    LearningView {
        state: model.state().as_str().into(),
        window_minutes: u32::try_from(policy.learning_window_ms / 60_000).unwrap_or(u32::MAX),
        started_at_ms: model.learning_started_at,
        ends_at_ms: model.learning_ends_at,
        activated_at_ms: model.activated_at,
    }
}

fn list_entries(entries: &[ListEntry]) -> Vec<ListEntryView> {
    entries
        .iter()
        .map(|entry| ListEntryView {
            executable: entry.executable.as_str().to_owned(),
            container: entry.container.clone(),
        })
        .collect()
}

fn port_entries(entries: &[PortEntry]) -> Vec<PortEntryView> {
    entries
        .iter()
        .map(|entry| PortEntryView {
            port: entry.port,
            protocol: entry.protocol.map(|protocol| protocol.as_str().to_owned()),
            container: entry.container.clone(),
        })
        .collect()
}

/// A family's policy (settings and where learning stands).
pub fn policy_view(policy: &FamilyPolicy, model: &FamilyModel) -> PolicyView {
    let settings = &policy.settings;
    PolicyView {
        family: policy.family.clone(),
        revision: policy.revision,
        mode: mode_name(settings.mode),
        disabled_rules: settings
            .disabled_rules
            .iter()
            .map(|rule: &RuleId| rule.as_str().to_owned())
            .collect(),
        allow: list_entries(&settings.allow),
        deny: list_entries(&settings.deny),
        allowed_ports: port_entries(&settings.allowed_ports),
        learning: learning(policy, model),
        updated_at_ms: policy.updated_at,
        updated_by: policy.updated_by.clone(),
    }
}

/// A family's model, container by container.
pub fn model_view(policy: &FamilyPolicy, model: FamilyModel) -> ModelView {
    let learning = learning(policy, &model);
    ModelView {
        family: policy.family.clone(),
        revision: policy.revision,
        learning,
        overflow: model.model.overflow,
        tasks: model.task_count,
        saved_at_ms: model.saved_at,
        now_ms: now_ms(),
        containers: model
            .model
            .containers
            .into_iter()
            .map(|(name, container)| ContainerModelView {
                name,
                executables: container
                    .executables
                    .into_iter()
                    .map(|record| ExecRecordView {
                        executable: record.executable,
                        parents: record.parents,
                        uids: record.uids,
                        count: record.count,
                        first_seen_ms: record.first_seen_ms,
                        last_seen_ms: record.last_seen_ms,
                    })
                    .collect(),
                ports: container
                    .ports
                    .into_iter()
                    .map(|record| PortRecordView {
                        protocol: record.protocol.as_str().to_owned(),
                        port: record.port,
                        count: record.count,
                        first_seen_ms: record.first_seen_ms,
                        last_seen_ms: record.last_seen_ms,
                    })
                    .collect(),
                overflow: container.overflow,
            })
            .collect(),
    }
}

/// Every family with a policy, at a glance.
pub fn family_list(families: Vec<(FamilyPolicy, FamilyModel)>) -> FamilyPolicyList {
    FamilyPolicyList {
        families: families
            .into_iter()
            .map(|(policy, model)| {
                let containers = model.model.containers.values();
                FamilySummaryView {
                    family: policy.family.clone(),
                    revision: policy.revision,
                    mode: mode_name(policy.settings.mode),
                    learning: learning(&policy, &model),
                    containers: model.model.containers.len(),
                    executables: containers.clone().map(|c| c.executables.len()).sum(),
                    ports: containers.map(|c| c.ports.len()).sum(),
                    tasks: model.task_count,
                }
            })
            .collect(),
        now_ms: now_ms(),
    }
}

impl From<Incident> for IncidentView {
    fn from(incident: Incident) -> Self {
        IncidentView {
            rule_name: rule_words(&incident.rule).0,
            id: incident.id,
            family: incident.family,
            rule: incident.rule,
            container: incident.container,
            severity: incident.severity,
            state: incident.state,
            alert_count: incident.alert_count,
            stored_alerts: incident.stored_alerts,
            task_count: incident.task_count,
            unlisted_task_alerts: incident.unlisted_task_alerts,
            first_seen_ms: incident.first_seen,
            last_seen_ms: incident.last_seen,
            summary: incident.summary,
            acknowledged_by: incident.acknowledged_by,
            acknowledged_at_ms: incident.acknowledged_at,
            resolved_by: incident.resolved_by,
            resolved_at_ms: incident.resolved_at,
        }
    }
}

impl From<IncidentCounts> for IncidentCountsView {
    fn from(counts: IncidentCounts) -> Self {
        IncidentCountsView {
            open: counts.open,
            acknowledged: counts.acknowledged,
            open_alerts: counts.open_alerts,
        }
    }
}

/// A page of incidents as `disclosure` lets the reader see it (summaries quote command lines).
pub fn incident_list(page: IncidentPage, disclosure: Disclosure) -> IncidentList {
    IncidentList {
        incidents: page
            .incidents
            .into_iter()
            .map(|incident| {
                let summary = disclosure.text(&incident.summary).into_owned();
                IncidentView {
                    summary,
                    ..incident.into()
                }
            })
            .collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
        counts: page.counts.into(),
        now_ms: now_ms(),
    }
}

impl IncidentQuery {
    /// The filter a URL or a form gave, as a query, or why it cannot be one.
    pub fn from_filter(filter: &IncidentFilter) -> Result<Self> {
        IncidentQuery::parse(
            &filter.family,
            &filter.rule,
            &filter.severity,
            &filter.state,
            filter.page,
            filter.per_page,
        )
    }
}

fn process_view(info: &ProcessInfo, disclosure: Disclosure) -> ProcessView {
    ProcessView {
        pid: info.pid,
        ppid: info.ppid,
        user: info.user.clone().map_or_else(
            || format!("uid {}", info.uid),
            |name| format!("{name} ({})", info.uid),
        ),
        executable: info.executable.clone(),
        command_line: disclosure.text(&info.command_line).into_owned(),
        container: info.container.clone(),
    }
}

fn tree_node(node: TreeNode, disclosure: Disclosure) -> TreeNodeView {
    let depth = match node.relation {
        Relation::Ancestor { depth } => depth,
        _ => 0,
    };
    TreeNodeView {
        relation: node.relation.as_str().into(),
        depth,
        at_ms: node.at_ms,
        process: ProcessView {
            pid: node.pid,
            ppid: node.ppid,
            user: node.user,
            executable: node.executable,
            command_line: disclosure.text(&node.command_line).into_owned(),
            container: node.container,
        },
    }
}

fn alert_view(alert: StoredAlert, tree: Tree, disclosure: Disclosure) -> AlertView {
    let report = &alert.report;
    AlertView {
        id: alert.id,
        defender_id: alert.defender_id,
        task_arn: alert.task_arn.clone(),
        seq: alert.seq,
        at_ms: alert.at_ms,
        received_at_ms: alert.received_at,
        severity: alert.severity.clone(),
        message: disclosure.text(&alert.message).into_owned(),
        rules: report
            .alerts
            .iter()
            .map(|fired| {
                let message = disclosure.text(&fired.message);
                format!("{}: {message}", fired.rule.as_str())
            })
            .collect(),
        action: match report.action {
            Action::Allow => "allow".into(),
            Action::Kill => "kill".into(),
        },
        outcome: report.outcome.clone(),
        policy_revision: report.policy_revision,
        process: report
            .process
            .as_ref()
            .map(|info| process_view(info, disclosure)),
        port: report.port.as_ref().map(|port| PortEntryView {
            port: port.port,
            protocol: Some(port.protocol.as_str().to_owned()),
            container: port.container.clone(),
        }),
        tree: tree
            .nodes
            .into_iter()
            .map(|node| tree_node(node, disclosure))
            .collect(),
        tree_note: tree.note,
    }
}

fn task_view(task: IncidentTask) -> IncidentTaskView {
    IncidentTaskView {
        task_arn: task.task_arn,
        defender_id: task.defender_id,
        alerts: task.alerts,
        first_seen_ms: task.first_seen,
        last_seen_ms: task.last_seen,
    }
}

/// One incident whole, as `disclosure` lets the reader see it.
pub fn incident_detail(full: IncidentFull, disclosure: Disclosure) -> IncidentDetail {
    let explanation = rule_words(&full.incident.rule).1;
    let summary = disclosure.text(&full.incident.summary).into_owned();
    IncidentDetail {
        incident: IncidentView {
            summary,
            ..full.incident.into()
        },
        explanation,
        tasks: full.tasks.into_iter().map(task_view).collect(),
        alerts: full
            .alerts
            .into_iter()
            .map(|(alert, tree)| alert_view(alert, tree, disclosure))
            .collect(),
        now_ms: now_ms(),
    }
}
