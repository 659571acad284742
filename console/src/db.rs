//! The console's SQLite database: opened in WAL mode, created when missing, migrated at open.
//! Every query lives in the domain module that owns its table and is checked at compile time
//! (`sqlx::query!`, offline data in `console/.sqlx/`).

use crate::error::{Context, Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The migrations, embedded at compile time (`console/build.rs` rebuilds when they change).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens (creating it if needed) and migrates the database at `url` (`sqlite://path`).
pub async fn connect(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|error| {
            Error::invalid(format!(
                "`{url}` is not a SQLite database URL like sqlite://palisade.db: {error}"
            ))
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let file = options.get_filename();
    if !file.as_os_str().is_empty() && file != Path::new(":memory:") {
        owner_only(file).map_err(|source| {
            Error::internal("making the database readable by its owner only", source)
        })?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .context("opening the database")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}

/// Writers take turns here, first come first served, before they ask SQLite for its write lock.
/// SQLite itself has no queue: a writer that finds the lock taken sleeps and tries again (its
/// busy handler), so the defenders' writer, which starts its next transaction the moment the
/// last one commits, could keep a person's sign-in waiting for seconds under a flood of events.
/// The writes on a person's path (sign-in, sessions, the audit log) and each of the defenders'
/// transactions take a turn; a turn is never held while waiting for another.
static WRITE_TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

tokio::task_local! {
    /// Set while a task runs several writes in one turn ([`in_one_turn`]).
    static IN_A_TURN: ();
}

/// This writer's turn (see [`WRITE_TURNS`]); write while holding it, then drop it. Inside
/// [`in_one_turn`] the turn is already held: nothing to wait for.
pub async fn write_turn() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if IN_A_TURN.try_with(|_| ()).is_ok() {
        return None;
    }
    Some(WRITE_TURNS.lock().await)
}

/// Runs `writes` (several short writes on a person's path, a sign-in's) in one turn: they do not
/// each wait behind another writer's transaction.
pub async fn in_one_turn<F: std::future::Future>(writes: F) -> F::Output {
    let _turn = write_turn().await;
    IN_A_TURN.scope((), writes).await
}

/// A transaction that holds the write lock from its first statement (`BEGIN IMMEDIATE`), for work
/// that reads and then writes: SQLite's busy timeout applies to taking the lock at BEGIN, while a
/// deferred transaction that read first fails at once with SQLITE_BUSY when another connection
/// writes, and two of them could each decide on a state the other is changing.
pub async fn begin_write(
    db: &SqlitePool,
    context: &'static str,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    db.begin_with("BEGIN IMMEDIATE").await.context(context)
}

/// Creates the database file `0600` before SQLite opens it (its `-wal` and `-shm` files take the
/// main file's mode), and narrows a file (or its companions) that others could read: it holds
/// password hashes, token hashes and pasted task definitions.
fn owner_only(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let path = Path::new(&path);
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                tracing::warn!(file = %path.display(), "the database was readable by others: now 0600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_database_and_its_companions_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("console.db");
        let db = connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE probe (x)")
            .execute(&db)
            .await
            .unwrap();
        let mode = |suffix: &str| {
            let path = dir.path().join(format!("console.db{suffix}"));
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        };
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(suffix), 0o600, "console.db{suffix}");
        }
        db.close().await;
        // A file made readable by others (a copy, a restore) is narrowed at the next start.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        assert_eq!(mode(""), 0o600);
    }
    use sqlx::migrate::Migrator;
    use std::borrow::Cow;

    #[tokio::test]
    async fn an_older_database_keeps_its_history_through_the_migrations() {
        // A database as the console before Unix-millisecond times left it: migrations 1 to 7.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let db = SqlitePool::connect_with(options).await.unwrap();
        let before = Migrator {
            migrations: Cow::Owned(MIGRATOR.iter().take(7).cloned().collect()),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        before.run(&db).await.unwrap();
        let response = serde_json::json!({
            "output": "{}", "family": "web", "download_name": "web-protected.json", "problems": [],
            "summary": ["added container palisade-defender"], "diff": [], "generation_id": null,
            "warnings": ["a warning", "token 3 was created for family web and embedded"],
            "containers": [{"name": "web", "image": "nginx", "protect": true, "reason": null,
                            "needs_image_argv": false, "has_command": false,
                            "argv_source": null, "argv_error": null}],
        });
        sqlx::query(
            "INSERT INTO generations (created_at, family, input_form, containers_protected, summary, options, input, output, response)
             VALUES ('2026-11-22T10:11:12.123456789Z', 'web', 'task_definition', '[\"web\"]', '[\"added container palisade-defender\"]', '{}',
                     '{\"family\": \"web\", \"containerDefinitions\": []}', '{}', ?)",
        )
        .bind(response.to_string())
        .execute(&db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO registrations (created_at, generation_id, idempotency_key, registered_by, family, input_sha256, output_sha256, status)
             VALUES ('2026-11-22T10:11:13Z', 1, 'generation:1', 'console', 'web', 'a', 'b', 'registered')",
        )
        .execute(&db)
        .await
        .unwrap();
        db.close().await;

        // Opened by this console: migrated, nothing lost.
        let db = connect(&url).await.unwrap();
        let generation = crate::generations::get(&db, 1).await.unwrap();
        assert_eq!(generation.item.created_at, 1_795_342_272_123);
        assert_eq!(
            generation.item.summary,
            ["added container palisade-defender"]
        );
        let warnings: Vec<String> = generation
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            warnings,
            [
                "a warning",
                "token 3 was created for family web and embedded"
            ]
        );
        assert_eq!(generation.containers[0].name, "web");
        assert!(generation.containers[0].protect);
        assert!(
            generation.normalized.contains("\"family\": \"web\""),
            "made again from the input: {}",
            generation.normalized
        );
        let registrations = crate::registrations::list(&db, 10).await.unwrap();
        assert_eq!(registrations[0].created_at, 1_795_342_273_000);
        assert_eq!(registrations[0].generation_id, Some(1));
    }
}

#[cfg(test)]
mod offline_data {
    use sqlx::{Column, Executor};

    /// `console/.sqlx/`, read at run time (a test binary built by another clone must not read that
    /// clone's copy).
    fn offline_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join(".sqlx")
    }

    #[tokio::test]
    async fn the_offline_query_data_matches_the_migrations() {
        // The build checks queries against console/.sqlx/; this checks that data against what the
        // migrations make now, so a migration without `scripts/sqlx-prepare` fails here.
        let (_dir, db) = crate::testing::database().await;
        let mut checked = 0;
        for entry in std::fs::read_dir(offline_dir()).unwrap() {
            let path = entry.unwrap().path();
            let saved: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let query = saved["query"].as_str().unwrap();
            let described = (&db)
                .describe(query)
                .await
                .unwrap_or_else(|error| panic!("{}: {error}\n{query}", path.display()));
            // What the macros rely on: each column's name, type and nullability, and the number
            // of parameters. (The describe type has no serde outside the macros; its Debug says
            // `SqliteTypeInfo(Integer)` where the saved data says `Integer`.)
            let columns: Vec<serde_json::Value> = described
                .columns()
                .iter()
                .map(|column| {
                    let type_info = format!("{:?}", column.type_info());
                    serde_json::json!({
                        "name": column.name(),
                        "ordinal": column.ordinal(),
                        "type_info": type_info
                            .trim_start_matches("SqliteTypeInfo(")
                            .trim_end_matches(')'),
                    })
                })
                .collect();
            let nullable: Vec<Option<bool>> = (0..columns.len())
                .map(|index| described.nullable(index))
                .collect();
            let parameters = match described.parameters() {
                Some(sqlx::Either::Right(count)) => serde_json::json!({ "Right": count }),
                Some(sqlx::Either::Left(types)) => serde_json::json!({ "Left": types.len() }),
                None => serde_json::Value::Null,
            };
            let stale = format!(
                "{} is stale: run scripts/sqlx-prepare\n{query}",
                path.display()
            );
            assert_eq!(
                serde_json::json!(columns),
                saved["describe"]["columns"],
                "{stale}"
            );
            assert_eq!(
                serde_json::json!(nullable),
                saved["describe"]["nullable"],
                "{stale}"
            );
            assert_eq!(parameters, saved["describe"]["parameters"], "{stale}");
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} queries in console/.sqlx");
    }
}
