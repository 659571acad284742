//! Generate, its history, and registering its results on ECS.

use super::Actor;
use crate::clock::UnixMs;
use crate::generate::GenerateRequest;
use crate::generate::{Generation, GenerationResult};
use crate::generations::{self, GenerationItem, GenerationRecord};
use crate::registrations::{self, Outcome, Registration};
use crate::{Console, Result};

/// Generate and what it made (`console.generations()`).
pub struct Generations<'c> {
    pub(super) console: &'c Console,
}

impl Generations<'_> {
    /// Protects the input as `request` asks and records the generation; audited with the
    /// family it was for and how it ended (a refusal counts its problems).
    pub async fn generate(&self, actor: &Actor, request: GenerateRequest) -> Result<Generation> {
        let generation = self.console.generate(request).await;
        let outcome = match &generation {
            Ok(Generation {
                result: GenerationResult::Refused { rejected, .. },
                ..
            }) => format!("refused: {} problem(s)", rejected.problems.len()),
            Ok(_) => "ok".to_owned(),
            Err(error) => error.public_message(),
        };
        let target = generation.as_ref().map(audit_target).unwrap_or_default();
        self.console
            .audit(actor, "generate", &target, &outcome)
            .await;
        generation
    }

    /// The newest `limit` generations.
    pub async fn recent(&self, limit: i64) -> Result<Vec<GenerationItem>> {
        generations::recent(&self.console.db, limit).await
    }

    /// One generation, with its input and output.
    pub async fn get(&self, id: i64) -> Result<GenerationRecord> {
        generations::get(&self.console.db, id).await
    }

    /// Forgets the generations made before `before`; answers how many.
    pub async fn forget_before(&self, before: UnixMs) -> Result<u64> {
        generations::forget_before(&self.console.db, before).await
    }

    /// Registers generation `generation_id`'s output on ECS with the saved settings, once
    /// (registering it again answers the first registration).
    pub async fn register(
        &self,
        actor: &Actor,
        generation_id: i64,
    ) -> Result<(Registration, Outcome)> {
        let registered = self
            .console
            .register_generation(generation_id, &actor.name())
            .await;
        let target = format!("generation {generation_id}");
        self.console
            .audited(actor, "register", &target, registered)
            .await
    }

    /// The newest `limit` registrations.
    pub async fn registrations(&self, limit: i64) -> Result<Vec<Registration>> {
        registrations::list(&self.console.db, limit).await
    }
}

/// The family a generation was for, as the audit log names it.
fn audit_target(generation: &Generation) -> String {
    match &generation.result {
        GenerationResult::Generated { protected, id } => format!(
            "{} (generation {})",
            protected.family.as_deref().unwrap_or("a container list"),
            id.map_or("not recorded".to_owned(), |id| id.to_string())
        ),
        GenerationResult::Template(template) => format!(
            "a CloudFormation template ({})",
            template
                .resources
                .iter()
                .map(|resource| resource.logical_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        GenerationResult::Refused { .. } => String::new(),
    }
}

/// Task definitions read from ECS, to protect (`console.imports()`).
pub struct Imports<'c> {
    pub(super) console: &'c Console,
}

impl Imports<'_> {
    /// The task definition families with an active revision.
    pub async fn families(&self) -> Result<Vec<String>> {
        let client = self.console.ecs().await?;
        crate::aws::ecs::list_families(&client).await
    }

    /// The revision ARNs of `family`, newest first.
    pub async fn revisions(&self, family: &str) -> Result<Vec<String>> {
        let client = self.console.ecs().await?;
        crate::aws::ecs::list_revisions(&client, family).await
    }

    /// The describe output (with tags) of `FAMILY`, `FAMILY:REVISION` or an ARN, as the
    /// generator takes it; audited.
    pub async fn import(&self, actor: &Actor, task_definition: &str) -> Result<serde_json::Value> {
        let described = async {
            let client = self.console.ecs().await?;
            crate::aws::ecs::describe(&client, task_definition).await
        }
        .await;
        self.console
            .audited(actor, "import", task_definition, described)
            .await
    }
}
