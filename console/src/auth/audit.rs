//! The audit log: who did what, when, from where, and how it ended. Sign-ins and their failures,
//! users, tokens, settings, registries, generations, registrations and imports.

use crate::clock::now_ms;
use crate::error::{Context, Result};
use sqlx::SqlitePool;

/// One thing done, as it is recorded (and as every front end lists it).
pub use palisade_types::people::AuditEntry;

/// What happened, to be recorded.
#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub address: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
}

/// Longest target or outcome kept (a pasted value must not fill the log).
const MAX_FIELD_CHARS: usize = 500;

fn bounded(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

/// Records `event` now.
pub async fn record(db: &SqlitePool, event: Event<'_>) -> Result<()> {
    let now = now_ms();
    let (actor, address, action) = (
        bounded(event.actor),
        bounded(event.address),
        bounded(event.action),
    );
    let (target, outcome) = (bounded(event.target), bounded(event.outcome));
    let _turn = crate::db::write_turn().await;
    sqlx::query!(
        "INSERT INTO audit (at, actor, address, action, target, outcome) VALUES (?, ?, ?, ?, ?, ?)",
        now,
        actor,
        address,
        action,
        target,
        outcome
    )
    .execute(db)
    .await
    .context("recording in the audit log")?;
    Ok(())
}

/// The newest `limit` entries, newest first, older than entry `before` when given (for paging).
pub async fn list(db: &SqlitePool, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>> {
    let before = before.unwrap_or(i64::MAX);
    sqlx::query_as!(
        AuditEntry,
        r#"SELECT id AS "id!", at, actor, address, action, target, outcome FROM audit
           WHERE id < ? ORDER BY id DESC LIMIT ?"#,
        before,
        limit
    )
    .fetch_all(db)
    .await
    .context("reading the audit log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_are_kept_newest_first_and_bounded() {
        let (_dir, db) = crate::testing::database().await;
        for action in ["sign-in", "token-create", "generate"] {
            record(
                &db,
                Event {
                    actor: "alice",
                    address: "127.0.0.1",
                    action,
                    target: &"x".repeat(10_000),
                    outcome: "ok",
                },
            )
            .await
            .unwrap();
        }
        let entries = list(&db, 2, None).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["generate", "token-create"]);
        assert_eq!(entries[0].target.len(), MAX_FIELD_CHARS);
        let older = list(&db, 10, Some(entries[1].id)).await.unwrap();
        assert_eq!(older.len(), 1);
        assert_eq!(older[0].action, "sign-in");
    }
}
