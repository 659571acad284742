//! What Palisade says about bad input: each problem names its place (line and column, or a JSON
//! pointer) and how to fix it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an input was refused; tests and the UI group problems by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Not JSON: the message carries line and column.
    Syntax,
    /// The same key twice in one object; JSON parsers disagree on which one wins.
    DuplicateKey,
    /// JSON, but neither a task definition, a describe output nor a container list.
    NotATaskDefinition,
    /// Fails the JSON Schema generated from the ECS model (wrong type, unknown key, bad enum...).
    Schema,
    /// A family, container or volume name the service refuses (often an unrendered placeholder).
    InvalidName,
    /// A service limit (container count, 64 KiB size), or a bound on what Palisade reads (a
    /// template's size, how deep a document nests, a logical ID's length).
    Limit,
    /// A reference to a container or volume that does not exist, or a dependency ECS refuses.
    Reference,
    /// Something the launch type, network mode or platform does not support.
    Platform,
    /// cpu / memory values the service refuses.
    Resources,
    /// Windows task definitions cannot be protected.
    Windows,
    /// A container to wrap has no entryPoint and its image argv was not given.
    MissingEntrypoint,
    /// Options that do not fit the task definition (unknown container names, name clashes...).
    Options,
    /// The caller stopped the work (the client went away, the console is stopping): nothing is
    /// said about the input.
    Cancelled,
}

/// Problems reported at most for one input: past this the first ones are what to fix, and a
/// megabyte of mistakes must not cost seconds to locate and describe.
pub const MAX_PROBLEMS: usize = 100;

/// Keeps the first [`MAX_PROBLEMS`] problems and says that there were more.
pub fn cap_problems(problems: &mut Vec<Problem>) {
    if problems.len() > MAX_PROBLEMS {
        problems.truncate(MAX_PROBLEMS);
        problems.push(Problem {
            kind: ProblemKind::Limit,
            pointer: None,
            line: None,
            column: None,
            message: format!("more problems than the first {MAX_PROBLEMS} shown here"),
            hint: Some("fix these first, then generate again to see the rest".into()),
            container: None,
        });
    }
}

/// One thing wrong with the input, with where it is and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    pub kind: ProblemKind,
    /// JSON pointer into the normalized task definition (`/containerDefinitions/2/entryPoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// 1-based line and column in the pasted text, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The container it is about, when it is about one (so callers never match message text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl Problem {
    pub fn at(kind: ProblemKind, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            kind,
            pointer: Some(pointer.into()),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
            container: None,
        }
    }

    /// A problem of the options, not of a place in the input.
    pub fn of_options(message: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Options,
            pointer: None,
            line: None,
            column: None,
            message: message.into(),
            hint: None,
            container: None,
        }
    }

    /// Says which container the problem is about.
    pub fn about_container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Where the problem is, as a person reads it.
    pub fn place(&self) -> String {
        match (self.line, self.column, &self.pointer) {
            (Some(line), Some(column), Some(pointer)) => {
                format!("line {line}, column {column} ({pointer})")
            }
            (Some(line), Some(column), None) => format!("line {line}, column {column}"),
            (_, _, Some(pointer)) if pointer.is_empty() => "document".to_owned(),
            (_, _, Some(pointer)) => pointer.clone(),
            _ => "document".to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// The input was refused; every problem found is listed, not just the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Rejected {
    pub problems: Vec<Problem>,
}

impl Rejected {
    pub fn one(problem: Problem) -> Self {
        Rejected {
            problems: vec![problem],
        }
    }

    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
