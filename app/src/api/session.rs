//! Who is signed in, for the pages: the navigation shows it, and pages hide what the role may not
//! do (the server refuses it regardless).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use palisade_types::people::{Me, Role};

/// How people may sign in here: with a password always, with single sign-on when configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub sso: bool,
}

/// The sign-in page's choices (the server provides them as context).
#[server(name = SignInOptionsFn, endpoint = "sign-in-options")]
pub async fn sign_in_options() -> Result<SignInOptions, ServerFnError> {
    super::console_for::<SignInOptionsFn>()?;
    Ok(use_context::<SignInOptions>().unwrap_or_default())
}

/// Who is signed in, if anyone.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    super::console_for::<Whoami>()?;
    Ok(super::principal().map(|principal| Me {
        name: principal.name(),
        role: principal.role,
    }))
}

/// Where to go after signing in: a path of this console, never another site (`next` comes from a
/// URL anyone can craft). Only printable ASCII without spaces or backslashes, one leading slash
/// and not two: browsers drop tabs and newlines from URLs (`/\t/evil.example` is
/// `//evil.example` to them) and read `\` as `/`, and a control character would not even make a
/// `Location` header.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|next| is_own_path(next))
        .unwrap_or_else(|| "/".to_owned())
}

fn is_own_path(next: &str) -> bool {
    let mut chars = next.chars();
    next.len() <= 2048
        && chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.chars().all(|c| c.is_ascii_graphic() && c != '\\')
}

/// The signed-in principal as a resource every page can read (provided once, in the app).
pub type MeResource = Resource<Result<Option<Me>, ServerFnError>>;

/// Whether the principal (once known) may do what `role` may; false while unknown.
pub fn may(me: MeResource, role: Role) -> bool {
    me.get()
        .and_then(Result::ok)
        .flatten()
        .is_some_and(|me| me.may(role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_console_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/defenders?status=connected".into())),
            "/defenders?status=connected"
        );
        for elsewhere in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/\t/evil.example/path",
            "/\n/evil.example",
            "\t//evil.example",
            "/%0a\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_next(Some(elsewhere.into())), "/", "{elsewhere}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
