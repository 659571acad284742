//! Secrets that are the next word (or argv element): after a secret-named flag or a key with
//! nothing after its separator, after `Bearer`, and after the scheme word that follows an
//! `Authorization` key.

use super::names::{is_name_byte, is_secret_name};

/// Whether the next word (or argv element) is a secret, because of what came before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    No,
    /// After a secret-named flag or key, or `Bearer`.
    Value,
    /// After an `Authorization` key: a scheme word (`Basic`) may come before the secret.
    Credentials,
    /// Inside a secret's quotes that opened in an earlier word (`"password": "two words"`).
    Quoted(u8),
}

/// What a pending secret does to the next word.
pub(super) enum Taken {
    /// It is the secret.
    Withheld,
    /// It is an authorization scheme, shown; the secret is the word after.
    Kept,
    /// It is read like any word (nothing was pending, or it is a flag: the flag had no value).
    Read,
}

impl Pending {
    pub(super) fn take(&mut self, word: &str) -> Taken {
        let before = std::mem::replace(self, Pending::No);
        // A PEM block's body is withheld by its own rule, and only a private key's.
        if before == Pending::No || looks_like_flag(word) || word.starts_with("-----BEGIN") {
            return Taken::Read;
        }
        if before == Pending::Credentials && is_auth_scheme(word) {
            *self = Pending::Value;
            return Taken::Kept;
        }
        Taken::Withheld
    }
}

pub(super) fn looks_like_flag(word: &str) -> bool {
    let word = word.trim_start_matches(['"', '\'']);
    word.len() > 1 && word.starts_with('-') && !word.starts_with("-----")
}

fn is_auth_scheme(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    ["basic", "bearer", "token", "digest", "negotiate"]
        .iter()
        .any(|scheme| word.eq_ignore_ascii_case(scheme))
}

/// `--password`, `-db-password`: a secret-named flag whose value is the next word.
pub(super) fn secret_flag_without_value(word: &str) -> bool {
    let word = word.trim_matches(|c: char| "\"'`,;[](){}".contains(c));
    let name = word.trim_start_matches('-');
    word.starts_with('-')
        && word.len() - name.len() <= 2
        && !name.is_empty()
        && name.bytes().all(is_name_byte)
        && is_secret_name(name)
}

#[cfg(test)]
mod tests {
    use crate::redact::shown;

    #[test]
    fn authorization_headers_keep_their_scheme() {
        assert_eq!(
            shown("curl -H 'Authorization: Bearer abc.def' https://api.example"),
            "curl -H 'Authorization: Bearer ***' https://api.example"
        );
        assert_eq!(
            shown("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic ***"
        );
        assert_eq!(shown("bearer abc"), "bearer ***");
    }
}
