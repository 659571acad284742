//! The console's SQLite database: opened in WAL mode, created if missing, migrated at start.

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::str::FromStr;

/// Opens (creating it if needed) and migrates the database at `url` (`sqlite://path`).
pub async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("reading the database URL `{url}`"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database `{url}`"))?;
    sqlx::migrate!("../migrations")
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}
