//! Incidents (`console.incidents()`): the list and one incident with the process trees around
//! its alerts, acknowledging and resolving (audited), and what the channel reports of defenders
//! that left without a word.

use super::Actor;
use crate::clock::now_ms;
use crate::error::Result;
use crate::runtime::incidents::{
    self, Incident, IncidentCounts, IncidentPage, IncidentQuery, IncidentState, IncidentTask,
    StoredAlert,
};
use crate::runtime::silent::Lost;
use crate::runtime::tree::{self, Place, Tree};
use crate::Console;

/// Incidents (`console.incidents()`).
pub struct Incidents<'c> {
    pub(super) console: &'c Console,
}

/// One incident whole: its tasks, and its kept alerts each with the tree around it.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentFull {
    pub incident: Incident,
    pub tasks: Vec<IncidentTask>,
    pub alerts: Vec<(StoredAlert, Tree)>,
}

impl Incidents<'_> {
    /// One page of incidents as `query` asks, the latest alert first.
    pub async fn list(&self, query: &IncidentQuery) -> Result<IncidentPage> {
        incidents::list(self.console.db(), query).await
    }

    /// Open and acknowledged incidents, over all families (the navigation's count).
    pub async fn counts(&self) -> Result<IncidentCounts> {
        incidents::counts(self.console.db()).await
    }

    /// Incident `id`, its tasks, and its alerts with the processes around each, worked out now
    /// from their defenders' stored timelines.
    pub async fn get(&self, id: i64) -> Result<IncidentFull> {
        let db = self.console.db();
        let incident = incidents::get(db, id).await?;
        let (tasks, kept) = incidents::parts(db, id).await?;
        let mut alerts = Vec::with_capacity(kept.len());
        for alert in kept {
            let tree = match &alert.report.process {
                Some(process) => {
                    let place = Place {
                        defender_id: alert.defender_id,
                        instance: &alert.instance,
                        seq: alert.seq,
                        at_ms: alert.at_ms,
                    };
                    tree::around(db, &place, process).await?
                }
                None => Tree::default(),
            };
            alerts.push((alert, tree));
        }
        Ok(IncidentFull {
            incident,
            tasks,
            alerts,
        })
    }

    /// `actor` has seen incident `id` and is on it.
    pub async fn acknowledge(&self, actor: &Actor, id: i64) -> Result<Incident> {
        self.set_state(
            actor,
            id,
            IncidentState::Acknowledged,
            "incident-acknowledge",
        )
        .await
    }

    /// Incident `id` is dealt with: its rule's next alert opens a new one.
    pub async fn resolve(&self, actor: &Actor, id: i64) -> Result<Incident> {
        self.set_state(actor, id, IncidentState::Resolved, "incident-resolve")
            .await
    }

    async fn set_state(
        &self,
        actor: &Actor,
        id: i64,
        state: IncidentState,
        action: &str,
    ) -> Result<Incident> {
        let db = self.console.db();
        let changed = incidents::set_state(db, id, state, &actor.name(), now_ms()).await;
        let target = match &changed {
            Ok(incident) => format!(
                "incident {id} ({} {} {})",
                incident.family,
                incident.rule,
                incident.container.as_deref().unwrap_or("-")
            ),
            Err(_) => format!("incident {id}"),
        };
        if changed.is_ok() {
            self.console.defender_changes().changed();
        }
        self.console.audited(actor, action, &target, changed).await
    }

    /// A defender's connection ended without the defender closing it: looked at once three
    /// heartbeats have passed (`runtime::silent`).
    pub fn defender_lost(&self, lost: Lost) {
        self.console.runtime.silent.push(lost);
    }

    /// Forgets incidents past their retention (hourly).
    pub async fn forget_old(&self) -> Result<u64> {
        incidents::forget_old(self.console.db(), now_ms()).await
    }
}
