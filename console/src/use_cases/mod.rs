//! The console's one door: every use-case a person, a pipeline or the console's host starts is a
//! method here, grouped by area (`console.users()`, `.api_tokens()`, `.defender_tokens()`,
//! `.registries()`, `.settings()`, `.generations()`, `.imports()`, `.defenders()`,
//! `.policies()`, `.incidents()`, `.audit_log()`). Each takes the acting [`Actor`] and writes its own audit entry, so the server
//! functions, the REST handlers and the CLI only decode a request, call one method and encode its
//! answer, and a change is audited the same way whichever front end made it.

mod defenders;
mod generations;
mod incidents;
mod people;
mod policies;
mod settings;

pub use defenders::{DefenderTokens, Defenders, NewDefenderToken, TokenKept};
pub use generations::{Generations, Imports};
pub use incidents::{IncidentFull, Incidents};
pub use people::{ApiTokens, AuditLog, UserChange, Users};
pub use policies::{Policies, MAX_LEARNING_MINUTES};
pub use settings::{Registries, RegistryChange, Settings};

use crate::auth::{Principal, Role};
use crate::{Console, Result};

/// Who acts through the console, and from where: what the audit log records as "who" and "from".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The person or pipeline signed in; `None` for nobody (a sign-in attempt) or the host.
    pub principal: Option<Principal>,
    /// The client's address; empty on the console's host.
    pub address: String,
    /// On the console's host (the CLI): who is at the terminal.
    host_user: Option<String>,
}

impl Actor {
    /// Whoever a request came from: `principal` (or nobody signed in) at `address`.
    pub fn remote(principal: Option<Principal>, address: impl Into<String>) -> Actor {
        Actor {
            principal,
            address: address.into(),
            host_user: None,
        }
    }

    /// The person at a terminal of the console's host (the CLI): they hold its database, so
    /// they may do what an admin may; the audit log names them `cli (<login>)`.
    pub fn host() -> Actor {
        Actor {
            principal: None,
            address: String::new(),
            host_user: Some(std::env::var("USER").unwrap_or_default()),
        }
    }

    /// How the audit log and the registrations name them: the username, `token 3 (ci)`,
    /// `cli (root)`, or `-` for nobody signed in.
    pub fn name(&self) -> String {
        match (&self.principal, &self.host_user) {
            (Some(principal), _) => principal.name(),
            (None, Some(user)) if user.is_empty() => "cli".into(),
            (None, Some(user)) => format!("cli ({user})"),
            (None, None) => "-".into(),
        }
    }

    /// What they may do: the principal's role, admin on the host, nothing for nobody.
    pub fn role(&self) -> Option<Role> {
        match (&self.principal, &self.host_user) {
            (Some(principal), _) => Some(principal.role),
            (None, Some(_)) => Some(Role::Admin),
            (None, None) => None,
        }
    }
}

impl Console {
    /// Records in the audit log what `actor` did to `target` and how it ended. A failure to
    /// record is logged loudly; it does not undo what was done.
    pub(crate) async fn audit(&self, actor: &Actor, action: &str, target: &str, outcome: &str) {
        let event = crate::auth::audit::Event {
            actor: &actor.name(),
            address: &actor.address,
            action,
            target,
            outcome,
        };
        if let Err(error) = crate::auth::audit::record(&self.db, event).await {
            error.log("recording in the audit log");
        }
    }

    /// Records what `actor` did and how it ended (`ok`, or the error's public message, the same
    /// words and internal-error id the caller is shown), and hands the result back.
    pub(crate) async fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        result: Result<T>,
    ) -> Result<T> {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(error) => error.public_message(),
        };
        self.audit(actor, action, target, &outcome).await;
        result
    }

    /// Local accounts.
    pub fn users(&self) -> Users<'_> {
        Users { console: self }
    }

    /// Pipeline tokens (REST callers).
    pub fn api_tokens(&self) -> ApiTokens<'_> {
        ApiTokens { console: self }
    }

    /// The audit log.
    pub fn audit_log(&self) -> AuditLog<'_> {
        AuditLog { console: self }
    }

    /// Defender tokens (one family each).
    pub fn defender_tokens(&self) -> DefenderTokens<'_> {
        DefenderTokens { console: self }
    }

    /// The defenders that connected, their timelines, and their upkeep.
    pub fn defenders(&self) -> Defenders<'_> {
        Defenders { console: self }
    }

    /// How the console reaches image registries.
    pub fn registries(&self) -> Registries<'_> {
        Registries { console: self }
    }

    /// The console's AWS settings and its published defender image.
    pub fn settings(&self) -> Settings<'_> {
        Settings { console: self }
    }

    /// Task definitions read from ECS, to protect.
    pub fn imports(&self) -> Imports<'_> {
        Imports { console: self }
    }

    /// Generate, its history, and registering its results on ECS.
    pub fn generations(&self) -> Generations<'_> {
        Generations { console: self }
    }

    /// Families' runtime-defense policies and learned models.
    pub fn policies(&self) -> Policies<'_> {
        Policies { console: self }
    }

    /// Alerts grouped into incidents, and their states.
    pub fn incidents(&self) -> Incidents<'_> {
        Incidents { console: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Who;

    #[test]
    fn the_audit_log_names_each_kind_of_actor() {
        let person = Principal {
            who: Who::User {
                id: 1,
                username: "ada".into(),
            },
            role: Role::Operator,
        };
        assert_eq!(Actor::remote(Some(person), "10.0.0.1").name(), "ada");
        assert_eq!(Actor::remote(None, "10.0.0.1").name(), "-");
        assert_eq!(Actor::remote(None, "10.0.0.1").role(), None);
        let host = Actor::host();
        assert!(host.name().starts_with("cli"), "{}", host.name());
        assert_eq!(host.role(), Some(Role::Admin));
        assert_eq!(host.address, "");
    }
}
