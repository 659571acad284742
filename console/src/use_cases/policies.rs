//! Families' runtime-defense policies and models (`console.policies()`): reading them, a
//! person's edits (settings, relearn, extend, "this is normal"), each audited and sent at once to
//! the family's connected defenders with a new revision, and the console's own upkeep (models
//! activated when their window ends, learning saved every minute).

use super::Actor;
use crate::auth::Role;
use crate::clock::{now_ms, UnixMs};
use crate::error::{Error, Result};
use crate::runtime::learning::Learner;
use crate::runtime::store::{self, FamilyModel, FamilyPolicy, LearningState};
use crate::runtime::{self, LearnerChange, PolicyMessage};
use crate::Console;
use palisade_policy::{Learned, ListEntry, Mode, Model, Policy, PortEntry, Protocol, RuleId};
use palisade_taskdef::{Problem, ProblemKind};
use palisade_types::runtime::{ListEntryView, NormalChange, PolicyChange, PortEntryView};
use std::sync::Arc;
use tokio::sync::watch;

/// The longest learning window a person may set: 30 days.
pub const MAX_LEARNING_MINUTES: u32 = 43_200;

/// Families' policies and models (`console.policies()`).
pub struct Policies<'c> {
    pub(super) console: &'c Console,
}

impl Policies<'_> {
    /// Every family with a policy, and its model.
    pub async fn list(&self) -> Result<Vec<(FamilyPolicy, FamilyModel)>> {
        let db = self.console.db();
        let policies = store::list_policies(db).await?;
        let mut models = store::list_models(db).await?;
        let mut listed = Vec::with_capacity(policies.len());
        for policy in policies {
            let model = match models
                .iter()
                .position(|model| model.family == policy.family)
            {
                Some(at) => models.swap_remove(at),
                None => continue,
            };
            let model = self
                .console
                .runtime
                .with_learner(&policy.family, |learner| {
                    learner.map_or(model.clone(), |learner| FamilyModel {
                        saved_at: model.saved_at,
                        ..learner.snapshot(&policy.family)
                    })
                });
            listed.push((policy, model));
        }
        Ok(listed)
    }

    /// A family's policy settings and its model as they stand.
    pub async fn get(&self, family: &str) -> Result<(FamilyPolicy, FamilyModel)> {
        let (policy, _) = runtime::load(self.console.db(), family).await?;
        let model = self
            .console
            .runtime
            .model(self.console.db(), family)
            .await?;
        Ok((policy, model))
    }

    /// What a defender of `family` is sent after `welcome`, and what its socket waits on for the
    /// next: the family's rows are made, and its learning started, with its first defender.
    pub async fn connect(&self, family: &str) -> Result<watch::Receiver<Arc<PolicyMessage>>> {
        self.console
            .runtime
            .open(self.console.db(), family, true)
            .await
    }

    /// The policy `family`'s defenders are sent now (its revision and the policy).
    pub async fn policy_for(&self, family: &str) -> Result<palisade_protocol::PolicyUpdate> {
        let runtime = &self.console.runtime;
        runtime.open(self.console.db(), family, false).await?;
        runtime
            .current(family)
            .map(|message| message.update.clone())
            .ok_or_else(|| Error::NotFound(format!("family `{family}` has no policy")))
    }

    /// The family's rows, made when a defender token names it (a person may set a family's
    /// policy before its first defender connects).
    async fn existing(&self, family: &str) -> Result<()> {
        let db = self.console.db();
        crate::defenders::tokens::check_family(family)?;
        if !store::known_family(db, family).await? {
            return Err(Error::NotFound(format!(
                "family `{family}` has no defender token and no policy: create a token for it in Settings first"
            )));
        }
        store::ensure(db, family, now_ms()).await?;
        self.console.runtime.open(db, family, false).await?;
        Ok(())
    }

    /// Changes `family`'s settings as `change` says (absent fields stay); a change of mode needs
    /// the admin role. Checked with the model before anything is saved: a problem names its JSON
    /// pointer and its fix.
    pub async fn update(
        &self,
        actor: &Actor,
        family: &str,
        change: &PolicyChange,
    ) -> Result<FamilyPolicy> {
        let updated = self
            .console
            .runtime
            .edit(self.update_now(actor, family, change))
            .await;
        let target = match &updated {
            Ok(policy) => format!(
                "{family} (mode {}, revision {})",
                mode_name(policy.settings.mode),
                policy.revision
            ),
            Err(_) => family.to_owned(),
        };
        self.console
            .audited(actor, "policy-update", &target, updated)
            .await
    }

    async fn update_now(
        &self,
        actor: &Actor,
        family: &str,
        change: &PolicyChange,
    ) -> Result<FamilyPolicy> {
        self.existing(family).await?;
        let db = self.console.db();
        let (mut policy, stored) = runtime::load(db, family).await?;
        let before = policy.settings.mode;
        apply(&mut policy, change)?;
        if policy.settings.mode != before && actor.role() != Some(Role::Admin) {
            return Err(Error::Forbidden(format!(
                "changing a family's mode ({} to {}) needs the admin role: ask an admin, or send the change without `mode`",
                mode_name(before),
                mode_name(policy.settings.mode)
            )));
        }
        let model = self.console.runtime.model(db, family).await?;
        check(&policy.settings, &model.model)?;
        let now = now_ms();
        policy.revision = store::save_settings(db, &policy, now, &actor.name()).await?;
        if stored.state() == LearningState::Learning {
            self.move_window_end(family, &policy, now, &actor.name())
                .await?;
        }
        self.console
            .runtime
            .publish(db, family, LearnerChange::Keep)
            .await?;
        runtime::load(db, family).await.map(|(policy, _)| policy)
    }

    /// A learning family's window changed: it now ends `window` after learning started.
    async fn move_window_end(
        &self,
        family: &str,
        policy: &FamilyPolicy,
        now: UnixMs,
        by: &str,
    ) -> Result<()> {
        let db = self.console.db();
        let mut model = self.console.runtime.model(db, family).await?;
        let end = runtime::window_end(
            model.learning_started_at.unwrap_or(now),
            policy.learning_window_ms,
        );
        model.learning_ends_at = Some(end);
        self.console.runtime.with_learner(family, |learner| {
            if let Some(learner) = learner {
                learner.ends_at = end;
            }
        });
        store::save_model(db, &model, false, now, by).await?;
        Ok(())
    }

    /// Forgets what `family`'s model learned and learns again from now, for its window.
    pub async fn relearn(&self, actor: &Actor, family: &str) -> Result<FamilyModel> {
        let relearned = self
            .console
            .runtime
            .edit(async {
                self.existing(family).await?;
                let db = self.console.db();
                let (policy, _) = runtime::load(db, family).await?;
                let now = now_ms();
                let fresh = FamilyModel {
                    family: family.to_owned(),
                    learning_started_at: Some(now),
                    learning_ends_at: Some(runtime::window_end(now, policy.learning_window_ms)),
                    saved_at: now,
                    ..FamilyModel::default()
                };
                store::save_model(db, &fresh, true, now, &actor.name()).await?;
                let learner = LearnerChange::Set(Some(Learner::resume(&fresh)));
                self.console.runtime.publish(db, family, learner).await?;
                Ok(fresh)
            })
            .await;
        self.console
            .audited(actor, "model-relearn", family, relearned)
            .await
    }

    /// Learns again, into the model as it stands, until `minutes` from now (the model is not in
    /// force meanwhile).
    pub async fn extend(&self, actor: &Actor, family: &str, minutes: u32) -> Result<FamilyModel> {
        let extended = self
            .console
            .runtime
            .edit(async {
                check_minutes(minutes, "/minutes")?;
                self.existing(family).await?;
                let db = self.console.db();
                let mut model = self.console.runtime.model(db, family).await?;
                let now = now_ms();
                let end = now.saturating_add(i64::from(minutes) * 60_000);
                model.learning_started_at = model.learning_started_at.or(Some(now));
                model.learning_ends_at = Some(end);
                model.activated_at = None;
                let was_learning = self.console.runtime.with_learner(family, |learner| {
                    learner.map(|learner| learner.ends_at = end).is_some()
                });
                store::save_model(db, &model, true, now, &actor.name()).await?;
                let learner = match was_learning {
                    true => LearnerChange::Keep,
                    false => LearnerChange::Set(Some(Learner::resume(&model))),
                };
                self.console.runtime.publish(db, family, learner).await?;
                Ok(model)
            })
            .await;
        let target = format!("{family} ({minutes} min)");
        self.console
            .audited(actor, "model-extend", &target, extended)
            .await
    }

    /// "This is normal": an alert's executable (or port) added to its container's model, or the
    /// one `change` names; the family's defenders get the new revision at once.
    pub async fn mark_normal(
        &self,
        actor: &Actor,
        family: &str,
        change: &NormalChange,
    ) -> Result<(FamilyModel, String)> {
        let marked = self
            .console
            .runtime
            .edit(self.mark_normal_now(actor, family, change))
            .await;
        let target = match &marked {
            Ok((_, what)) => format!("{family}: {what}"),
            Err(_) => family.to_owned(),
        };
        self.console
            .audited(actor, "model-add", &target, marked)
            .await
    }

    async fn mark_normal_now(
        &self,
        actor: &Actor,
        family: &str,
        change: &NormalChange,
    ) -> Result<(FamilyModel, String)> {
        let normal = self.normal_of(family, change).await?;
        self.existing(family).await?;
        let db = self.console.db();
        let (policy, _) = runtime::load(db, family).await?;
        let now = now_ms();
        // While learning, the model in memory takes it (learning goes on into it).
        let in_memory = self.console.runtime.with_learner(family, |learner| {
            learner.map(|learner| {
                let mut model = learner.model.clone();
                let learned = normal.add_to(&mut model, now);
                let fits = learned_fits(learned, &policy.settings, &model);
                if fits.is_ok() {
                    learner.model = model;
                    learner.dirty = true;
                }
                fits
            })
        });
        let model = match in_memory {
            Some(fits) => {
                fits?;
                self.console.runtime.model(db, family).await?
            }
            None => {
                let mut model = store::load_model(db, family)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("family `{family}` has no model")))?;
                let learned = normal.add_to(&mut model.model, now);
                learned_fits(learned, &policy.settings, &model.model)?;
                model
            }
        };
        store::save_model(db, &model, true, now, &actor.name()).await?;
        self.console
            .runtime
            .publish(db, family, LearnerChange::Keep)
            .await?;
        Ok((model, normal.describe()))
    }

    /// What `change` marks normal: an incident's alert's process or port, or what it names.
    async fn normal_of(&self, family: &str, change: &NormalChange) -> Result<Normal> {
        if let (Some(incident), Some(alert)) = (change.incident_id, change.alert_id) {
            let db = self.console.db();
            let found = crate::runtime::incidents::get(db, incident).await?;
            if found.family != family {
                return Err(Error::invalid(format!(
                    "incident {incident} is of family `{}`, not `{family}`",
                    found.family
                )));
            }
            let alert = crate::runtime::incidents::alert(db, incident, alert).await?;
            return Normal::of_report(&alert.report);
        }
        Normal::named(change)
    }

    /// Puts in force the models whose learning window ended (a revision each, sent at once).
    /// Answers how many.
    pub async fn activate_due(&self) -> Result<usize> {
        let db = self.console.db();
        let due = store::due_for_activation(db, now_ms()).await?;
        let mut activated = 0;
        for family in &due {
            match self.console.runtime.edit(self.activate(family)).await {
                Ok(()) => activated += 1,
                // Tried again at the next look.
                Err(error) => error.log("activating a family's model"),
            }
        }
        Ok(activated)
    }

    async fn activate(&self, family: &str) -> Result<()> {
        let db = self.console.db();
        let runtime = &self.console.runtime;
        let now = now_ms();
        // The row says when the window ends (every edit writes it there first).
        let Some(stored) = store::load_model(db, family)
            .await?
            .filter(|stored| stored.state() == LearningState::Learning)
        else {
            return Ok(());
        };
        let mut model = match runtime.take_learner(family) {
            Some(learner) => learner.snapshot(family),
            None => stored.clone(),
        };
        model.learning_ends_at = stored.learning_ends_at;
        if model.learning_ends_at.is_some_and(|end| end > now) {
            // Extended meanwhile: learning goes on.
            let learner = LearnerChange::Set(Some(Learner::resume(&model)));
            runtime.publish(db, family, learner).await?;
            return Ok(());
        }
        model.activated_at = Some(now);
        let revision = store::save_model(db, &model, true, now, "console").await?;
        runtime
            .publish(db, family, LearnerChange::Set(None))
            .await?;
        let executables: usize = model
            .model
            .containers
            .values()
            .map(|container| container.executables.len())
            .sum();
        tracing::info!(family = ?family, revision, executables, tasks = model.task_count, "a family's model is in force");
        Ok(())
    }

    /// Saves what the learning models learned since their last save (every minute, and when the
    /// console stops). Answers how many were saved.
    pub async fn save_learning(&self) -> Result<usize> {
        let db = self.console.db();
        let runtime = &self.console.runtime;
        let unsaved = runtime.unsaved();
        let count = unsaved.len();
        for model in unsaved {
            runtime
                .edit(async {
                    // Not if it was activated or relearned since the snapshot was taken.
                    let still = store::load_model(db, &model.family).await?;
                    if still.is_some_and(|still| {
                        still.state() == LearningState::Learning
                            && still.learning_started_at == model.learning_started_at
                    }) {
                        store::save_model(db, &model, false, now_ms(), "").await?;
                    }
                    Ok::<_, Error>(())
                })
                .await?;
        }
        Ok(count)
    }
}

/// What "this is normal" adds.
enum Normal {
    Exec {
        container: String,
        executable: String,
    },
    Port {
        container: String,
        protocol: Protocol,
        port: u16,
    },
}

impl Normal {
    fn of_report(report: &palisade_protocol::AlertReport) -> Result<Normal> {
        if let Some(process) = &report.process {
            let container = process.container.clone().ok_or_else(|| {
                Error::invalid("this alert's process has no container: name the container and executable instead")
            })?;
            return Ok(Normal::Exec {
                container,
                executable: process.executable.clone(),
            });
        }
        if let Some(port) = &report.port {
            let container = port.container.clone().ok_or_else(|| {
                Error::invalid(
                    "this alert's port has no container: name the container and port instead",
                )
            })?;
            return Ok(Normal::Port {
                container,
                protocol: port.protocol.transport(),
                port: port.port,
            });
        }
        Err(Error::invalid(
            "this alert names no process and no port: there is nothing to add to the model",
        ))
    }

    fn named(change: &NormalChange) -> Result<Normal> {
        let container = change.container.clone().ok_or_else(|| {
            Error::invalid(
                "give `incident_id` and `alert_id`, or `container` with `executable` or `port`",
            )
        })?;
        match (&change.executable, change.port) {
            (Some(executable), None) => Ok(Normal::Exec {
                container,
                executable: executable.clone(),
            }),
            (None, Some(port)) => Ok(Normal::Port {
                container,
                protocol: parse_protocol(change.protocol.as_deref().unwrap_or("tcp"), "/protocol")?
                    .transport(),
                port,
            }),
            _ => Err(Error::invalid(
                "give either `executable` or `port` (with `container`)",
            )),
        }
    }

    fn add_to(&self, model: &mut Model, now: UnixMs) -> Learned {
        match self {
            Normal::Exec {
                container,
                executable,
            } => model.add_exec(container, executable, now),
            Normal::Port {
                container,
                protocol,
                port,
            } => model.add_port(container, *protocol, *port, now),
        }
    }

    fn describe(&self) -> String {
        match self {
            Normal::Exec {
                container,
                executable,
            } => format!("{executable} in {container}"),
            Normal::Port {
                container,
                protocol,
                port,
            } => format!("{} port {port} in {container}", protocol.as_str()),
        }
    }
}

/// Whether what was added keeps the policy within its bounds.
fn learned_fits(learned: Learned, settings: &Policy, model: &Model) -> Result<()> {
    match learned {
        Learned::Added | Learned::Seen => check(settings, model),
        Learned::Refused => Err(Error::invalid(
            "the container's model is full (1,000 executables, 256 ports, 64 containers): relearn it, or use the allow list",
        )),
        Learned::Ignored => Err(Error::invalid(
            "not a container name and an absolute executable path (or a port above 0)",
        )),
    }
}

/// `settings` with `model` as it would be sent, checked by the policy crate: each problem as a
/// JSON pointer into the policy (the same as into a `PUT .../policy` body) with its fix.
fn check(settings: &Policy, model: &Model) -> Result<()> {
    let policy = Policy {
        model: Some(model.clone()),
        ..settings.clone()
    };
    policy.check().map_err(|problems| Error::Invalid {
        message: "the policy was not saved: fix what each problem says".into(),
        problems: problems
            .into_iter()
            .map(|problem| {
                Problem::at(ProblemKind::Limit, problem.pointer, problem.message)
                    .with_hint(problem.fix)
            })
            .collect(),
    })
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Off => "off",
        Mode::Alert => "alert",
        Mode::Prevent => "prevent",
    }
}

/// A refusal of one field, named by its JSON pointer.
fn refused(pointer: &str, message: String, fix: &str) -> Error {
    Error::Invalid {
        message: format!("{pointer}: {message}"),
        problems: vec![Problem::at(ProblemKind::Options, pointer, message).with_hint(fix)],
    }
}

fn check_minutes(minutes: u32, pointer: &str) -> Result<()> {
    if (1..=MAX_LEARNING_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(refused(
            pointer,
            format!("{minutes} minutes is not a learning window"),
            "give 1 to 43200 minutes (30 days)",
        ))
    }
}

fn parse_protocol(text: &str, pointer: &str) -> Result<Protocol> {
    match text {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "tcp6" => Ok(Protocol::Tcp6),
        "udp6" => Ok(Protocol::Udp6),
        other => Err(refused(
            pointer,
            format!("`{other}` is not a protocol"),
            "write tcp or udp, or leave it out for both",
        )),
    }
}

/// `change` applied to `policy`, each field read strictly (an unknown mode, rule or protocol is
/// refused at its pointer; the policy crate's check does the rest).
fn apply(policy: &mut FamilyPolicy, change: &PolicyChange) -> Result<()> {
    let settings = &mut policy.settings;
    if let Some(mode) = &change.mode {
        settings.mode = match mode.as_str() {
            "off" => Mode::Off,
            "alert" => Mode::Alert,
            "prevent" => Mode::Prevent,
            other => {
                return Err(refused(
                    "/mode",
                    format!("`{other}` is not a mode"),
                    "write off, alert or prevent",
                ))
            }
        };
    }
    if let Some(rules) = &change.disabled_rules {
        settings.disabled_rules = rules
            .iter()
            .enumerate()
            .map(|(index, id)| {
                palisade_policy::rules()
                    .iter()
                    .map(|info| info.id)
                    .find(|known: &RuleId| known.as_str() == id)
                    .ok_or_else(|| {
                        refused(
                            &format!("/disabled_rules/{index}"),
                            format!("`{id}` is not a rule"),
                            "use a rule id GET /api/v1/rules lists",
                        )
                    })
            })
            .collect::<Result<_>>()?;
    }
    if let Some(allow) = &change.allow {
        settings.allow = allow.iter().map(list_entry).collect();
    }
    if let Some(deny) = &change.deny {
        settings.deny = deny.iter().map(list_entry).collect();
    }
    if let Some(ports) = &change.allowed_ports {
        settings.allowed_ports = ports
            .iter()
            .enumerate()
            .map(|(index, entry)| port_entry(entry, index))
            .collect::<Result<_>>()?;
    }
    if let Some(minutes) = change.learning_minutes {
        check_minutes(minutes, "/learning_minutes")?;
        policy.learning_window_ms = i64::from(minutes) * 60_000;
    }
    Ok(())
}

fn list_entry(entry: &ListEntryView) -> ListEntry {
    match &entry.container {
        Some(container) => ListEntry::in_container(entry.executable.clone(), container.clone()),
        None => ListEntry::new(entry.executable.clone()),
    }
}

fn port_entry(entry: &PortEntryView, index: usize) -> Result<PortEntry> {
    let protocol = entry
        .protocol
        .as_deref()
        .map(|text| parse_protocol(text, &format!("/allowed_ports/{index}/protocol")))
        .transpose()?;
    Ok(PortEntry {
        port: entry.port,
        protocol,
        container: entry.container.clone(),
    })
}
