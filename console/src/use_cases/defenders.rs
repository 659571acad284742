//! Defenders: the tokens they connect with, what they reported, and their upkeep.

use super::Actor;
use crate::defenders::events::TimelineEvent;
use crate::defenders::presence::{self, Swept};
use crate::defenders::recorder::{Recorder, StorageBounds};
use crate::defenders::tokens::{self, CreatedToken, TokenView};
use crate::defenders::{self as store, Defender, DefenderPage, DefenderQuery};
use crate::{aws, Console, Error, Result, Upstream};

/// Defender tokens (`console.defender_tokens()`).
pub struct DefenderTokens<'c> {
    pub(super) console: &'c Console,
}

/// Where a new defender token is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKept {
    /// Nowhere: it is answered once, for the caller to put where the task reads it.
    Shown,
    /// In Secrets Manager (`palisade/defender-token/<family>`, the saved AWS settings); the
    /// task is given the secret's ARN.
    SecretsManager,
}

/// A defender token just made, and the secret holding it when it went to Secrets Manager.
#[derive(Debug)]
pub struct NewDefenderToken {
    pub created: CreatedToken,
    pub secret_arn: Option<String>,
}

impl DefenderTokens<'_> {
    /// The tokens, newest first, never their values.
    pub async fn list(&self) -> Result<Vec<TokenView>> {
        tokens::list(&self.console.db).await
    }

    /// A new token for `family`, kept where `kept` says. A token that cannot be stored in
    /// Secrets Manager is revoked at once and the creation refused.
    pub async fn create(
        &self,
        actor: &Actor,
        family: &str,
        label: &str,
        kept: TokenKept,
    ) -> Result<NewDefenderToken> {
        let created = self.create_kept(family, label, kept).await;
        let target = match (&created, kept) {
            (Ok(new), _) => format!("{family} (token {})", new.created.id),
            (Err(_), TokenKept::SecretsManager) => format!("{family} (in Secrets Manager)"),
            (Err(_), TokenKept::Shown) => family.to_owned(),
        };
        self.console
            .audited(actor, "defender-token-create", &target, created)
            .await
    }

    async fn create_kept(
        &self,
        family: &str,
        label: &str,
        kept: TokenKept,
    ) -> Result<NewDefenderToken> {
        let console = self.console;
        let created = tokens::create(&console.db, family, label).await?;
        if kept == TokenKept::Shown {
            return Ok(NewDefenderToken {
                created,
                secret_arn: None,
            });
        }
        let settings = console.aws_settings().await?;
        match aws::secrets::store_token(&console.aws, &settings, &created.family, &created.token)
            .await
        {
            Ok(arn) => Ok(NewDefenderToken {
                created,
                secret_arn: Some(arn),
            }),
            Err(upstream) => {
                tokens::revoke(&console.db, created.id).await?;
                Err(Error::Upstream(Upstream {
                    message: format!(
                        "the token could not be stored in Secrets Manager ({}); it was revoked",
                        upstream.message
                    ),
                    ..upstream
                }))
            }
        }
    }

    /// Revokes a token: defenders using it are refused from their next connection, and the
    /// ones connected with it are closed within a second.
    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<()> {
        let revoked = tokens::revoke(&self.console.db, id).await;
        self.console
            .audited(
                actor,
                "defender-token-revoke",
                &format!("token {id}"),
                revoked,
            )
            .await
    }

    /// Revokes every active token of `family` (its token leaked, or the family is retired): its
    /// defenders are refused from their next connection and the connected ones are closed within
    /// a second. Answers how many were revoked; one audit entry says which family and how many.
    pub async fn revoke_family(&self, actor: &Actor, family: &str) -> Result<usize> {
        let revoked = async {
            tokens::check_family(family)?;
            let active: Vec<i64> = tokens::list(&self.console.db)
                .await?
                .into_iter()
                .filter(|token| token.family == family && token.revoked_at.is_none())
                .map(|token| token.id)
                .collect();
            for id in &active {
                tokens::revoke(&self.console.db, *id).await?;
            }
            Ok(active.len())
        }
        .await;
        let target = match &revoked {
            Ok(count) => format!("{family} ({count} tokens)"),
            Err(_) => family.to_owned(),
        };
        self.console
            .audited(actor, "defender-token-revoke-family", &target, revoked)
            .await
    }

    /// Which of `ids` (tokens with live connections) are revoked now.
    pub async fn revoked_among(&self, ids: &[i64]) -> Result<Vec<i64>> {
        tokens::revoked_among(&self.console.db, ids).await
    }
}

/// The defenders that connected (`console.defenders()`).
pub struct Defenders<'c> {
    pub(super) console: &'c Console,
}

impl Defenders<'_> {
    /// One page of defenders as `query` asks.
    pub async fn list(&self, query: &DefenderQuery) -> Result<DefenderPage> {
        store::list(&self.console.db, query).await
    }

    /// Every defender `query` matches (no paging), for an export.
    pub async fn export(&self, query: &DefenderQuery) -> Result<Vec<Defender>> {
        store::export(&self.console.db, query).await
    }

    /// One defender and its newest `events` timeline entries.
    pub async fn get(&self, id: i64, events: i64) -> Result<(Defender, Vec<TimelineEvent>)> {
        store::get(&self.console.db, id, events).await
    }

    /// Starts the one writer of what defenders send (hellos, heartbeats, events), keeping
    /// within `bounds`: alerts are grouped into incidents, learning families learn; open
    /// dashboards hear of each change.
    pub fn start_recorder(&self, bounds: StorageBounds) -> Recorder {
        Recorder::start_learning(
            self.console.db.clone(),
            bounds,
            self.console.defender_changes().clone(),
            Some(self.console.runtime.clone()),
        )
    }

    /// Marks defenders silent for `silent_ms` disconnected and removes those disconnected for
    /// more than `retention_ms`; open dashboards hear of it.
    pub async fn sweep(&self, silent_ms: i64, retention_ms: i64) -> Result<Swept> {
        let swept = presence::sweep(&self.console.db, silent_ms, retention_ms).await?;
        if swept != Swept::default() {
            tracing::info!(
                marked = swept.marked,
                removed = swept.removed,
                "defenders swept"
            );
            self.console.defender_changes().changed();
        }
        Ok(swept)
    }
}
