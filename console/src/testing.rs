//! For the unit tests of the SQL: a fresh database file per test, migrated like the console's.

use sqlx::SqlitePool;

/// A new SQLite file in its own directory (kept while the `TempDir` lives), migrated.
pub async fn database() -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("console.db").display());
    let db = crate::db::connect(&url).await.expect("a migrated database");
    (dir, db)
}
