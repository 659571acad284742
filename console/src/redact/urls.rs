//! Passwords in URLs: `scheme://user:PASS@host`.

use std::ops::Range;

/// The password of every `scheme://user:PASSWORD@host` in the word goes into `ranges`; answers
/// the authorities (`user:password@host:port`), whose `:` are not key-value separators.
pub(super) fn url_passwords(word: &str, ranges: &mut Vec<Range<usize>>) -> Vec<Range<usize>> {
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

#[cfg(test)]
mod tests {
    use crate::redact::shown;

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
}
