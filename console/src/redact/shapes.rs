//! Strings shaped like well-known secrets, whatever surrounds them: AWS keys, GitHub, Slack,
//! Stripe and Google tokens, JWTs, Palisade's own tokens, and the bodies of PEM private keys.

use super::WITHHELD;
use std::borrow::Cow;
use std::ops::Range;

/// The bodies of PEM private key blocks withheld (markers kept, so the reader sees a key was
/// there). A block without its end marker (a cut command line) is withheld to the end.
pub(super) fn private_key_bodies(text: &str) -> Cow<'_, str> {
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
pub(super) fn well_known_secrets(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
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
pub(super) fn aws_secret_keys(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
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
    use crate::redact::{shown, WITHHELD};

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
}
