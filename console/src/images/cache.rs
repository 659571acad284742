//! Image configs already read, in SQLite: by image reference, platform and the origin that
//! answered (an endpoint's answer is never served for another), with the digest they came from. A digest's answer is kept forever (it cannot change), a tag's for [`TAG_TTL_MS`].

use super::ImageConfig;
use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Result};
use sqlx::SqlitePool;

/// How long a tag's answer is reused.
pub const TAG_TTL_MS: i64 = 10 * 60 * 1000;

fn argv_of(json: Option<String>) -> Result<Option<Vec<String>>> {
    json.map(|text| serde_json::from_str(&text))
        .transpose()
        .context("reading a cached image config")
}

/// The cached config of `image` for `platform` answered by `source`, when there is a fresh one.
pub async fn get(
    db: &SqlitePool,
    image: &str,
    platform: &str,
    source: &str,
) -> Result<Option<ImageConfig>> {
    let row = sqlx::query!(
        "SELECT platform, digest, entrypoint, cmd, resolved_at FROM image_configs
         WHERE image = ? AND platform = ? AND source = ?",
        image,
        platform,
        source
    )
    .fetch_optional(db)
    .await
    .context("reading the image cache")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let resolved_at_ms: UnixMs = row.resolved_at;
    let pinned = image.contains("@sha256:");
    if !pinned && now_ms() - resolved_at_ms >= TAG_TTL_MS {
        return Ok(None);
    }
    Ok(Some(ImageConfig {
        image: image.to_owned(),
        platform: row.platform,
        digest: row.digest,
        entrypoint: argv_of(row.entrypoint)?,
        cmd: argv_of(row.cmd)?,
        resolved_at_ms,
    }))
}

/// Keeps `config` as `source` answered it, replacing an older answer for the same image, platform
/// and source.
pub async fn put(db: &SqlitePool, config: &ImageConfig, source: &str) -> Result<()> {
    let json = |argv: &Option<Vec<String>>| {
        argv.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .context("caching an image config")
    };
    let (entrypoint, cmd) = (json(&config.entrypoint)?, json(&config.cmd)?);
    let _turn = crate::db::write_turn().await;
    sqlx::query!(
        "INSERT INTO image_configs (image, platform, source, digest, entrypoint, cmd, resolved_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (image, platform, source) DO UPDATE SET digest = excluded.digest,
             entrypoint = excluded.entrypoint, cmd = excluded.cmd, resolved_at = excluded.resolved_at",
        config.image,
        config.platform,
        source,
        config.digest,
        entrypoint,
        cmd,
        config.resolved_at_ms
    )
    .execute(db)
    .await
    .context("caching an image config")?;
    Ok(())
}
