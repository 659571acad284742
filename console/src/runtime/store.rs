//! A family's two rows: its policy settings (`family_policies`: mode, lists, the learning
//! window, the revision) and its model (`family_models`: the model, where learning stands, the
//! tasks it learned from). Created when the family's first defender says hello, or when a person
//! edits a family that has a defender token.

use crate::clock::UnixMs;
use crate::error::{Context, Error, Result};
use palisade_policy::{ListEntry, Mode, Model, Policy, PortEntry, RuleId};
use sqlx::SqlitePool;

/// The learning window when a family has not set one: the first hour of its defenders' runtime.
pub const DEFAULT_LEARNING_WINDOW_MS: i64 = 3_600_000;

/// A family's settings as stored, and the revision its defenders judge with.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyPolicy {
    pub family: String,
    pub revision: i64,
    /// The policy's settings; its `model` is always `None` here (see [`FamilyModel`]).
    pub settings: Policy,
    pub learning_window_ms: i64,
    pub updated_at: UnixMs,
    pub updated_by: String,
}

/// Where a family's model stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearningState {
    /// No defender of the family connected yet: learning starts with the first.
    Waiting,
    /// Learning until `learning_ends_at`; defenders are sent no model.
    Learning,
    /// The model is in force.
    Active,
}

impl LearningState {
    pub fn as_str(self) -> &'static str {
        match self {
            LearningState::Waiting => "waiting",
            LearningState::Learning => "learning",
            LearningState::Active => "active",
        }
    }
}

/// A family's model as stored (while learning: as of the last save).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FamilyModel {
    pub family: String,
    pub model: Model,
    pub learning_started_at: Option<UnixMs>,
    pub learning_ends_at: Option<UnixMs>,
    pub activated_at: Option<UnixMs>,
    /// The defenders it learned from (at most [`MAX_TASKS_KEPT`]).
    pub tasks: Vec<i64>,
    /// How many in all.
    pub task_count: i64,
    pub saved_at: UnixMs,
}

/// Defender ids kept per model (a family has at most 10,000 tasks listed at once).
pub const MAX_TASKS_KEPT: usize = 10_000;

impl FamilyModel {
    pub fn state(&self) -> LearningState {
        match (self.activated_at, self.learning_started_at) {
            (Some(_), _) => LearningState::Active,
            (None, Some(_)) => LearningState::Learning,
            (None, None) => LearningState::Waiting,
        }
    }
}

/// Both rows of `family`, made when missing (a family's defaults: alert mode, every rule, an hour
/// of learning from its first defender).
pub async fn ensure(db: &SqlitePool, family: &str, now: UnixMs) -> Result<()> {
    let mut transaction = crate::db::begin_write(db, "making a family's policy").await?;
    sqlx::query!(
        "INSERT OR IGNORE INTO family_policies (family, learning_window_ms, updated_at) VALUES (?, ?, ?)",
        family,
        DEFAULT_LEARNING_WINDOW_MS,
        now
    )
    .execute(&mut *transaction)
    .await
    .context("making a family's policy")?;
    sqlx::query!(
        "INSERT OR IGNORE INTO family_models (family, saved_at) VALUES (?, ?)",
        family,
        now
    )
    .execute(&mut *transaction)
    .await
    .context("making a family's policy")?;
    transaction
        .commit()
        .await
        .context("making a family's policy")
}

/// Starts `family`'s learning window at `now` unless it started before: its first defender
/// connected. Answers whether it started now.
pub async fn start_learning(db: &SqlitePool, family: &str, now: UnixMs) -> Result<bool> {
    let started = sqlx::query!(
        "UPDATE family_models SET learning_started_at = ?1,
             learning_ends_at = ?1 + (SELECT learning_window_ms FROM family_policies WHERE family = ?2)
         WHERE family = ?2 AND learning_started_at IS NULL",
        now,
        family
    )
    .execute(db)
    .await
    .context("starting a family's learning")?
    .rows_affected();
    Ok(started > 0)
}

/// Whether `family` may have a policy: it has one, or a defender token (revoked ones count).
pub async fn known_family(db: &SqlitePool, family: &str) -> Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT 1 AS "found!: i64" FROM family_policies WHERE family = ?1
           UNION ALL SELECT 1 FROM defender_tokens WHERE family = ?1 LIMIT 1"#,
        family
    )
    .fetch_optional(db)
    .await
    .context("looking a family up")?;
    Ok(found.is_some())
}

struct PolicyRow {
    family: String,
    revision: i64,
    mode: String,
    disabled_rules: String,
    allow: String,
    deny: String,
    allowed_ports: String,
    learning_window_ms: i64,
    updated_at: i64,
    updated_by: String,
}

impl PolicyRow {
    fn into_policy(self) -> Result<FamilyPolicy> {
        let mode: Mode = serde_json::from_value(serde_json::Value::String(self.mode))
            .context("reading a family's policy")?;
        let disabled_rules: Vec<RuleId> =
            serde_json::from_str(&self.disabled_rules).context("reading a family's policy")?;
        let allow: Vec<ListEntry> =
            serde_json::from_str(&self.allow).context("reading a family's policy")?;
        let deny: Vec<ListEntry> =
            serde_json::from_str(&self.deny).context("reading a family's policy")?;
        let allowed_ports: Vec<PortEntry> =
            serde_json::from_str(&self.allowed_ports).context("reading a family's policy")?;
        Ok(FamilyPolicy {
            family: self.family,
            revision: self.revision,
            settings: Policy {
                mode,
                disabled_rules,
                allow,
                deny,
                allowed_ports,
                ..Policy::default()
            },
            learning_window_ms: self.learning_window_ms,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        })
    }
}

/// `family`'s settings, when it has a policy.
pub async fn load_policy(db: &SqlitePool, family: &str) -> Result<Option<FamilyPolicy>> {
    let row = sqlx::query_as!(
        PolicyRow,
        r#"SELECT family AS "family!", revision, mode, disabled_rules, allow, deny, allowed_ports,
                  learning_window_ms, updated_at, updated_by
           FROM family_policies WHERE family = ?"#,
        family
    )
    .fetch_optional(db)
    .await
    .context("reading a family's policy")?;
    row.map(PolicyRow::into_policy).transpose()
}

/// Every family's settings, by name.
pub async fn list_policies(db: &SqlitePool) -> Result<Vec<FamilyPolicy>> {
    let rows = sqlx::query_as!(
        PolicyRow,
        r#"SELECT family AS "family!", revision, mode, disabled_rules, allow, deny, allowed_ports,
                  learning_window_ms, updated_at, updated_by
           FROM family_policies ORDER BY family"#
    )
    .fetch_all(db)
    .await
    .context("listing the families' policies")?;
    rows.into_iter().map(PolicyRow::into_policy).collect()
}

struct ModelRow {
    family: String,
    model: String,
    learning_started_at: Option<i64>,
    learning_ends_at: Option<i64>,
    activated_at: Option<i64>,
    tasks: String,
    task_count: i64,
    saved_at: i64,
}

impl ModelRow {
    fn into_model(self) -> Result<FamilyModel> {
        Ok(FamilyModel {
            model: serde_json::from_str(&self.model).context("reading a family's model")?,
            tasks: serde_json::from_str(&self.tasks).context("reading a family's model")?,
            family: self.family,
            learning_started_at: self.learning_started_at,
            learning_ends_at: self.learning_ends_at,
            activated_at: self.activated_at,
            task_count: self.task_count,
            saved_at: self.saved_at,
        })
    }
}

/// `family`'s model as last saved, when it has one.
pub async fn load_model(db: &SqlitePool, family: &str) -> Result<Option<FamilyModel>> {
    let row = sqlx::query_as!(
        ModelRow,
        r#"SELECT family AS "family!", model, learning_started_at, learning_ends_at, activated_at,
                  tasks, task_count, saved_at
           FROM family_models WHERE family = ?"#,
        family
    )
    .fetch_optional(db)
    .await
    .context("reading a family's model")?;
    row.map(ModelRow::into_model).transpose()
}

/// Every family's model as last saved.
pub async fn list_models(db: &SqlitePool) -> Result<Vec<FamilyModel>> {
    let rows = sqlx::query_as!(
        ModelRow,
        r#"SELECT family AS "family!", model, learning_started_at, learning_ends_at, activated_at,
                  tasks, task_count, saved_at
           FROM family_models ORDER BY family"#
    )
    .fetch_all(db)
    .await
    .context("listing the families' models")?;
    rows.into_iter().map(ModelRow::into_model).collect()
}

/// Writes `family`'s settings (its model untouched) and bumps its revision; answers the new one.
pub async fn save_settings(
    db: &SqlitePool,
    policy: &FamilyPolicy,
    now: UnixMs,
    by: &str,
) -> Result<i64> {
    let settings = &policy.settings;
    let mode = settings_text(&settings.mode)?;
    let mode = mode.trim_matches('"');
    let disabled = settings_text(&settings.disabled_rules)?;
    let allow = settings_text(&settings.allow)?;
    let deny = settings_text(&settings.deny)?;
    let ports = settings_text(&settings.allowed_ports)?;
    let _turn = crate::db::write_turn().await;
    sqlx::query_scalar!(
        r#"UPDATE family_policies SET revision = revision + 1, mode = ?, disabled_rules = ?, allow = ?,
               deny = ?, allowed_ports = ?, learning_window_ms = ?, updated_at = ?, updated_by = ?
           WHERE family = ? RETURNING revision AS "revision!: i64""#,
        mode,
        disabled,
        allow,
        deny,
        ports,
        policy.learning_window_ms,
        now,
        by,
        policy.family
    )
    .fetch_optional(db)
    .await
    .context("saving a family's policy")?
    .ok_or_else(|| Error::NotFound(format!("family `{}` has no policy", policy.family)))
}

fn settings_text(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).context("saving a family's policy")
}

/// Writes `model`; with `bump`, the family's revision grows in the same transaction (the model
/// that defenders are sent changed). Answers the family's revision.
pub async fn save_model(
    db: &SqlitePool,
    model: &FamilyModel,
    bump: bool,
    now: UnixMs,
    by: &str,
) -> Result<i64> {
    let json = serde_json::to_string(&model.model).context("saving a family's model")?;
    let tasks = serde_json::to_string(&model.tasks).context("saving a family's model")?;
    let _turn = crate::db::write_turn().await;
    let mut transaction = crate::db::begin_write(db, "saving a family's model").await?;
    sqlx::query!(
        "UPDATE family_models SET model = ?, learning_started_at = ?, learning_ends_at = ?, activated_at = ?,
             tasks = ?, task_count = ?, saved_at = ? WHERE family = ?",
        json,
        model.learning_started_at,
        model.learning_ends_at,
        model.activated_at,
        tasks,
        model.task_count,
        now,
        model.family
    )
    .execute(&mut *transaction)
    .await
    .context("saving a family's model")?;
    let bump = i64::from(bump);
    let revision = sqlx::query_scalar!(
        r#"UPDATE family_policies SET revision = revision + ?1,
               updated_at = CASE WHEN ?1 = 1 THEN ?2 ELSE updated_at END,
               updated_by = CASE WHEN ?1 = 1 THEN ?3 ELSE updated_by END
           WHERE family = ?4 RETURNING revision AS "revision!: i64""#,
        bump,
        now,
        by,
        model.family
    )
    .fetch_optional(&mut *transaction)
    .await
    .context("saving a family's model")?
    .ok_or_else(|| Error::NotFound(format!("family `{}` has no policy", model.family)))?;
    transaction
        .commit()
        .await
        .context("saving a family's model")?;
    Ok(revision)
}

/// The families whose learning window has ended by `now` and whose model is not in force yet.
pub async fn due_for_activation(db: &SqlitePool, now: UnixMs) -> Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT family AS "family!" FROM family_models
           WHERE activated_at IS NULL AND learning_ends_at IS NOT NULL AND learning_ends_at <= ?"#,
        now
    )
    .fetch_all(db)
    .await
    .context("looking for models to activate")
}
