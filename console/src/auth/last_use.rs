//! When each pipeline token, defender token and session was last used, noted in memory on the
//! request path and written in batches (one transaction for all, every few seconds and when the
//! console stops): checking a credential must never wait for SQLite's write lock, which a flood
//! of defender events can hold (a pipeline's request answered 500 "database is locked" when each
//! one wrote its token's last use). A crash loses at most the last few seconds of "last used".

use crate::clock::UnixMs;
use crate::error::{Context, Result};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often what was noted is written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What was used since the last write, by id: the newest time each.
#[derive(Default)]
pub struct LastUse {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    api_tokens: HashMap<i64, UnixMs>,
    defender_tokens: HashMap<i64, UnixMs>,
    sessions: HashMap<i64, UnixMs>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.api_tokens.is_empty() && self.defender_tokens.is_empty() && self.sessions.is_empty()
    }

    /// Adds `other`'s uses, keeping the newest time of each.
    fn merge(&mut self, other: Pending) {
        for (mine, theirs) in [
            (&mut self.api_tokens, other.api_tokens),
            (&mut self.defender_tokens, other.defender_tokens),
            (&mut self.sessions, other.sessions),
        ] {
            for (id, at) in theirs {
                let newest = mine.entry(id).or_insert(at);
                *newest = (*newest).max(at);
            }
        }
    }
}

fn rows(used: &HashMap<i64, UnixMs>) -> Result<String> {
    let rows: Vec<(i64, UnixMs)> = used.iter().map(|(id, at)| (*id, *at)).collect();
    serde_json::to_string(&rows).context("noting what was used")
}

impl LastUse {
    pub fn api_token(&self, id: i64, at: UnixMs) {
        crate::lock(&self.pending).api_tokens.insert(id, at);
    }

    pub fn defender_token(&self, id: i64, at: UnixMs) {
        crate::lock(&self.pending).defender_tokens.insert(id, at);
    }

    pub fn session(&self, id: i64, at: UnixMs) {
        crate::lock(&self.pending).sessions.insert(id, at);
    }

    /// Writes what was noted, in one transaction (a few statements whatever the count). What a
    /// failed write held is noted again, for the next one: a busy database delays "last used", it
    /// never loses it.
    pub async fn flush(&self, db: &SqlitePool) -> Result<()> {
        let pending = std::mem::take(&mut *crate::lock(&self.pending));
        if pending.is_empty() {
            return Ok(());
        }
        let written = write(db, &pending).await;
        if written.is_err() {
            crate::lock(&self.pending).merge(pending);
        }
        written
    }
}

/// One transaction for every use noted.
async fn write(db: &SqlitePool, pending: &Pending) -> Result<()> {
    let (api, defender, sessions) = (
        rows(&pending.api_tokens)?,
        rows(&pending.defender_tokens)?,
        rows(&pending.sessions)?,
    );
    let _turn = crate::db::write_turn().await;
    let mut transaction = crate::db::begin_write(db, "noting what was used").await?;
    sqlx::query!(
        "UPDATE api_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), used.value ->> 1)
             FROM json_each(?) AS used WHERE api_tokens.id = used.value ->> 0",
        api
    )
    .execute(&mut *transaction)
    .await
    .context("noting what was used")?;
    sqlx::query!(
        "UPDATE defender_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), used.value ->> 1)
             FROM json_each(?) AS used WHERE defender_tokens.id = used.value ->> 0",
        defender
    )
    .execute(&mut *transaction)
    .await
    .context("noting what was used")?;
    sqlx::query!(
        "UPDATE sessions SET last_seen_at = MAX(last_seen_at, used.value ->> 1)
             FROM json_each(?) AS used WHERE sessions.id = used.value ->> 0",
        sessions
    )
    .execute(&mut *transaction)
    .await
    .context("noting what was used")?;
    transaction.commit().await.context("noting what was used")
}

/// Writes what was noted every [`FLUSH_EVERY`], until the task is stopped.
pub async fn flush_forever(db: SqlitePool, last_use: std::sync::Arc<LastUse>) {
    let mut ticker = tokio::time::interval(FLUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = last_use.flush(&db).await {
            error.log("noting when credentials were last used");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails (here: a database without the console's tables) keeps what it held for
    /// the next one.
    #[tokio::test]
    async fn a_failed_write_loses_no_use() {
        let last_use = LastUse::default();
        let (_dir, db) = crate::testing::database().await;
        let web = crate::defenders::tokens::create(&db, "web", "")
            .await
            .unwrap();
        let api = crate::defenders::tokens::create(&db, "api", "")
            .await
            .unwrap();
        last_use.defender_token(web.id, 1_000);

        let broken = SqlitePool::connect("sqlite::memory:").await.unwrap();
        assert!(last_use.flush(&broken).await.is_err());
        last_use.defender_token(api.id, 2_000);
        last_use.flush(&db).await.unwrap();

        let used = |id: i64, tokens: &[crate::defenders::tokens::TokenView]| {
            tokens.iter().find(|t| t.id == id).unwrap().last_used_at
        };
        let listed = crate::defenders::tokens::list(&db).await.unwrap();
        assert_eq!(
            used(web.id, &listed),
            Some(1_000),
            "kept through the failure"
        );
        assert_eq!(used(api.id, &listed), Some(2_000));
    }
}
