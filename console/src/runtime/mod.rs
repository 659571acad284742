//! Runtime defense, the console's half: each family's policy (settings in `store`, the model it
//! learns in `learning`), what its connected defenders are sent (one `watch` per family: the
//! newest policy message, serialized once, which every socket of the family waits on; bounded,
//! nothing queues per socket), the incidents its alerts are grouped into (`incidents`, with the
//! process trees around them in `tree`), and defenders gone silent while their task runs
//! (`silent`). The use-cases are `console.policies()` and `console.incidents()`.
//!
//! The families a console holds in memory are those whose defenders connected or that a person
//! looked at since it started: bounded by the families with defender tokens.

pub mod incidents;
pub mod learning;
pub mod silent;
pub mod store;
pub mod tree;

use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use crate::lock;
use learning::Learner;
use palisade_protocol::{ConsoleMessage, Event, PolicyUpdate, MAX_MESSAGE_BYTES};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::{FamilyModel, FamilyPolicy, LearningState};
use tokio::sync::watch;

/// A family's policy as its defenders are sent it.
#[derive(Debug)]
pub struct PolicyMessage {
    pub update: PolicyUpdate,
    /// `ConsoleMessage::Policy` as JSON, serialized once for every socket of the family.
    pub text: Arc<str>,
}

/// What one family holds in memory.
struct Family {
    /// The newest policy message; sockets of the family wait on it.
    sent: watch::Sender<Arc<PolicyMessage>>,
    /// The model while it learns (`None` when it is in force, or before it started).
    learner: Option<Learner>,
    /// No defender of the family connected yet (learning starts with the first).
    waiting: bool,
}

/// The families' policies in memory, and the queue of defenders that left without a word.
#[derive(Default)]
pub struct Runtime {
    families: Mutex<HashMap<String, Family>>,
    /// Changes of a family's policy or model (a person's edit, an activation, a save) one at a
    /// time, so none overwrites another's.
    edits: tokio::sync::Mutex<()>,
    /// Defenders that left without closing, waiting to be looked at.
    pub(crate) silent: silent::SilentQueue,
}

/// The policy `policy` and `model` make, as a message (the model only once it is in force). A
/// policy too big for the channel (it cannot be: edits and learning are bounded) goes without its
/// model, and says so in the log.
pub fn message(policy: &FamilyPolicy, model: &FamilyModel) -> Result<PolicyMessage> {
    let mut sent = policy.settings.clone();
    sent.model = (model.state() == LearningState::Active).then(|| model.model.clone());
    let mut update = PolicyUpdate {
        revision: u64::try_from(policy.revision).unwrap_or(0),
        policy: sent,
    };
    let mut text = serde_json::to_string(&ConsoleMessage::Policy(Box::new(update.clone())))
        .context("writing a family's policy")?;
    if text.len() > MAX_MESSAGE_BYTES {
        tracing::error!(family = ?policy.family, bytes = text.len(), "a family's policy is too big for the channel: sent without its model");
        update.policy.model = None;
        text = serde_json::to_string(&ConsoleMessage::Policy(Box::new(update.clone())))
            .context("writing a family's policy")?;
    }
    Ok(PolicyMessage {
        update,
        text: text.into(),
    })
}

impl Runtime {
    /// The family's policy and what its sockets wait on, loading it when it is not in memory
    /// (`create`: making its rows first, for a defender's hello; learning starts with the
    /// family's first defender).
    pub(crate) async fn open(
        &self,
        db: &SqlitePool,
        family: &str,
        create: bool,
    ) -> Result<watch::Receiver<Arc<PolicyMessage>>> {
        if let Some(known) = lock(&self.families).get(family) {
            // A family a person looked at before its first defender: learning starts now.
            if !(create && known.waiting) {
                return Ok(known.sent.subscribe());
            }
        }
        let now = now_ms();
        if create {
            store::ensure(db, family, now).await?;
            store::start_learning(db, family, now).await?;
        }
        let (policy, model) = load(db, family).await?;
        let built = Arc::new(message(&policy, &model)?);
        let waiting = model.state() == LearningState::Waiting;
        let learner = (model.state() == LearningState::Learning).then(|| Learner::resume(&model));
        let mut families = lock(&self.families);
        // Another hello of the family may have loaded it meanwhile: its learner stays.
        let entry = families.entry(family.to_owned()).or_insert_with(|| Family {
            sent: watch::channel(built).0,
            learner: None,
            waiting: true,
        });
        if entry.learner.is_none() && entry.waiting {
            entry.learner = learner;
        }
        entry.waiting = entry.waiting && waiting;
        Ok(entry.sent.subscribe())
    }

    /// The policy defenders of `family` are sent now, when it is in memory.
    pub fn current(&self, family: &str) -> Option<Arc<PolicyMessage>> {
        lock(&self.families)
            .get(family)
            .map(|known| known.sent.borrow().clone())
    }

    /// Learns what a defender of `family` reported, once stored (only while the family learns).
    pub fn observe(&self, family: &str, defender: i64, events: &[&Event]) {
        let now = now_ms();
        let mut families = lock(&self.families);
        if let Some(learner) = families
            .get_mut(family)
            .and_then(|known| known.learner.as_mut())
            .filter(|learner| now < learner.ends_at)
        {
            learner.observe(defender, events, now);
        }
    }

    /// The family's model as it stands: the learning one in memory, else as stored.
    pub(crate) async fn model(&self, db: &SqlitePool, family: &str) -> Result<FamilyModel> {
        let stored = load(db, family).await?.1;
        let learning = lock(&self.families).get(family).and_then(|known| {
            known
                .learner
                .as_ref()
                .map(|learner| learner.snapshot(family))
        });
        Ok(match learning {
            Some(snapshot) => FamilyModel {
                saved_at: stored.saved_at,
                ..snapshot
            },
            None => stored,
        })
    }

    /// Runs `change` on the family's policy and model one edit at a time (see [`Runtime::edits`]).
    pub(crate) async fn edit<T, F>(&self, change: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let _edit = self.edits.lock().await;
        change.await
    }

    /// Sends the family's policy as stored now (and `learner` as its learning model, `Keep`ing
    /// the one in memory) to every socket of the family. Called inside [`Runtime::edit`].
    pub(crate) async fn publish(
        &self,
        db: &SqlitePool,
        family: &str,
        learner: LearnerChange,
    ) -> Result<Arc<PolicyMessage>> {
        let (policy, model) = load(db, family).await?;
        let built = Arc::new(message(&policy, &model)?);
        let mut families = lock(&self.families);
        let known = families.entry(family.to_owned()).or_insert_with(|| Family {
            sent: watch::channel(built.clone()).0,
            learner: None,
            waiting: false,
        });
        known.waiting = model.state() == LearningState::Waiting;
        match learner {
            LearnerChange::Keep => {}
            LearnerChange::Set(learner) => known.learner = learner,
        }
        if known.learner.is_none() && model.state() == LearningState::Learning {
            known.learner = Some(Learner::resume(&model));
        }
        known.sent.send_replace(built.clone());
        Ok(built)
    }

    /// With the family's learner (when it learns, in memory), under the lock: short work only.
    pub(crate) fn with_learner<T>(
        &self,
        family: &str,
        work: impl FnOnce(Option<&mut Learner>) -> T,
    ) -> T {
        let mut families = lock(&self.families);
        work(
            families
                .get_mut(family)
                .and_then(|known| known.learner.as_mut()),
        )
    }

    /// Takes the family's learner out of memory (learning stops at once).
    pub(crate) fn take_learner(&self, family: &str) -> Option<Learner> {
        lock(&self.families)
            .get_mut(family)
            .and_then(|known| known.learner.take())
    }

    /// The learning models with something new since they were last saved, marked saved.
    pub(crate) fn unsaved(&self) -> Vec<FamilyModel> {
        let mut families = lock(&self.families);
        families
            .iter_mut()
            .filter_map(|(name, known)| {
                let learner = known.learner.as_mut().filter(|learner| learner.dirty)?;
                learner.dirty = false;
                Some(learner.snapshot(name))
            })
            .collect()
    }
}

/// What [`Runtime::publish`] does with the family's learner.
pub(crate) enum LearnerChange {
    Keep,
    Set(Option<Learner>),
}

/// Both rows of `family`, or `NotFound`.
pub(crate) async fn load(db: &SqlitePool, family: &str) -> Result<(FamilyPolicy, FamilyModel)> {
    let missing = || {
        Error::NotFound(format!(
            "family `{family}` has no policy yet: it gets one when its first defender connects (create a defender token for it in Settings)"
        ))
    };
    let policy = store::load_policy(db, family).await?.ok_or_else(missing)?;
    let model = store::load_model(db, family).await?.ok_or_else(missing)?;
    Ok((policy, model))
}

/// When a learning window ends, counted from `from`.
pub fn window_end(from: UnixMs, window_ms: i64) -> UnixMs {
    from.saturating_add(window_ms)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod message_tests {
    use super::*;
    use palisade_policy::Model;

    fn rows(model: Model) -> (FamilyPolicy, FamilyModel) {
        let policy = FamilyPolicy {
            family: "shop".into(),
            revision: 7,
            settings: palisade_policy::Policy::default(),
            learning_window_ms: 0,
            updated_at: 0,
            updated_by: String::new(),
        };
        let model = FamilyModel {
            family: "shop".into(),
            model,
            learning_started_at: Some(0),
            activated_at: Some(1),
            ..FamilyModel::default()
        };
        (policy, model)
    }

    #[test]
    fn a_policy_message_stays_under_the_channels_bound() {
        // A model at its learning budget goes out whole.
        let mut learner = Learner::resume(&FamilyModel::default());
        let long = "x".repeat(1000);
        for pid in 2..400u32 {
            let event = Event {
                seq: u64::from(pid),
                at_ms: 0,
                kind: palisade_protocol::EventKind::ProcessStarted(
                    palisade_protocol::ProcessInfo {
                        pid,
                        ppid: pid - 1,
                        executable: format!("/opt/{pid}/{long}"),
                        container: Some("web".into()),
                        ..Default::default()
                    },
                ),
            };
            learner.observe(1, &[&event], 1);
        }
        let (policy, model) = rows(learner.model);
        let sent = message(&policy, &model).unwrap();
        assert!(sent.text.len() <= MAX_MESSAGE_BYTES, "{}", sent.text.len());
        assert!(sent.update.policy.model.is_some());
        assert_eq!(sent.update.revision, 7);
        // One past the channel's bound (it cannot be learned, only forged) goes without it.
        let mut huge = Model::default();
        for n in 0..1000 {
            huge.add_exec("web", &format!("/opt/{n}/{long}"), 1);
        }
        let (policy, model) = rows(huge);
        let sent = message(&policy, &model).unwrap();
        assert!(sent.text.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(sent.update.policy.model, None);
    }
}
