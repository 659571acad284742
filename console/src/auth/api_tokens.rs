//! Pipeline tokens: a bearer token with a role, for CI and scripts. Shown once, stored as SHA-256,
//! revocable (refused from the next request on), last use recorded.

use super::{new_secret, Principal, Role, Who};
use crate::clock::now_ms;
use crate::error::{Context, Error, Result};
use crate::text::sha256_hex;
use sqlx::SqlitePool;

/// A pipeline token just created: the only time its value exists outside the pipeline (also
/// the REST answer).
pub use palisade_types::people::CreatedApiToken;

/// A pipeline token as listed (never its value), as every front end shows it.
pub use palisade_types::people::ApiTokenView;

/// A new pipeline token with `role`: `plt_` and 256 random bits in hex.
#[tracing::instrument(skip(db))]
pub async fn create(
    db: &SqlitePool,
    role: Role,
    label: &str,
    created_by: &str,
) -> Result<CreatedApiToken> {
    let label = label.trim();
    if label.chars().count() > 200 {
        return Err(Error::invalid("a token's label has at most 200 characters"));
    }
    let token = new_secret("plt_")?;
    let digest = sha256_hex(&token);
    let now = now_ms();
    let role_name = role.as_str();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO api_tokens (label, role, token_sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id AS "id!""#,
        label,
        role_name,
        digest,
        now,
        created_by
    )
    .fetch_one(db)
    .await
    .context("creating a pipeline token")?;
    Ok(CreatedApiToken {
        id,
        role,
        label: label.to_owned(),
        token,
    })
}

/// The pipeline behind `token`, when it exists and is not revoked. A read only: when it was used
/// is noted by the caller ([`crate::Console::api_token`]).
pub async fn authenticate(db: &SqlitePool, token: &str) -> Result<Option<Principal>> {
    let digest = sha256_hex(token);
    let Some(row) = sqlx::query!(
        r#"SELECT id AS "id!", label, role FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL"#,
        digest
    )
    .fetch_optional(db)
    .await
    .context("checking a pipeline token")?
    else {
        return Ok(None);
    };
    let role = Role::parse(&row.role)
        .map_err(|error| Error::internal("reading a pipeline token", error.to_string()))?;
    Ok(Some(Principal {
        who: Who::ApiToken {
            id: row.id,
            label: row.label,
        },
        role,
    }))
}

/// Revokes an active pipeline token.
#[tracing::instrument(skip(db))]
pub async fn revoke(db: &SqlitePool, id: i64) -> Result<()> {
    let now = now_ms();
    let done = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        now,
        id
    )
    .execute(db)
    .await
    .context("revoking a pipeline token")?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "pipeline token {id} is not active"
        )));
    }
    Ok(())
}

/// Every pipeline token, newest first.
pub async fn list(db: &SqlitePool) -> Result<Vec<ApiTokenView>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", label, role, created_at, created_by, revoked_at, last_used_at
           FROM api_tokens ORDER BY id DESC"#
    )
    .fetch_all(db)
    .await
    .context("listing the pipeline tokens")?;
    rows.into_iter()
        .map(|row| {
            Ok(ApiTokenView {
                role: Role::parse(&row.role).map_err(|error| {
                    Error::internal("reading a pipeline token", error.to_string())
                })?,
                id: row.id,
                label: row.label,
                created_at: row.created_at,
                created_by: row.created_by,
                revoked_at: row.revoked_at,
                last_used_at: row.last_used_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pipeline_token_works_until_revoked() {
        let (_dir, db) = crate::testing::database().await;
        let created = create(&db, Role::Operator, "ci", "admin").await.unwrap();
        assert!(created.token.starts_with("plt_") && created.token.len() == 68);
        assert!(!format!("{created:?}").contains(&created.token));
        let console = crate::Console::with_pool(db.clone());
        let principal = console.api_token(&created.token).await.unwrap().unwrap();
        assert_eq!(principal.role, Role::Operator);
        assert_eq!(principal.name(), format!("token {} (ci)", created.id));
        // Its use is noted in memory, written with the next batch.
        assert_eq!(list(&db).await.unwrap()[0].last_used_at, None);
        console.last_use().flush(&db).await.unwrap();
        let listed = list(&db).await.unwrap();
        assert_eq!(listed[0].created_by, "admin");
        assert!(listed[0].last_used_at.is_some());
        revoke(&db, created.id).await.unwrap();
        assert_eq!(authenticate(&db, &created.token).await.unwrap(), None);
        assert!(matches!(
            revoke(&db, created.id).await,
            Err(Error::NotFound(_))
        ));
    }
}
