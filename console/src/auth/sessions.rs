//! Sessions of people signed in: a random token in an `HttpOnly` cookie, only its SHA-256 kept
//! here. A session ends when idle for too long, at its absolute lifetime, at sign-out, or when its
//! user's password changes or the user is removed.

use super::{new_secret, Principal, Role, Who};
use crate::clock::{millis, now_ms};
use crate::error::{Context, Error, Result};
use crate::text::sha256_hex;
use sqlx::SqlitePool;
use std::time::Duration;

/// How long sessions last.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// `last_seen_at` is noted at most this often per session (and written in batches: see
/// [`super::last_use`]).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A session just opened: the cookie's value, and when it ends at the latest.
pub struct NewSession {
    pub token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the cookie's value in debug output or logs.
        f.debug_struct("NewSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Opens a session for user `user_id`, signed in from `address`.
pub async fn open(
    db: &SqlitePool,
    user_id: i64,
    address: &str,
    policy: SessionPolicy,
) -> Result<NewSession> {
    let token = new_secret("pls_")?;
    let digest = sha256_hex(&token);
    let now = now_ms();
    let expires_at = now.saturating_add(millis(policy.absolute));
    let _turn = crate::db::write_turn().await;
    sqlx::query!(
        "INSERT INTO sessions (token_sha256, user_id, created_at, last_seen_at, expires_at, address) VALUES (?, ?, ?, ?, ?, ?)",
        digest,
        user_id,
        now,
        now,
        expires_at,
        address
    )
    .execute(db)
    .await
    .context("opening a session")?;
    Ok(NewSession { token, expires_at })
}

/// The person behind session `token`, when it is open and has not been idle too long. Their role
/// is read now, so a change applies to open sessions at once.
pub async fn authenticate(
    db: &SqlitePool,
    last_use: &super::last_use::LastUse,
    token: &str,
    policy: SessionPolicy,
) -> Result<Option<Principal>> {
    let digest = sha256_hex(token);
    let now = now_ms();
    let idle_since = now.saturating_sub(millis(policy.idle));
    let Some(row) = sqlx::query!(
        r#"SELECT sessions.id AS "session_id!", sessions.last_seen_at, users.id AS "user_id!", users.username, users.role
           FROM sessions JOIN users ON users.id = sessions.user_id
           WHERE sessions.token_sha256 = ? AND sessions.expires_at > ? AND sessions.last_seen_at > ?"#,
        digest,
        now,
        idle_since
    )
    .fetch_optional(db)
    .await
    .context("checking a session")?
    else {
        return Ok(None);
    };
    if now - row.last_seen_at >= TOUCH_EVERY_MS {
        last_use.session(row.session_id, now);
    }
    let role = Role::parse(&row.role)
        .map_err(|error| Error::internal("reading a user", error.to_string()))?;
    Ok(Some(Principal {
        who: Who::User {
            id: row.user_id,
            username: row.username,
        },
        role,
    }))
}

/// Sign-out: the session ends.
pub async fn end(db: &SqlitePool, token: &str) -> Result<()> {
    let digest = sha256_hex(token);
    let _turn = crate::db::write_turn().await;
    sqlx::query!("DELETE FROM sessions WHERE token_sha256 = ?", digest)
        .execute(db)
        .await
        .context("ending a session")?;
    Ok(())
}

/// Every session of a user ends (a new password, a role taken away).
pub async fn end_all_of(db: &SqlitePool, user_id: i64) -> Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE user_id = ?", user_id)
        .execute(db)
        .await
        .context("ending sessions")?;
    Ok(())
}

/// Removes sessions that ended (expired or idle); answers how many.
pub async fn sweep(db: &SqlitePool, policy: SessionPolicy) -> Result<u64> {
    let now = now_ms();
    let idle_since = now.saturating_sub(millis(policy.idle));
    let removed = sqlx::query!(
        "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?",
        now,
        idle_since
    )
    .execute(db)
    .await
    .context("removing ended sessions")?
    .rows_affected();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::last_use::LastUse;
    use crate::auth::users;

    #[tokio::test]
    async fn a_session_ends_when_idle_at_its_lifetime_or_at_sign_out() {
        let (_dir, db) = crate::testing::database().await;
        let user = users::create(&db, "alice", "correct horse battery", Role::Operator)
            .await
            .unwrap();
        let policy = SessionPolicy::default();
        let session = open(&db, user.id, "127.0.0.1", policy).await.unwrap();
        assert!(session.token.starts_with("pls_") && session.token.len() == 68);
        let principal = authenticate(&db, &LastUse::default(), &session.token, policy)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (principal.name(), principal.role),
            ("alice".into(), Role::Operator)
        );
        assert_eq!(
            authenticate(&db, &LastUse::default(), "pls_nope", policy)
                .await
                .unwrap(),
            None
        );
        let stored: String = sqlx::query_scalar("SELECT token_sha256 FROM sessions")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(
            stored,
            sha256_hex(&session.token),
            "only the digest is kept"
        );

        // Idle past the limit: over, even before its absolute end.
        sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 31 * 60 * 1000")
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(
            authenticate(&db, &LastUse::default(), &session.token, policy)
                .await
                .unwrap(),
            None
        );

        // Past its absolute end: over, however recently used.
        let session = open(&db, user.id, "127.0.0.1", policy).await.unwrap();
        sqlx::query("UPDATE sessions SET expires_at = ? WHERE token_sha256 = ?")
            .bind(now_ms() - 1)
            .bind(sha256_hex(&session.token))
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(
            authenticate(&db, &LastUse::default(), &session.token, policy)
                .await
                .unwrap(),
            None
        );
        assert_eq!(sweep(&db, policy).await.unwrap(), 2);

        // Signed out, or the password changed: over.
        let session = open(&db, user.id, "127.0.0.1", policy).await.unwrap();
        end(&db, &session.token).await.unwrap();
        assert_eq!(
            authenticate(&db, &LastUse::default(), &session.token, policy)
                .await
                .unwrap(),
            None
        );
        let session = open(&db, user.id, "127.0.0.1", policy).await.unwrap();
        users::set_password(&db, "alice", "a new long password")
            .await
            .unwrap();
        assert_eq!(
            authenticate(&db, &LastUse::default(), &session.token, policy)
                .await
                .unwrap(),
            None
        );

        // A new role applies to a running session; a removed account's sessions are gone.
        let session = open(&db, user.id, "127.0.0.1", policy).await.unwrap();
        users::set_role(&db, "alice", Role::Viewer).await.unwrap();
        let principal = authenticate(&db, &LastUse::default(), &session.token, policy)
            .await
            .unwrap();
        assert_eq!(principal.map(|p| p.role), Some(Role::Viewer));
        users::create(&db, "root", "correct horse battery", Role::Admin)
            .await
            .unwrap();
        users::remove(&db, "alice").await.unwrap();
        assert_eq!(
            authenticate(&db, &LastUse::default(), &session.token, policy)
                .await
                .unwrap(),
            None
        );
    }
}
