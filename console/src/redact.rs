//! What counts as a secret in what operators wrote (argv, command lines, the summary lines that
//! quote them) and how it is withheld from viewers: the one rule every view a viewer may read
//! applies ([`Disclosure`]). Operators and admins see everything: they can open the generation
//! itself anyway.
//!
//! The rule, each part shown as [`WITHHELD`]:
//! - a URL's password: `scheme://user:PASS@host`;
//! - the value of a secret-named key: after `=` or `:` in the same word (`--password=x`,
//!   `PGPASSWORD=x`, `"api_key": "x"`, `?token=x&`), or the next word or argv element after a
//!   secret-named flag or key (`--db-password x`, `password: x`). A name is secret-named when one
//!   of its parts (split at `-`, `_`, `.` and camelCase) is `pwd`, `pass`, `key`, `auth`,
//!   `private`, `session` or `cookie`, or holds `password`, `passwd`, `passphrase`, `secret`,
//!   `token`, `credential`, `apikey`, `signature` or `authorization` (case-insensitive), unless
//!   its last part says where a secret is or what shape it has rather than what it is (`file`,
//!   `path`, `dir`, `ref`, `arn`, `url`, `name`, `type`, `timeout`...: `--key-file /x` and
//!   `--passwords-file /x` stay) or it is a switch or a bound (`--no-auth`, `--max-tokens`). A
//!   flag followed by another flag had no value. `-p` stays: it is as often a port as a password;
//! - the word after `Bearer`, and after a scheme word (`Basic`, `Token`, `Digest`) when an
//!   `Authorization` key came before;
//! - the value of an environment assignment (`NAME=value`, `NAME` in capitals: `env API_KEY=x
//!   app`), whatever the name: viewers see no environment values;
//! - strings shaped like well-known secrets: AWS access key ids (`AKIA`/`ASIA` and 16 capitals or
//!   digits), AWS secret keys (40 characters of base64 with capitals, small letters and digits),
//!   GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Slack tokens
//!   (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`, `xoxs-`), Stripe keys (`sk_live_`, `rk_test_`...),
//!   Google API keys (`AIza`), JWTs (`eyJ….….…`), Palisade's own tokens (`pal_`, `plt_`, `pls_`)
//!   and the body of a PEM private key block.
//!
//! JSON arrays of strings inside a text (how summary lines quote an argv) are read as argv, so a
//! flag's value is found in the next element. Every matcher is a single forward scan: the time is
//! linear in the text, whatever it holds.

use crate::auth::{Principal, Role};
use std::borrow::Cow;
use std::ops::Range;

/// What stands where a secret was.
pub const WITHHELD: &str = "***";

/// How much of what operators wrote a reader may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Operators and admins: they may open a generation, input and output, anyway.
    Everything,
    /// Viewers, and anyone the console cannot place: secret-looking parts withheld.
    WithoutSecrets,
}

impl Disclosure {
    /// What `principal` may see (nobody known: no secrets).
    pub fn for_principal(principal: Option<&Principal>) -> Disclosure {
        match principal {
            Some(principal) if principal.may(Role::Operator) => Disclosure::Everything,
            _ => Disclosure::WithoutSecrets,
        }
    }

    /// A line of text (a summary line, a command line, an error that may quote either).
    pub fn text(self, text: &str) -> Cow<'_, str> {
        match self {
            Disclosure::Everything => Cow::Borrowed(text),
            Disclosure::WithoutSecrets => redact_text(text),
        }
    }

    /// Lines of text, each as [`Disclosure::text`] shows it.
    pub fn lines(self, lines: Vec<String>) -> Vec<String> {
        match self {
            Disclosure::Everything => lines,
            Disclosure::WithoutSecrets => lines
                .into_iter()
                .map(|line| redact_text(&line).into_owned())
                .collect(),
        }
    }
}

/// `text` with every secret-looking part withheld (the module's rule).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    redact_text_asking(text).0
}

/// `argv` with every secret-looking part withheld: each element as text, and the element after a
/// secret-named flag as a whole.
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    let mut redacted = Vec::with_capacity(argv.len());
    let mut pending = Pending::No;
    for argument in argv {
        match pending.take(argument) {
            Taken::Withheld => {
                redacted.push(WITHHELD.to_owned());
                continue;
            }
            Taken::Kept => {
                redacted.push(argument.clone());
                continue;
            }
            Taken::Read => {}
        }
        let (text, asks) = redact_text_asking(argument);
        pending = asks;
        redacted.push(text.into_owned());
    }
    redacted
}

/// Whether the next word (or argv element) is a secret, because of what came before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    No,
    /// After a secret-named flag or key, or `Bearer`.
    Value,
    /// After an `Authorization` key: a scheme word (`Basic`) may come before the secret.
    Credentials,
    /// Inside a secret's quotes that opened in an earlier word (`"password": "two words"`).
    Quoted(u8),
}

/// What a pending secret does to the next word.
enum Taken {
    /// It is the secret.
    Withheld,
    /// It is an authorization scheme, shown; the secret is the word after.
    Kept,
    /// It is read like any word (nothing was pending, or it is a flag: the flag had no value).
    Read,
}

impl Pending {
    fn take(&mut self, word: &str) -> Taken {
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

fn looks_like_flag(word: &str) -> bool {
    let word = word.trim_start_matches(['"', '\'']);
    word.len() > 1 && word.starts_with('-') && !word.starts_with("-----")
}

fn is_auth_scheme(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    ["basic", "bearer", "token", "digest", "negotiate"]
        .iter()
        .any(|scheme| word.eq_ignore_ascii_case(scheme))
}

/// The text redacted, and whether its last word asks for the next one to be withheld.
fn redact_text_asking(text: &str) -> (Cow<'_, str>, Pending) {
    match private_key_bodies(text) {
        Cow::Borrowed(text) => redact_segments(text),
        Cow::Owned(text) => {
            let (redacted, pending) = redact_segments(&text);
            (Cow::Owned(redacted.into_owned()), pending)
        }
    }
}

/// The bodies of PEM private key blocks withheld (markers kept, so the reader sees a key was
/// there). A block without its end marker (a cut command line) is withheld to the end.
fn private_key_bodies(text: &str) -> Cow<'_, str> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut redacted = String::new();
    let (mut copied, mut at) = (0, 0);
    while let Some(found) = text[at..].find(BEGIN) {
        let label_start = at + found + BEGIN.len();
        let Some(label_length) = text[label_start..].find(DASHES) else {
            break;
        };
        let label_end = label_start + label_length;
        if !text[label_start..label_end].ends_with("PRIVATE KEY") {
            at = label_end;
            continue;
        }
        let body_start = label_end + DASHES.len();
        let body_end = text[body_start..]
            .find("-----END ")
            .map_or(text.len(), |end| body_start + end);
        redacted.push_str(&text[copied..body_start]);
        redacted.push_str(WITHHELD);
        (copied, at) = (body_end, body_end);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    redacted.push_str(&text[copied..]);
    Cow::Owned(redacted)
}

/// The text as plain words and, between them, JSON arrays of strings (an argv as a summary line
/// quotes it), each redacted as what it is.
fn redact_segments(text: &str) -> (Cow<'_, str>, Pending) {
    let bytes = text.as_bytes();
    let mut redacted = String::with_capacity(text.len());
    let mut changed = false;
    let mut pending = Pending::No;
    let (mut plain_start, mut at) = (0, 0);
    while let Some(found) = bytes[at..].iter().position(|&byte| byte == b'[') {
        let start = at + found;
        let end = match json_string_array(bytes, start) {
            Ok(end) => end,
            // Nothing inside the failed attempt is read as an array again: one pass in all.
            Err(stopped) => {
                at = stopped.max(start + 1);
                continue;
            }
        };
        let Ok(argv) = serde_json::from_str::<Vec<String>>(&text[start..end]) else {
            at = end;
            continue;
        };
        changed |= redact_words(&text[plain_start..start], &mut redacted, &mut pending);
        let argv_redacted = redact_argv(&argv);
        if argv_redacted == argv {
            redacted.push_str(&text[start..end]);
        } else {
            changed = true;
            redacted.push_str(&serde_json::to_string(&argv_redacted).unwrap_or_default());
        }
        pending = Pending::No;
        (plain_start, at) = (end, end);
    }
    changed |= redact_words(&text[plain_start..], &mut redacted, &mut pending);
    if changed {
        (Cow::Owned(redacted), pending)
    } else {
        (Cow::Borrowed(text), pending)
    }
}

/// Where the JSON array of strings starting at `start` (a `[`) ends (just past its `]`), or how
/// far it was read before it turned out not to be one.
fn json_string_array(bytes: &[u8], start: usize) -> Result<usize, usize> {
    let skip_blanks = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut at = skip_blanks(start + 1);
    if bytes.get(at) != Some(&b'"') {
        return Err(at);
    }
    loop {
        // A string, from its opening quote.
        at += 1;
        loop {
            match bytes.get(at) {
                None => return Err(bytes.len()),
                Some(b'"') => break,
                Some(b'\\') => at += 2,
                Some(&byte) if byte < 0x20 => return Err(at),
                Some(_) => at += 1,
            }
        }
        at = skip_blanks(at + 1);
        match bytes.get(at) {
            Some(b']') => return Ok(at + 1),
            Some(b',') => {
                at = skip_blanks(at + 1);
                if bytes.get(at) != Some(&b'"') {
                    return Err(at);
                }
            }
            _ => return Err(at.min(bytes.len())),
        }
    }
}

/// Characters kept around a withheld word: its quotes and the punctuation that closes it.
fn is_wrapping(c: char) -> bool {
    matches!(c, '"' | '\'' | '`' | ',' | ';' | ')' | ']' | '}')
}

/// Appends `text` to `redacted`, word by word (words are separated by whitespace, kept as it
/// is); `pending` carries a secret flag's wish from one word to the next. Whether anything
/// changed.
fn redact_words(text: &str, redacted: &mut String, pending: &mut Pending) -> bool {
    let mut changed = false;
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        if c.is_whitespace() {
            redacted.push(c);
            at += c.len_utf8();
            continue;
        }
        let end = text[at..]
            .find(char::is_whitespace)
            .map_or(text.len(), |length| at + length);
        let word = &text[at..end];
        match pending.take(word) {
            Taken::Withheld => {
                changed = true;
                let quote = word.chars().next().filter(|c| matches!(c, '"' | '\''));
                match quote {
                    // A quoted secret runs to its closing quote, spaces and all.
                    Some(quote) if !(word.len() > 1 && word.ends_with(quote)) => {
                        let close = text[at + 1..].find(quote).map(|length| at + 1 + length);
                        redacted.push(quote);
                        redacted.push_str(WITHHELD);
                        match close {
                            Some(close) => {
                                redacted.push(quote);
                                at = close + 1;
                            }
                            None => at = text.len(),
                        }
                    }
                    _ => {
                        let opening = word.len() - word.trim_start_matches(['"', '\'']).len();
                        let inner = &word[opening..];
                        let closing = inner.trim_end_matches(is_wrapping);
                        redacted.push_str(&word[..opening]);
                        redacted.push_str(WITHHELD);
                        redacted.push_str(&inner[closing.len()..]);
                        at = end;
                    }
                }
                continue;
            }
            Taken::Kept => {
                redacted.push_str(word);
                at = end;
                continue;
            }
            Taken::Read => {}
        }
        let (word_redacted, asks) = redact_word(word);
        changed |= matches!(word_redacted, Cow::Owned(_));
        redacted.push_str(&word_redacted);
        at = end;
        if let Pending::Quoted(quote) = asks {
            // The secret's quotes close in a later word: withheld up to them.
            at = text[end..]
                .find(char::from(quote))
                .map_or(text.len(), |length| end + length);
            continue;
        }
        *pending = asks;
    }
    changed
}

/// One word (no whitespace) redacted, and whether it asks for the next word to be withheld.
fn redact_word(word: &str) -> (Cow<'_, str>, Pending) {
    let mut ranges = Vec::new();
    let authorities = url_passwords(word, &mut ranges);
    let mut asks = assignments(word, &authorities, &mut ranges);
    if asks == Pending::No && secret_flag_without_value(word) {
        asks = Pending::Value;
    }
    if asks == Pending::No
        && word
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .eq_ignore_ascii_case("bearer")
    {
        asks = Pending::Value;
    }
    well_known_secrets(word.as_bytes(), &mut ranges);
    aws_secret_keys(word.as_bytes(), &mut ranges);
    (withhold(word, ranges), asks)
}

/// `text` with each of `ranges` (byte ranges on ASCII boundaries) replaced by [`WITHHELD`];
/// ranges that overlap or touch are withheld as one.
fn withhold(text: &str, mut ranges: Vec<Range<usize>>) -> Cow<'_, str> {
    ranges.retain(|range| !range.is_empty());
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    ranges.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    for range in merged {
        redacted.push_str(&text[copied..range.start]);
        redacted.push_str(WITHHELD);
        copied = range.end;
    }
    redacted.push_str(&text[copied..]);
    Cow::Owned(redacted)
}

/// The password of every `scheme://user:PASSWORD@host` in the word goes into `ranges`; answers
/// the authorities (`user:password@host:port`), whose `:` are not key-value separators.
fn url_passwords(word: &str, ranges: &mut Vec<Range<usize>>) -> Vec<Range<usize>> {
    let bytes = word.as_bytes();
    let mut authorities = Vec::new();
    let mut at = 0;
    while let Some(found) = word[at..].find("://") {
        let start = at + found + 3;
        let end = bytes[start..]
            .iter()
            .position(|byte| b"/?#\"'`<>".contains(byte))
            .map_or(bytes.len(), |length| start + length);
        let authority = &word[start..end];
        if let Some(at_sign) = authority.rfind('@') {
            if let Some(colon) = authority[..at_sign].find(':') {
                ranges.push(start + colon + 1..start + at_sign);
            }
        }
        authorities.push(start..end);
        at = end.max(start);
    }
    authorities
}

/// Bytes a key's name is made of.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// Values of secret-named keys (`name=value`, `name:value`, `"name":"value"`) and of
/// environment assignments (`NAME=value`) go into `ranges`. A secret-named key with nothing after
/// its separator asks for the next word.
fn assignments(
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

/// `--password`, `-db-password`: a secret-named flag whose value is the next word.
fn secret_flag_without_value(word: &str) -> bool {
    let word = word.trim_matches(|c: char| "\"'`,;[](){}".contains(c));
    let name = word.trim_start_matches('-');
    word.starts_with('-')
        && word.len() - name.len() <= 2
        && !name.is_empty()
        && name.bytes().all(is_name_byte)
        && is_secret_name(name)
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

/// Parts that name a secret by themselves.
const SECRET_PARTS: &[&str] = &[
    "pwd", "pw", "pass", "key", "auth", "private", "session", "cookie",
];
/// Words that make any part holding them name a secret (`pgpassword`, `apikey`, `x-auth-token`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "signature",
    "authorization",
    "accesskey",
    "privatekey",
];
/// Last parts that say where a secret is, or what shape it has, rather than what it is.
const NOT_THE_SECRET: &[&str] = &[
    "file",
    "files",
    "path",
    "dir",
    "directory",
    "ref",
    "arn",
    "url",
    "uri",
    "endpoint",
    "name",
    "header",
    "type",
    "mode",
    "length",
    "size",
    "count",
    "limit",
    "timeout",
    "ttl",
    "expiry",
    "algorithm",
    "format",
    "version",
    "enabled",
    "required",
];
/// First parts of switches and bounds (`--no-auth`, `--max-tokens`).
const SWITCHES: &[&str] = &[
    "no", "max", "min", "enable", "disable", "use", "skip", "require",
];

/// A name's parts, lowercased: split at anything but letters and digits, and where a small letter
/// is followed by a capital (`dbPassword`: `db`, `password`).
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut previous_small = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !part.is_empty() {
                parts.push(std::mem::take(&mut part));
            }
            previous_small = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_small && !part.is_empty() {
            parts.push(std::mem::take(&mut part));
        }
        previous_small = c.is_ascii_lowercase();
        part.push(c.to_ascii_lowercase());
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// Whether a key or flag name says its value is a secret (see the module's rule).
fn is_secret_name(name: &str) -> bool {
    let parts = name_parts(name);
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if SWITCHES.contains(&first.as_str())
        || (parts.len() > 1 && NOT_THE_SECRET.contains(&last.as_str()))
    {
        return false;
    }
    parts.iter().any(|part| {
        SECRET_PARTS.contains(&part.as_str()) || SECRET_WORDS.iter().any(|word| part.contains(word))
    })
}

/// `Authorization`, `auth`: a key whose value may start with a scheme word (`Basic`).
fn names_authorization(name: &str) -> bool {
    name_parts(name)
        .iter()
        .any(|part| part == "auth" || part.contains("authorization"))
}

/// Bytes of a run of base64url text (JWT segments, most token bodies).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-')
}

/// Where a run of bytes for which `wanted` holds, from `start`, ends.
fn run_end(bytes: &[u8], start: usize, wanted: impl Fn(u8) -> bool) -> usize {
    bytes[start.min(bytes.len())..]
        .iter()
        .position(|&byte| !wanted(byte))
        .map_or(bytes.len(), |length| start + length)
}

/// A token recognised by its prefix: the bytes its body is made of, and its least length.
struct Prefixed {
    prefix: &'static str,
    body: fn(u8) -> bool,
    least: usize,
}

const fn prefixed(prefix: &'static str, body: fn(u8) -> bool, least: usize) -> Prefixed {
    Prefixed {
        prefix,
        body,
        least,
    }
}

/// The prefixed tokens (GitHub, Slack, Stripe, Google, Palisade's own).
const PREFIXED: &[Prefixed] = &[
    prefixed("ghp_", is_alphanumeric, 20),
    prefixed("gho_", is_alphanumeric, 20),
    prefixed("ghu_", is_alphanumeric, 20),
    prefixed("ghs_", is_alphanumeric, 20),
    prefixed("ghr_", is_alphanumeric, 20),
    prefixed("github_pat_", is_name_underscore, 20),
    prefixed("xoxa-", is_slack_byte, 10),
    prefixed("xoxb-", is_slack_byte, 10),
    prefixed("xoxp-", is_slack_byte, 10),
    prefixed("xoxr-", is_slack_byte, 10),
    prefixed("xoxs-", is_slack_byte, 10),
    prefixed("sk_live_", is_alphanumeric, 8),
    prefixed("sk_test_", is_alphanumeric, 8),
    prefixed("rk_live_", is_alphanumeric, 8),
    prefixed("rk_test_", is_alphanumeric, 8),
    prefixed("AIza", is_token_byte, 30),
    prefixed("pal_", is_small_hex, 16),
    prefixed("plt_", is_small_hex, 16),
    prefixed("pls_", is_small_hex, 16),
];

fn is_alphanumeric(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn is_name_underscore(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_slack_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

fn is_small_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

fn is_capital_or_digit(byte: u8) -> bool {
    byte.is_ascii_uppercase() || byte.is_ascii_digit()
}

/// Strings shaped like well-known secrets go into `ranges` whole. Each starts where the byte
/// before is no letter or digit. Linear: a failed prefixed candidate reads at most its least
/// length; an access key id or a JWT header starts only where the byte before cannot be part of
/// its run, so no two candidates read the same run (a JWT's payload at most twice).
fn well_known_secrets(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
    let mut at = 0;
    while at < bytes.len() {
        let before = at.checked_sub(1).map(|index| bytes[index]);
        if before.is_some_and(|byte| byte.is_ascii_alphanumeric()) {
            at += 1;
            continue;
        }
        match well_known_secret_at(bytes, at, before) {
            Some(end) => {
                ranges.push(at..end);
                at = end;
            }
            None => at += 1,
        }
    }
}

/// The end of the well-known secret starting at `start` (`before`: the byte before it).
fn well_known_secret_at(bytes: &[u8], start: usize, before: Option<u8>) -> Option<usize> {
    let rest = &bytes[start..];
    for Prefixed {
        prefix,
        body,
        least,
    } in PREFIXED
    {
        if rest.starts_with(prefix.as_bytes()) {
            let body_start = start + prefix.len();
            let shortest = (body_start + least).min(bytes.len());
            // Only the least length is read before deciding.
            if bytes[body_start..shortest].iter().all(|&byte| body(byte))
                && shortest - body_start == *least
            {
                return Some(run_end(bytes, shortest, body));
            }
            return None;
        }
    }
    if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        let end = run_end(bytes, start, is_capital_or_digit);
        return (end - start == 20).then_some(end);
    }
    if rest.starts_with(b"eyJ") && !before.is_some_and(is_token_byte) {
        // header.payload.signature, each base64url; the header and payload are JSON objects.
        let header_end = run_end(bytes, start, is_token_byte);
        if bytes.get(header_end) != Some(&b'.') {
            return None;
        }
        let payload_end = run_end(bytes, header_end + 1, is_token_byte);
        if payload_end == header_end + 1 || bytes.get(payload_end) != Some(&b'.') {
            return None;
        }
        return Some(run_end(bytes, payload_end + 1, is_token_byte));
    }
    None
}

/// AWS secret access keys: a run of exactly 40 base64 characters holding capitals, small letters
/// and digits (hex digests have no capitals; paths start with `/` or have many of them).
fn aws_secret_keys(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
    let is_base64 = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'+');
    let mut at = 0;
    while at < bytes.len() {
        if !is_base64(bytes[at]) {
            at += 1;
            continue;
        }
        let end = run_end(bytes, at, is_base64);
        let run = &bytes[at..end];
        let slashes = run.iter().filter(|&&byte| byte == b'/').count();
        if run.len() == 40
            && run[0] != b'/'
            && slashes <= 3
            && run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit)
        {
            ranges.push(at..end);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Who;

    fn shown(text: &str) -> String {
        redact_text(text).into_owned()
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn url_passwords_are_withheld_and_the_rest_of_the_url_kept() {
        assert_eq!(
            shown("postgres://app:hunter2@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(
            shown("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            shown("--db=mysql://root:p@ss:w0rd@db/app?x=1"),
            "--db=mysql://root:***@db/app?x=1"
        );
        assert_eq!(
            shown("https://x-access-token:abc@github.com/org/repo.git"),
            "https://x-access-token:***@github.com/org/repo.git"
        );
    }

    #[test]
    fn values_of_secret_named_keys_and_flags_are_withheld() {
        for (text, expected) in [
            ("--password=hunter2", "--password=***"),
            (
                "--db-password hunter2 --port 80",
                "--db-password *** --port 80",
            ),
            (
                "-Dspring.datasource.password=hunter2",
                "-Dspring.datasource.password=***",
            ),
            ("PGPASSWORD=hunter2 psql", "PGPASSWORD=*** psql"),
            ("dbPassword: hunter2", "dbPassword: ***"),
            ("secret:hunter2", "secret:***"),
            (
                "--apiKey=abc --api_key abc --x-api-key abc",
                "--apiKey=*** --api_key *** --x-api-key ***",
            ),
            (
                r#"{"api_key":"abc 123","user":"app"}"#,
                r#"{"api_key":"***","user":"app"}"#,
            ),
            (
                r#"--config {"password": "hunter2"}"#,
                r#"--config {"password": "***"}"#,
            ),
            (
                "https://db/app?user=app&password=hunter2&ssl=true",
                "https://db/app?user=app&password=***&ssl=true",
            ),
            (
                "--session-id abc --cookie abc --auth abc",
                "--session-id *** --cookie *** --auth ***",
            ),
            (
                "--client-secret abc --signature abc --credentials abc",
                "--client-secret *** --signature *** --credentials ***",
            ),
            (
                "--password \"correct horse battery\" --port 80",
                "--password \"***\" --port 80",
            ),
            ("--password 'hunter2', next", "--password '***', next"),
        ] {
            assert_eq!(shown(text), expected, "{text}");
        }
    }

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

    #[test]
    fn environment_assignments_show_their_name_only() {
        assert_eq!(
            shown("env API_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc LOG_LEVEL=debug /app"),
            "env API_KEY=*** LOG_LEVEL=*** /app"
        );
        assert_eq!(shown("DATABASE_URL=postgres://db/app"), "DATABASE_URL=***");
    }

    #[test]
    fn well_known_secret_shapes_are_withheld_wherever_they_are() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "xoxb-1234567890-abcdefghij",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl-x_y",
            "pal_0123456789abcdef0123456789abcdef",
            "plt_0123456789abcdef0123456789abcdef",
            "pls_0123456789abcdef0123456789abcdef",
        ];
        for secret in cases {
            assert_eq!(shown(secret), WITHHELD, "{secret}");
            assert_eq!(
                shown(&format!("--opt={secret},x")),
                "--opt=***,x",
                "{secret} inside a word"
            );
        }
        assert_eq!(
            shown(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow IBAAK\n-----END RSA PRIVATE KEY----- done"
            ),
            "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY----- done"
        );
        assert_eq!(
            shown("key: -----BEGIN PRIVATE KEY-----\nMIIE cut here"),
            "key: -----BEGIN PRIVATE KEY-----***"
        );
    }

    #[test]
    fn what_is_not_a_secret_is_left_alone() {
        for text in [
            "--passwords-file /run/secrets/db --key-file /etc/tls/key.pem --token-url https://auth.example/t",
            "-p 8080 --port=80 --no-auth /srv/data --max-tokens 100 --auth-mode oauth --session-timeout 30",
            "nginx -g daemon off;",
            "image: nginx:1.25 at 12:30, host db:5432",
            "keyboard monkey tokenizer passage author",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "https://user@example.com/path?page=2 http://example.com:8080/",
            "/opt/App/bin/Server2/lib/Modules/Handler9",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "eyJ-not-a-jwt AKIA-short ghp_short xoxb-1",
            "wrapped entryPoint of api: [\"/app/api\",\"--port\",\"80\"] -> [\"/palisade/palisade-defender\",\"exec\",\"--\",\"/app/api\",\"--port\",\"80\"]",
        ] {
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text} became {}", shown(text));
        }
    }

    #[test]
    fn an_argv_withholds_the_element_after_a_secret_flag() {
        assert_eq!(
            redact_argv(&argv(&[
                "/app",
                "--password",
                "hunter 2",
                "--db-password",
                "--verbose",
                "-p",
                "8080"
            ])),
            argv(&[
                "/app",
                "--password",
                "***",
                "--db-password",
                "--verbose",
                "-p",
                "8080"
            ])
        );
        assert_eq!(
            redact_argv(&argv(&[
                "curl",
                "-H",
                "Authorization:",
                "Bearer",
                "abc",
                "https://x"
            ])),
            argv(&["curl", "-H", "Authorization:", "Bearer", "***", "https://x"])
        );
        assert_eq!(
            redact_argv(&argv(&[
                "sh",
                "-c",
                "psql postgres://app:hunter2@db/app --password hunter2"
            ])),
            argv(&["sh", "-c", "psql postgres://app:***@db/app --password ***"])
        );
    }

    #[test]
    fn a_summary_line_is_read_as_the_argv_it_quotes() {
        let line = r#"wrapped entryPoint of api: ["/usr/bin/env","API_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc","/app/api","--db","postgres://app:hunter2@db:5432/app","--password","hunter 2"] -> ["/palisade/palisade-defender","exec","--","/usr/bin/env","API_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc","/app/api","--db","postgres://app:hunter2@db:5432/app","--password","hunter 2"]"#;
        let redacted = shown(line);
        assert!(!redacted.contains("hunter"), "{redacted}");
        assert!(!redacted.contains("sk_live"), "{redacted}");
        assert_eq!(
            redacted,
            r#"wrapped entryPoint of api: ["/usr/bin/env","API_KEY=***","/app/api","--db","postgres://app:***@db:5432/app","--password","***"] -> ["/palisade/palisade-defender","exec","--","/usr/bin/env","API_KEY=***","/app/api","--db","postgres://app:***@db:5432/app","--password","***"]"#
        );
        // Text that only looks like an array start is read as words.
        assert_eq!(shown(r#"["--password" hunter2"#), r#"["--password" ***"#);
    }

    #[test]
    fn any_text_is_redacted_in_linear_time() {
        let hostile = [
            "eyJ-".repeat(50_000),
            "[\"".repeat(50_000),
            "[\"a\",".repeat(30_000),
            "a=".repeat(50_000),
            "--password ".repeat(20_000),
            "x://".repeat(50_000),
            "-----BEGIN ".repeat(20_000),
            "xoxb-".repeat(40_000),
            "AKIA".repeat(50_000),
            "a:x://".repeat(40_000),
            "\"password\":\"x".repeat(20_000),
            "password:\" ".repeat(40_000),
            "[\"a\\\"".repeat(40_000),
            "ghp_".repeat(50_000),
        ];
        let started = std::time::Instant::now();
        for text in &hostile {
            let _ = redact_text(text);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn operators_see_everything_and_viewers_or_nobody_no_secrets() {
        let person = |role| Principal {
            who: Who::User {
                id: 1,
                username: "ann".into(),
            },
            role,
        };
        let text = "--password hunter2";
        assert_eq!(Disclosure::for_principal(None).text(text), "--password ***");
        assert_eq!(
            Disclosure::for_principal(Some(&person(Role::Viewer))).text(text),
            "--password ***"
        );
        for role in [Role::Operator, Role::Admin] {
            let disclosure = Disclosure::for_principal(Some(&person(role)));
            assert_eq!(disclosure, Disclosure::Everything);
            assert_eq!(disclosure.text(text), text);
            assert_eq!(disclosure.lines(vec![text.into()]), [text]);
        }
    }
}
