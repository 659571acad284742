//! How a text is read: PEM private key bodies first, then plain words and, between them, JSON
//! arrays of strings read as argv; each word's secrets found by the matchers and withheld.

use super::assignments::assignments;
use super::flags::{secret_flag_without_value, Pending, Taken};
use super::shapes::{aws_secret_keys, private_key_bodies, well_known_secrets};
use super::urls::url_passwords;
use super::{redact_argv, WITHHELD};
use std::borrow::Cow;
use std::ops::Range;

/// The text redacted, and whether its last word asks for the next one to be withheld.
pub(super) fn redact_text_asking(text: &str) -> (Cow<'_, str>, Pending) {
    match private_key_bodies(text) {
        Cow::Borrowed(text) => redact_segments(text),
        Cow::Owned(text) => {
            let (redacted, pending) = redact_segments(&text);
            (Cow::Owned(redacted.into_owned()), pending)
        }
    }
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

#[cfg(test)]
mod tests {
    use crate::redact::shown;

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
}
