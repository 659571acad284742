//! Defender tokens: one family each, so a leaked task definition only exposes its own family.
//! Only a token's SHA-256 is stored (tokens are 256 random bits: no salt or slow hash needed).

use crate::clock::now_ms;
use crate::error::{Context, Error, Result};
use crate::text::{random_hex, sha256_hex};
use palisade_taskdef::validate::is_valid_name;
use sqlx::SqlitePool;

/// A token just created: the only time its value exists outside the task that uses it. Every
/// front end shows it as it is.
pub use palisade_types::settings::CreatedToken;

/// A token as listed (never its value), as every front end shows it.
pub use palisade_types::settings::TokenView;

/// Who a presented token lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: i64,
    pub family: String,
}

/// `family` as ECS allows it, or how to fix it.
pub fn check_family(family: &str) -> Result<()> {
    if is_valid_name(family) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "`{family}` is not a task definition family (1 to 255 letters, digits, - and _)"
        )))
    }
}

/// A new token for `family`: `pal_` and 256 random bits in hex.
#[tracing::instrument(skip(db))]
pub async fn create(db: &SqlitePool, family: &str, label: &str) -> Result<CreatedToken> {
    let family = family.trim();
    let label = label.trim();
    check_family(family)?;
    let token = format!(
        "pal_{}",
        random_hex(32).map_err(|error| Error::internal("making a token", error.to_string()))?
    );
    let digest = sha256_hex(&token);
    let created_at = now_ms();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO defender_tokens (family, token_sha256, created_at, label) VALUES (?, ?, ?, ?) RETURNING id AS "id!""#,
        family,
        digest,
        created_at,
        label
    )
    .fetch_one(db)
    .await
    .context("creating a token")?;
    Ok(CreatedToken {
        id,
        family: family.to_owned(),
        token,
    })
}

/// The grant of `token` when it exists and is not revoked. One indexed read and no write, whoever
/// sends it how often: when it was used is noted by the caller ([`crate::Console::defender_token`]).
pub async fn authenticate(db: &SqlitePool, token: &str) -> Result<Option<TokenGrant>> {
    let digest = sha256_hex(token);
    let found = sqlx::query!(
        r#"SELECT id AS "id!", family FROM defender_tokens WHERE token_sha256 = ? AND revoked_at IS NULL"#,
        digest
    )
    .fetch_optional(db)
    .await
    .context("checking a defender token")?;
    Ok(found.map(|found| TokenGrant {
        token_id: found.id,
        family: found.family,
    }))
}

/// Which of `ids` are revoked now.
pub async fn revoked_among(db: &SqlitePool, ids: &[i64]) -> Result<Vec<i64>> {
    let ids = serde_json::to_string(ids).context("looking for revoked tokens")?;
    sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM defender_tokens WHERE revoked_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))"#,
        ids
    )
    .fetch_all(db)
    .await
    .context("looking for revoked tokens")
}

/// Revokes an active token: defenders using it are refused from their next connection.
#[tracing::instrument(skip(db))]
pub async fn revoke(db: &SqlitePool, id: i64) -> Result<()> {
    let now = now_ms();
    let done = sqlx::query!(
        "UPDATE defender_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        now,
        id
    )
    .execute(db)
    .await
    .context("revoking a token")?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("token {id} is not active")));
    }
    Ok(())
}

/// Every token, newest first.
#[tracing::instrument(skip_all)]
pub async fn list(db: &SqlitePool) -> Result<Vec<TokenView>> {
    sqlx::query_as!(
        TokenView,
        r#"SELECT id AS "id!", family, label, created_at, revoked_at, last_used_at FROM defender_tokens ORDER BY id DESC"#
    )
    .fetch_all(db)
    .await
    .context("listing the tokens")
}
