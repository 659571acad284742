//! Values after `=` or `:` in a word: of secret-named keys (`--password=x`, `"api_key": "x"`,
//! `?token=x&`) and of environment assignments (`NAME=value`), whatever the name.

use super::flags::Pending;
use super::names::{is_name_byte, is_secret_name, names_authorization};
use std::iter::Peekable;
use std::ops::Range;

/// Values of secret-named keys (`name=value`, `name:value`, `"name":"value"`) and of
/// environment assignments (`NAME=value`) go into `ranges`. A secret-named key with nothing after
/// its separator asks for the next word.
pub(super) fn assignments(
    word: &str,
    authorities: &[Range<usize>],
    ranges: &mut Vec<Range<usize>>,
) -> Pending {
    let bytes = word.as_bytes();
    let dashes = bytes.iter().take_while(|&&byte| byte == b'-').count();
    let mut separators = Separators {
        word,
        authorities: authorities.iter().peekable(),
    };
    let mut at = 0;
    while at < bytes.len() {
        if !separators.is_separator(at) {
            at += 1;
            continue;
        }
        let Some(key) = key_before(word, at, dashes) else {
            at += 1;
            continue;
        };
        let value_start = at + 1;
        if value_start >= bytes.len() {
            return if names_authorization(key.name) {
                Pending::Credentials
            } else {
                Pending::Value
            };
        }
        match value_end(bytes, value_start, key.rest_of_word) {
            ValueEnd::At(value_end) => {
                ranges.push(value_start..value_end);
                at = value_end.max(value_start);
            }
            ValueEnd::Quoted(close) => {
                ranges.push(value_start + 1..close);
                at = close;
            }
            ValueEnd::Unclosed(quote) => {
                ranges.push(value_start + 1..bytes.len());
                return Pending::Quoted(quote);
            }
        }
    }
    Pending::No
}

/// Where in a word a key meets its value: every `=`, and every `:` but those of `://` and those
/// inside a URL's authority (`user:password@host:port`).
struct Separators<'a> {
    word: &'a str,
    authorities: Peekable<std::slice::Iter<'a, Range<usize>>>,
}

impl Separators<'_> {
    /// Whether the byte at `at` is a separator (`at` only grows from one call to the next).
    fn is_separator(&mut self, at: usize) -> bool {
        // The authorities are in order and `at` only grows: the first not yet behind is the one to
        // look at.
        while self
            .authorities
            .next_if(|authority| authority.end <= at)
            .is_some()
        {}
        let in_authority = self
            .authorities
            .peek()
            .is_some_and(|authority| authority.contains(&at));
        let separator = self.word.as_bytes()[at];
        separator == b'='
            || (separator == b':' && !self.word[at..].starts_with("://") && !in_authority)
    }
}

/// A key whose value is withheld.
struct Key<'a> {
    name: &'a str,
    /// Its value is the rest of the word (an environment variable's, a flag's).
    rest_of_word: bool,
}

/// The key before the separator at `at` (the word opens with `dashes` dashes), when its value is
/// withheld: a secret-named key, or an environment variable's name opening the word.
fn key_before(word: &str, at: usize, dashes: usize) -> Option<Key<'_>> {
    let bytes = word.as_bytes();
    // The key: the name just before, past a closing quote (`"password":`).
    let mut key_end = at;
    if key_end > 0 && matches!(bytes[key_end - 1], b'"' | b'\'') {
        key_end -= 1;
    }
    let mut key_start = key_end;
    while key_start > 0 && is_name_byte(bytes[key_start - 1]) {
        key_start -= 1;
    }
    let key = word[key_start..key_end].trim_start_matches('-');
    // `--password=value`: the key opens the word, after its dashes.
    let flag = dashes > 0 && key_start == 0;
    let environment =
        bytes[at] == b'=' && key_start == 0 && dashes == 0 && is_environment_name(key);
    if key.is_empty() || !(environment || is_secret_name(key)) {
        return None;
    }
    Some(Key {
        name: key,
        rest_of_word: environment || flag,
    })
}

/// Where a value ends.
enum ValueEnd {
    /// Just before this byte.
    At(usize),
    /// Inside its quotes, which close at this byte.
    Quoted(usize),
    /// Inside its quotes (this one), which do not close in the word.
    Unclosed(u8),
}

/// Where the value starting at `value_start` ends: the rest of the word, its closing quote, or
/// the punctuation that ends it.
fn value_end(bytes: &[u8], value_start: usize, rest_of_word: bool) -> ValueEnd {
    if rest_of_word {
        // `NAME=value`, `--password=value`: the rest of the word is the value.
        ValueEnd::At(bytes.len())
    } else if matches!(bytes[value_start], b'"' | b'\'') {
        let quote = bytes[value_start];
        let close = bytes[value_start + 1..]
            .iter()
            .position(|&byte| byte == quote)
            .map(|length| value_start + 1 + length);
        match close {
            Some(close) => ValueEnd::Quoted(close),
            None => ValueEnd::Unclosed(quote),
        }
    } else {
        ValueEnd::At(
            bytes[value_start..]
                .iter()
                .position(|byte| b"&,;})]\"'".contains(byte))
                .map_or(bytes.len(), |length| value_start + length),
        )
    }
}

/// `API_KEY`, `DATABASE_URL`: what an environment variable's name looks like on a command line.
fn is_environment_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes
        .first()
        .is_some_and(|&byte| byte.is_ascii_uppercase() || byte == b'_')
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes
            .iter()
            .all(|&byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use crate::redact::shown;

    #[test]
    fn environment_assignments_show_their_name_only() {
        assert_eq!(
            shown("env API_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc LOG_LEVEL=debug /app"),
            "env API_KEY=*** LOG_LEVEL=*** /app"
        );
        assert_eq!(shown("DATABASE_URL=postgres://db/app"), "DATABASE_URL=***");
    }
}
