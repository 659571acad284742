//! The console's one error type. Its kinds say what the caller can do about a failure; the HTTP
//! status, the server-function error and the CLI exit code are each derived from the kind in one
//! place (`server::http::error`, `app::api`, `server::cli`). Internal causes carry their detail for
//! the log only: [`Error::public_message`] logs them under an id, once, and answers a line that
//! names the id and nothing else.

use palisade_taskdef::{Problem, Rejected};
use std::fmt;

/// What went wrong, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong; the message (and the problems, for a task definition) say how
    /// to fix it.
    #[error("{message}")]
    Invalid {
        message: String,
        problems: Vec<Problem>,
    },
    /// What the caller named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the state it found (a registration already under way).
    #[error("{0}")]
    Conflict(String),
    /// The caller's role may do some of this, not all (an operator changing a family's mode):
    /// the message says which role it needs.
    #[error("{0}")]
    Forbidden(String),
    /// The console is doing as much of this as it allows at once (checking passwords, streams
    /// open): nothing is wrong with the request, it may be sent again after `retry_after`.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A service the console calls (ECS, ECR, Secrets Manager) refused, could not be reached, or
    /// the console has no way to call it (no credentials, no region).
    #[error("{0}")]
    Upstream(Upstream),
    /// A fault of the console itself (its database, its runtime): not the caller's to fix.
    #[error("{context}: {source}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The id it was logged under, minted (and logged) when it is first shown or logged, so
        /// the audit log, the client and the log all name the same one.
        reported: std::sync::OnceLock<String>,
    },
}

/// Why an upstream call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The service answered no (access denied, a ClientException, a bad request).
    Refused,
    /// The service did not answer (network, DNS, timeout, throttled past the retries).
    Unreachable,
    /// The console cannot call it: no credentials, no region.
    NotConfigured,
}

/// An upstream failure, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub failure: UpstreamFailure,
    pub message: String,
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `Result` with the console's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Input refused with a message and no task-definition problems.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// Too much of this at once: try again after `retry_after`.
    pub fn busy(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Error::Busy {
            message: message.into(),
            retry_after,
        }
    }

    /// A fault of the console, with what it was doing.
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            context,
            source: source.into(),
            reported: std::sync::OnceLock::new(),
        }
    }

    /// The problems of a refused task definition (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }

    /// The HTTP status every front end answers this error with (the REST API, and the server
    /// functions the pages call): what the caller can do about it, never 500 for their mistake.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 422,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Forbidden(_) => 403,
            Error::Busy { .. } => 429,
            Error::Upstream(_) => 502,
            Error::Internal { .. } => 500,
        }
    }

    /// What may be shown to a client. An internal error is logged with an id the first time it
    /// is shown (or [logged](Error::log)) and answered as a line that names that id and no detail;
    /// showing it again (the client, then the audit log) names the same id and logs nothing more.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal { reported, .. } => {
                let id = reported.get_or_init(|| {
                    let id = crate::text::random_hex(6).unwrap_or_else(|_| "without-id".into());
                    // An error's text may quote what a defender or a registry sent: one log line.
                    let error = crate::text::error_chain(self);
                    tracing::error!(error_id = %id, error = %crate::text::printable(&error), "internal error");
                    id
                });
                format!("internal error {id}; the console's log has the details")
            }
            other => other.to_string(),
        }
    }
}

impl Error {
    /// Logs the error of work nobody waits for (a heartbeat, a sweep): internal ones with their
    /// detail and an id, others as a warning.
    pub fn log(&self, doing: &'static str) {
        match self {
            Error::Internal { .. } => {
                let _ = self.public_message();
            }
            other => {
                let error = other.to_string();
                tracing::warn!(error = %crate::text::printable(&error), "{doing} failed");
            }
        }
    }
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Invalid {
            message: "the task definition was not protected".into(),
            problems: rejected.problems,
        }
    }
}

impl From<Upstream> for Error {
    fn from(upstream: Upstream) -> Self {
        Error::Upstream(upstream)
    }
}

/// `.context("what was being done")` on the console's own IO: the failure becomes
/// [`Error::Internal`].
pub trait Context<T> {
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::internal(context, source))
    }
}

impl<T> Context<T> for std::result::Result<T, serde_json::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::internal(context, source))
    }
}

impl<T> Context<T> for std::result::Result<T, tokio::task::JoinError> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::internal(context, source))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::internal(context, source))
    }
}

impl<T> Context<T> for std::result::Result<T, sqlx::migrate::MigrateError> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::internal(context, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_is_answered_without_its_detail() {
        let error = Error::internal(
            "reading the settings",
            std::io::Error::other("database disk image is malformed at /var/lib/palisade.db"),
        );
        let shown = error.public_message();
        assert!(shown.starts_with("internal error "), "{shown}");
        assert!(!shown.contains("malformed"), "{shown}");
        assert!(!shown.contains("/var/lib"), "{shown}");
        assert_eq!(
            error.public_message(),
            shown,
            "shown twice (to the client, then in the audit log), one error keeps one id"
        );
        // Every other kind is the caller's to act on and says so itself.
        assert_eq!(
            Error::NotFound("generation 7 does not exist".into()).public_message(),
            "generation 7 does not exist"
        );
    }
}
