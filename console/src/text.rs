//! Small helpers the domain modules share: digests, random identifiers, "blank means unset", an
//! error's chain of causes in one line, and text from outside (defenders) made printable.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt::Write;

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(bytes.as_ref()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `bytes` random bytes from the operating system, as hex.
pub fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)?;
    Ok(hex(&buffer))
}

/// A form field or option as a value: trimmed, and `None` when blank (what an empty field sends).
pub fn non_blank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// An error and its sources, `: `-joined, without repeating a cause already in the text (the AWS
/// SDK's own rendering would append a page of Debug output instead).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether `c` would act on a terminal, a log or a page instead of showing: control characters
/// (C0, DEL, C1: escape sequences, bells, newlines that forge log lines), the bidirectional
/// formatting characters (they reorder what is shown around them) and the Unicode line and
/// paragraph separators (newlines to some readers).
fn acts_instead_of_showing(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// `text` as it may be written to a terminal, a log line, a CSV cell or a page: every character
/// that would act instead of showing is written as a visible escape (`\n`, `\r`, `\t`, else
/// `\u{1b}`), so a defender's strings are read as data. A literal backslash stays as it is (the
/// JSON API has the exact text). Borrowed when nothing needed escaping, the usual case.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_instead_of_showing) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if acts_instead_of_showing(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// JSON text (as serde_json writes it) with the characters [`printable`] escapes and serde_json
/// leaves raw (DEL, C1, bidirectional formatting, line separators) written as `\uXXXX`: the same
/// JSON value, safe to print on a terminal. Outside strings JSON text is ASCII, so every such
/// character is inside a string, where the escape means the character itself.
pub fn json_printable(json: &str) -> Cow<'_, str> {
    // C0 characters in serde_json's text are its own layout (pretty-printing's newlines): inside
    // strings it has escaped them already.
    let left_raw = |c: char| c >= ' ' && acts_instead_of_showing(c);
    if !json.chars().any(left_raw) {
        return Cow::Borrowed(json);
    }
    let mut shown = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if left_raw(c) {
            // All of them are in the Basic Multilingual Plane: one \u escape each.
            let _ = write!(shown, "\\u{:04x}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_blanks() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(random_hex(16).unwrap().len(), 32);
        assert_ne!(random_hex(16).unwrap(), random_hex(16).unwrap());
        assert_eq!(non_blank(Some("  eu-west-1 ")), Some("eu-west-1".into()));
        assert_eq!(non_blank(Some("   ")), None);
        assert_eq!(non_blank(None), None);
    }

    #[test]
    fn control_characters_are_shown_escaped_and_plain_text_is_untouched() {
        assert!(matches!(
            printable("arn:aws:ecs:eu-west-1:1:task/prod/ab12 é ✓"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("x\u{1b}]0;owned\u{7}\n2026 INFO sign-in ok\r\t\u{1b}[2K"),
            "x\\u{1b}]0;owned\\u{7}\\n2026 INFO sign-in ok\\r\\t\\u{1b}[2K"
        );
        // DEL, C1 (8-bit CSI), bidirectional overrides, Unicode line separators.
        assert_eq!(
            printable("a\u{7f}b\u{9b}c\u{202e}d\u{2028}e"),
            "a\\u{7f}b\\u{9b}c\\u{202e}d\\u{2028}e"
        );
        let shown = printable("\u{0}\u{1f}\u{85}\u{2066}");
        assert!(!shown.chars().any(acts_instead_of_showing), "{shown}");
    }

    #[test]
    fn json_made_printable_is_the_same_value() {
        let value = serde_json::json!({"task": "a\u{1b}[2K\n\u{9b}31m\u{202e}\u{7f}é"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        assert!(text.contains('\u{9b}'), "serde_json leaves C1 raw: {text}");
        let shown = json_printable(&text);
        assert!(
            !shown
                .chars()
                .any(|c| c >= ' ' && acts_instead_of_showing(c)),
            "{shown}"
        );
        assert!(shown.contains("\\u009b"), "{shown}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            value
        );
    }
}
