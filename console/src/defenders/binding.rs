//! A task ARN bound to its family by ECS itself: when the console can call ECS (its settings name
//! a region), a defender's first hello for a task is checked with DescribeTasks, and refused when
//! ECS says that task runs another family's task definition (a token of one family speaking for
//! another family's task). Rows are already per family (see `presence`), so this keeps a family's
//! own list truthful; it never decides between families.
//!
//! Only a definite answer refuses: a task ECS does not know (another account or region, not yet
//! listed), an ECS that cannot be reached or throttles, or a console without AWS settings lets the
//! hello through, logged; the answer for a task is remembered (tasks never change family), and a
//! task its family reported before is not asked about again.

use crate::Console;
use palisade_protocol::TaskIdentity;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Tasks whose family ECS confirmed, kept at most (a few MB).
const KEPT: usize = 100_000;
/// How long the first hello of a task may wait for ECS.
const ASK_WITHIN: Duration = Duration::from_secs(3);

/// ECS calls under way at once for hellos: past them, a hello is let through unchecked (a
/// stolen token inventing tasks must not drive the account's ECS API into throttling).
const ASKING_AT_ONCE: usize = 4;

/// What ECS said of each task asked about (`None`: ECS does not know it).
pub struct TaskFamilies {
    confirmed: Mutex<HashMap<String, Option<String>>>,
    asking: tokio::sync::Semaphore,
}

impl Default for TaskFamilies {
    fn default() -> Self {
        TaskFamilies {
            confirmed: Mutex::default(),
            asking: tokio::sync::Semaphore::new(ASKING_AT_ONCE),
        }
    }
}

/// The region of a task ARN (`arn:aws:ecs:REGION:ACCOUNT:task/...`).
fn region_of(task_arn: &str) -> Option<&str> {
    task_arn
        .split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
}

/// The family of a task definition ARN (`arn:aws:ecs:r:a:task-definition/web:14` -> `web`).
fn family_of(task_definition_arn: &str) -> Option<&str> {
    task_definition_arn
        .rsplit('/')
        .next()?
        .split(':')
        .next()
        .filter(|family| !family.is_empty())
}

impl Console {
    /// Whether a defender of `family` may speak for `task`, as far as ECS can tell (see the
    /// module's header): `Err(why)` only when ECS says the task runs another family.
    pub async fn check_task_family(&self, task: &TaskIdentity, family: &str) -> Result<(), String> {
        let families = &self.task_families;
        if let Some(known) = crate::lock(&families.confirmed).get(&task.task_arn) {
            return match known {
                Some(running) => refusal(task, family, running),
                None => Ok(()),
            };
        }
        let Ok(settings) = self.aws_settings().await else {
            return Ok(());
        };
        // Only a task of the region the console asks can be answered for.
        let Some(region) = settings.region.as_deref() else {
            return Ok(());
        };
        if region_of(&task.task_arn) != Some(region) {
            return Ok(());
        }
        let Ok(_asking) = families.asking.try_acquire() else {
            tracing::info!(task = ?task.task_arn, "ECS is being asked about many tasks already: the hello goes through unchecked");
            return Ok(());
        };
        // A task this family's defender reported before was asked about then (or could not be):
        // a reconnect storm after a restart costs no ECS call.
        if super::presence::known(self.db(), family, &task.task_arn)
            .await
            .unwrap_or(false)
        {
            return Ok(());
        }
        let asked = async {
            let client = self.ecs().await.ok()?;
            let cluster = if task.cluster.is_empty() {
                "default"
            } else {
                task.cluster.as_str()
            };
            crate::aws::ecs::describe_tasks(&client, cluster, std::slice::from_ref(&task.task_arn))
                .await
                .map_err(|error| {
                    tracing::info!(task = ?task.task_arn, error = %error, "ECS could not say which family a task runs: the hello goes through")
                })
                .ok()
        };
        let Ok(Some(described)) = tokio::time::timeout(ASK_WITHIN, asked).await else {
            return Ok(());
        };
        let running = described["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|found| found["taskArn"].as_str() == Some(task.task_arn.as_str()))
            .and_then(|found| found["taskDefinitionArn"].as_str())
            .and_then(family_of)
            .map(str::to_owned);
        let mut confirmed = crate::lock(&families.confirmed);
        if confirmed.len() >= KEPT {
            confirmed.clear();
        }
        confirmed.insert(task.task_arn.clone(), running.clone());
        let Some(running) = running else {
            tracing::info!(task = ?task.task_arn, "ECS does not know this task (another account?): the hello goes through");
            return Ok(());
        };
        refusal(task, family, &running)
    }
}

fn refusal(task: &TaskIdentity, family: &str, running: &str) -> Result<(), String> {
    if running == family {
        Ok(())
    } else {
        Err(format!(
            "ECS says task {} runs a task definition of family `{running}`, not `{family}`: a token of `{family}` cannot speak for it",
            task.task_arn
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_definition_arn_names_its_family() {
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:123456789012:task-definition/web-api:14"),
            Some("web-api")
        );
        assert_eq!(family_of("web:3"), Some("web"));
        assert_eq!(family_of(""), None);
        assert_eq!(
            region_of("arn:aws:ecs:eu-west-1:123456789012:task/prod/abc"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("not an arn"), None);
    }
}
