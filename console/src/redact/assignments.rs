//! Values after `=` or `:` in a word: of secret-named keys (`--password=x`, `"api_key": "x"`,
//! `?token=x&`) and of environment assignments (`NAME=value`), whatever the name.

use super::flags::Pending;
use super::names::{is_name_byte, is_secret_name, names_authorization};
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
    let mut asks = Pending::No;
    // The authorities are in order and `at` only grows: the first not yet behind is the one to
    // look at.
    let mut authorities = authorities.iter().peekable();
    let mut at = 0;
    while at < bytes.len() {
        while authorities
            .next_if(|authority| authority.end <= at)
            .is_some()
        {}
        let in_authority = authorities
            .peek()
            .is_some_and(|authority| authority.contains(&at));
        let separator = bytes[at];
        let is_separator = separator == b'='
            || (separator == b':' && !word[at..].starts_with("://") && !in_authority);
        if !is_separator {
            at += 1;
            continue;
        }
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
        let value_start = at + 1;
        // `--password=value`: the key opens the word, after its dashes.
        let flag = dashes > 0 && key_start == 0;
        let environment =
            separator == b'=' && key_start == 0 && dashes == 0 && is_environment_name(key);
        if key.is_empty() || !(environment || is_secret_name(key)) {
            at += 1;
            continue;
        }
        if value_start >= bytes.len() {
            asks = if names_authorization(key) {
                Pending::Credentials
            } else {
                Pending::Value
            };
            break;
        }
        let value_end = if environment || flag {
            // `NAME=value`, `--password=value`: the rest of the word is the value.
            bytes.len()
        } else if matches!(bytes[value_start], b'"' | b'\'') {
            let quote = bytes[value_start];
            let close = bytes[value_start + 1..]
                .iter()
                .position(|&byte| byte == quote)
                .map(|length| value_start + 1 + length);
            let Some(close) = close else {
                ranges.push(value_start + 1..bytes.len());
                asks = Pending::Quoted(quote);
                break;
            };
            ranges.push(value_start + 1..close);
            at = close;
            continue;
        } else {
            bytes[value_start..]
                .iter()
                .position(|byte| b"&,;})]\"'".contains(byte))
                .map_or(bytes.len(), |length| value_start + length)
        };
        ranges.push(value_start..value_end);
        at = value_end.max(value_start);
    }
    asks
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
