//! A defender gone silent while its task runs: an incident of the console's own rule
//! `defender-silent` (high). The channel reports every connection that ended without the
//! defender closing it (it fell silent for three heartbeats, the connection was reset, it stopped
//! reading); a defender that closes with 1001 (its task is stopping) or 1000 raises nothing, nor
//! does a connection the console itself closed (it stops, a newer connection took over, the token
//! was revoked). After a grace of three heartbeats, a defender that came back on a new connection
//! is forgotten; for the others, when the console's AWS settings name a region, ECS is asked
//! (DescribeTasks, 100 tasks a call) whether each task still runs: a stopped or unknown task
//! raises nothing; without AWS, or when ECS cannot answer, the incident is raised and says ECS
//! was not asked, and why.
//!
//! The queue is bounded ([`QUEUED`]): past it, losses are counted and logged, not kept.

use super::incidents::{self, Item, DEFENDER_SILENT};
use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Result};
use crate::{lock, Console};
use palisade_policy::Severity;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Losses waiting for their grace to end, at most.
pub const QUEUED: usize = 20_000;
/// How long ECS may take to answer one DescribeTasks.
const ASK_WITHIN: Duration = Duration::from_secs(5);

/// A connection that ended without the defender closing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    pub defender_id: i64,
    /// The connection that ended (a newer one of the same defender means it came back).
    pub connection: String,
    pub instance: String,
    pub family: String,
    pub task_arn: String,
    pub cluster: String,
    /// How it ended, in words: `no message for 30 s`, `the connection was reset`.
    pub how: String,
    pub at: UnixMs,
}

/// The losses waiting for their grace to end.
#[derive(Default)]
pub struct SilentQueue {
    pending: Mutex<VecDeque<Lost>>,
    dropped: AtomicU64,
}

impl SilentQueue {
    /// Keeps `lost` to look at once its grace ended (dropped, counted, past [`QUEUED`]).
    pub fn push(&self, lost: Lost) {
        let mut pending = lock(&self.pending);
        if pending.len() >= QUEUED {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                dropped,
                "too many defenders left without a word at once: this one is not looked at"
            );
            return;
        }
        pending.push_back(lost);
    }

    /// The losses from before `before`, taken out.
    fn due(&self, before: UnixMs) -> Vec<Lost> {
        let mut pending = lock(&self.pending);
        let mut due = Vec::new();
        while pending.front().is_some_and(|lost| lost.at <= before) {
            due.extend(pending.pop_front());
        }
        due
    }
}

/// What ECS said of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// It runs (its last status).
    Runs(String),
    /// It stopped, or ECS does not know it: no incident.
    Gone(String),
    /// ECS was not asked, or did not answer: the incident says why.
    NotAsked(String),
}

impl Console {
    /// Raises `defender-silent` for the losses whose grace (`grace_ms`) ended, as the module
    /// says. Answers how many were raised.
    pub async fn check_silent(&self, grace_ms: i64) -> Result<usize> {
        let now = now_ms();
        let due = self.runtime.silent.due(now - grace_ms);
        if due.is_empty() {
            return Ok(0);
        }
        let gone = still_gone(self.db(), due).await?;
        if gone.is_empty() {
            return Ok(0);
        }
        let verdicts = self.ask_ecs(&gone).await;
        let mut families: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        for lost in gone {
            let verdict = verdicts
                .get(&lost.task_arn)
                .cloned()
                .unwrap_or_else(|| Verdict::NotAsked("ECS was not asked".into()));
            let note = match verdict {
                Verdict::Gone(why) => {
                    tracing::info!(task = ?lost.task_arn, why = ?why, "a defender left without a word, but its task is gone: no incident");
                    continue;
                }
                Verdict::Runs(status) => format!("ECS says the task is {status}"),
                Verdict::NotAsked(why) => why,
            };
            let task = lost.task_arn.rsplit('/').next().unwrap_or(&lost.task_arn);
            let item = Item {
                defender_id: lost.defender_id,
                instance: lost.instance.clone(),
                seq: 0,
                task_arn: lost.task_arn.clone(),
                at_ms: lost.at,
                severity: Severity::High,
                message: format!(
                    "the defender of task {task} went silent ({}) while its task runs: {note}",
                    lost.how
                ),
                report: "{}".into(),
            };
            families.entry(lost.family).or_default().push(item);
        }
        let raised = families.values().map(Vec::len).sum();
        if raised > 0 {
            let _turn = crate::db::write_turn().await;
            let mut transaction =
                crate::db::begin_write(self.db(), "raising a silent defender").await?;
            for (family, items) in families {
                let key = (family, DEFENDER_SILENT.to_owned(), String::new());
                incidents::join(&mut transaction, &key, &items, now).await?;
            }
            transaction
                .commit()
                .await
                .context("raising a silent defender")?;
            self.defender_changes().changed();
        }
        Ok(raised)
    }

    /// What ECS says of each lost task, when the console can ask it.
    async fn ask_ecs(&self, lost: &[Lost]) -> HashMap<String, Verdict> {
        let not_asked = |why: String| {
            lost.iter()
                .map(|lost| (lost.task_arn.clone(), Verdict::NotAsked(why.clone())))
                .collect()
        };
        let region = match self.aws_settings().await {
            Ok(settings) => settings.region,
            Err(_) => None,
        };
        let Some(region) = region else {
            return not_asked(
                "the console has no AWS settings, so ECS was not asked whether the task still runs"
                    .into(),
            );
        };
        let client = match self.ecs().await {
            Ok(client) => client,
            Err(error) => {
                return not_asked(format!(
                    "ECS could not be asked whether the task still runs ({})",
                    error.public_message()
                ))
            }
        };
        let mut verdicts = HashMap::new();
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for lost in lost {
            let task_region = lost.task_arn.split(':').nth(3).unwrap_or_default();
            if task_region != region {
                let why = format!("ECS was not asked: the task is in region `{task_region}`, the console's AWS settings name `{region}`");
                verdicts.insert(lost.task_arn.clone(), Verdict::NotAsked(why));
                continue;
            }
            let cluster = if lost.cluster.is_empty() {
                "default"
            } else {
                lost.cluster.as_str()
            };
            by_cluster
                .entry(cluster)
                .or_default()
                .push(lost.task_arn.clone());
        }
        for (cluster, tasks) in by_cluster {
            for chunk in tasks.chunks(100) {
                let asked = tokio::time::timeout(
                    ASK_WITHIN,
                    crate::aws::ecs::describe_tasks(&client, cluster, chunk),
                )
                .await;
                verdicts.extend(read_answer(chunk, asked));
            }
        }
        verdicts
    }
}

/// ECS's answer for `tasks`, task by task.
fn read_answer(
    tasks: &[String],
    asked: std::result::Result<Result<serde_json::Value>, tokio::time::error::Elapsed>,
) -> Vec<(String, Verdict)> {
    let answer = match asked {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => {
            let why = format!(
                "ECS could not say whether the task still runs ({})",
                error.public_message()
            );
            return tasks
                .iter()
                .map(|task| (task.clone(), Verdict::NotAsked(why.clone())))
                .collect();
        }
        Err(_) => {
            let why = "ECS did not answer within 5 s whether the task still runs".to_owned();
            return tasks
                .iter()
                .map(|task| (task.clone(), Verdict::NotAsked(why.clone())))
                .collect();
        }
    };
    tasks
        .iter()
        .map(|task| {
            let found = answer["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|described| described["taskArn"].as_str() == Some(task.as_str()));
            let verdict = match found {
                None => Verdict::Gone("ECS does not know the task".into()),
                Some(described) => {
                    let last = described["lastStatus"].as_str().unwrap_or("UNKNOWN");
                    let desired = described["desiredStatus"].as_str().unwrap_or("");
                    let stopping = ["STOPPED", "STOPPING", "DEPROVISIONING", "DEACTIVATING"];
                    if desired == "STOPPED" || stopping.contains(&last) {
                        Verdict::Gone(format!("ECS says the task is {last}"))
                    } else {
                        Verdict::Runs(last.to_owned())
                    }
                }
            };
            (task.clone(), verdict)
        })
        .collect()
}

/// The losses whose defender did not come back: its row is still on the connection that was
/// lost, and disconnected.
async fn still_gone(db: &sqlx::SqlitePool, due: Vec<Lost>) -> Result<Vec<Lost>> {
    let ids: Vec<i64> = due.iter().map(|lost| lost.defender_id).collect();
    let ids = serde_json::to_string(&ids).context("looking at silent defenders")?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", connection FROM defenders
           WHERE id IN (SELECT value FROM json_each(?)) AND disconnected_at IS NOT NULL"#,
        ids
    )
    .fetch_all(db)
    .await
    .context("looking at silent defenders")?;
    let rows: HashMap<i64, String> = rows
        .into_iter()
        .map(|row| (row.id, row.connection))
        .collect();
    Ok(due
        .into_iter()
        .filter(|lost| rows.get(&lost.defender_id) == Some(&lost.connection))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_answers_tell_running_tasks_from_stopped_and_unknown_ones() {
        let tasks = [
            "arn:t/1".to_owned(),
            "arn:t/2".to_owned(),
            "arn:t/3".to_owned(),
        ];
        let answer = serde_json::json!({"tasks": [
            {"taskArn": "arn:t/1", "lastStatus": "RUNNING", "desiredStatus": "RUNNING"},
            {"taskArn": "arn:t/2", "lastStatus": "RUNNING", "desiredStatus": "STOPPED"}
        ], "failures": [{"arn": "arn:t/3", "reason": "MISSING"}]});
        let verdicts = read_answer(&tasks, Ok(Ok(answer)));
        assert_eq!(verdicts[0].1, Verdict::Runs("RUNNING".into()));
        assert!(matches!(verdicts[1].1, Verdict::Gone(_)));
        assert!(matches!(verdicts[2].1, Verdict::Gone(_)));
    }

    #[test]
    fn the_queue_hands_out_only_losses_whose_grace_ended() {
        let queue = SilentQueue::default();
        for at in [10, 20, 30] {
            queue.push(Lost {
                defender_id: at,
                connection: "c".into(),
                instance: "i".into(),
                family: "f".into(),
                task_arn: "t".into(),
                cluster: String::new(),
                how: "reset".into(),
                at,
            });
        }
        let due: Vec<i64> = queue.due(20).iter().map(|lost| lost.at).collect();
        assert_eq!(due, [10, 20]);
        assert_eq!(queue.due(25), []);
        assert_eq!(queue.due(30).len(), 1);
    }
}
