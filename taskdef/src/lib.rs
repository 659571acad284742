//! Palisade's task-definition logic: parse the three input forms, normalize them into
//! RegisterTaskDefinition input, validate against the ECS model and the service's rules, protect
//! (inject the defender, wrap entrypoints), unprotect, and diff. Pure: no IO, so the server, the CLI,
//! the benches and the tests all share it.

pub mod cancel;
pub mod diff;
pub mod normalize;
pub mod parse;
pub mod problem;
pub mod protect;
pub mod schema;
pub mod selfcheck;
pub mod summary;
pub mod template;
pub mod validate;

pub use cancel::Cancel;
pub use normalize::{normalize_text, Normalized};
pub use parse::InputForm;
pub use problem::{Problem, ProblemKind, Rejected};
pub use protect::{
    protect_text, protect_text_cancellable, unprotect_text, unprotect_text_cancellable, ImageArgv,
    Mode, Profile, ProfileName, ProtectOptions, Protected, TokenSource, Unprotected,
};
pub use summary::{Summary, Warning};

/// Renders a JSON value the way Palisade shows and prints it: two-space indent, key order kept,
/// a final newline.
pub fn to_pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The items of the array at a key, none when the key is absent or not an array.
pub(crate) fn array_items(
    value: Option<&serde_json::Value>,
) -> std::slice::Iter<'_, serde_json::Value> {
    value
        .and_then(serde_json::Value::as_array)
        .map(|items| items.iter())
        .unwrap_or_default()
}

/// Where a walk over a document is, as a chain of stack frames: free to extend, rendered as a
/// JSON pointer only when something is recorded, so walking big documents allocates nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }

    /// The RFC 6901 pointer of this place.
    pub(crate) fn render(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(parent, key) => pointer_push(&parent.render(), key),
            Path::Index(parent, index) => pointer_push(&parent.render(), index),
        }
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` as RFC 6901 says.
pub fn pointer_push(base: &str, token: impl std::fmt::Display) -> String {
    let token = token.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{token}")
}
