//! Writing YAML for a template: block style, each mapping entry and sequence item on its own
//! line, CloudFormation's short-form tags as tags (`!Ref Image`, `!If [IsProd, '3', '1']`).
//! A string is written plain only when every YAML reader takes it for the same string: text that
//! YAML 1.1 readers (PyYAML, which cfn-lint and many tools use) would read as a number, a date, a
//! boolean (`yes`, `on`) or null is quoted, as is anything with a character YAML gives a meaning.
//!
//! The same entry written at the same column with the same indentation step is the same text
//! wherever it stands: a template written whole and one whose `Properties` are written alone
//! into it agree, byte for byte.

use serde_yaml_ng::value::TaggedValue;
use serde_yaml_ng::Value as Yaml;
use std::fmt::Write as _;

/// The longest key written as `key: value`: YAML readers look at most 1024 characters ahead for
/// the `:` of a key, so a longer one is written as `? key` / `: value`.
const MAX_SIMPLE_KEY_BYTES: usize = 1000;

/// `key: value` as block YAML whose key starts at `column` and whose nested collections step in
/// by `unit` spaces: the first line without its indentation (it goes where the key was), the
/// others with theirs; lines end with `\n` and the last has none.
pub(super) fn entry(key: &str, value: &Yaml, column: usize, unit: usize) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        unit: unit.max(1),
    };
    emitter.entry(&Yaml::String(key.to_owned()), value, column);
    emitter.out
}

/// A whole document: a mapping from column 0, two spaces a level, ending with a line break.
pub(super) fn document(value: &Yaml) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        unit: 2,
    };
    match value {
        Yaml::Mapping(mapping) if !mapping.is_empty() => {
            for (index, (key, value)) in mapping.iter().enumerate() {
                if index > 0 {
                    emitter.newline(0);
                }
                emitter.entry(key, value, 0);
            }
        }
        Yaml::Sequence(items) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    emitter.newline(0);
                }
                emitter.item(item, 0);
            }
        }
        other => emitter.scalar_or_empty(other, Context::Block),
    }
    emitter.out.push('\n');
    emitter.out
}

/// Where a scalar stands: flow style (`[a, b]`) allows fewer characters unquoted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Block,
    Flow,
}

struct Emitter {
    out: String,
    /// How far a nested collection steps in.
    unit: usize,
}

impl Emitter {
    fn newline(&mut self, column: usize) {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', column));
    }

    /// `key: value`, at `column` (the current position).
    fn entry(&mut self, key: &Yaml, value: &Yaml, column: usize) {
        let mut key_emitter = Emitter {
            out: String::new(),
            unit: self.unit,
        };
        key_emitter.scalar_or_empty(key, Context::Block);
        let key_text = key_emitter.out;
        if key_text.len() > MAX_SIMPLE_KEY_BYTES || key_text.contains('\n') {
            self.out.push_str("? ");
            self.out.push_str(&key_text);
            self.newline(column);
        } else {
            self.out.push_str(&key_text);
        }
        self.out.push(':');
        self.after_indicator(value, column + self.unit);
    }

    /// `- value`, at `column` (the current position): a mapping or sequence starts on the dash's
    /// line, its other entries under its first.
    fn item(&mut self, value: &Yaml, column: usize) {
        self.out.push('-');
        let inner = column + 2;
        match value {
            Yaml::Mapping(mapping) if !mapping.is_empty() => {
                self.out.push(' ');
                for (index, (key, value)) in mapping.iter().enumerate() {
                    if index > 0 {
                        self.newline(inner);
                    }
                    self.entry(key, value, inner);
                }
            }
            Yaml::Sequence(items) if !items.is_empty() => {
                self.out.push(' ');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.newline(inner);
                    }
                    self.item(item, inner);
                }
            }
            other => self.after_indicator(other, inner),
        }
    }

    /// What follows `key:` or `-`: a scalar, a tag or an empty collection on the same line, a
    /// mapping or sequence on the next lines at `column`.
    fn after_indicator(&mut self, value: &Yaml, column: usize) {
        match value {
            Yaml::Mapping(mapping) if !mapping.is_empty() => {
                for (key, value) in mapping {
                    self.newline(column);
                    self.entry(key, value, column);
                }
            }
            Yaml::Sequence(items) if !items.is_empty() => {
                for item in items {
                    self.newline(column);
                    self.item(item, column);
                }
            }
            Yaml::Tagged(tagged) => self.tagged(tagged, column),
            other => {
                self.out.push(' ');
                self.scalar_or_empty(other, Context::Block);
            }
        }
    }

    /// `!Tag value`: a sequence of scalars in flow style (`!GetAtt [Role, Arn]`), as templates
    /// write them; anything else as it would be written without the tag.
    fn tagged(&mut self, tagged: &TaggedValue, column: usize) {
        let _ = write!(self.out, " {}", tagged.tag);
        match &tagged.value {
            Yaml::Sequence(items) if !items.is_empty() && items.iter().all(is_flow_scalar) => {
                self.out.push_str(" [");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str(", ");
                    }
                    self.scalar_or_empty(item, Context::Flow);
                }
                self.out.push(']');
            }
            other => self.after_indicator(other, column),
        }
    }

    /// A scalar, or an empty mapping or sequence, on the current line.
    fn scalar_or_empty(&mut self, value: &Yaml, context: Context) {
        match value {
            Yaml::Null => self.out.push_str("null"),
            Yaml::Bool(flag) => self.out.push_str(if *flag { "true" } else { "false" }),
            Yaml::Number(number) => {
                let _ = write!(self.out, "{number}");
            }
            Yaml::String(text) => self.string(text, context),
            Yaml::Mapping(_) => self.out.push_str("{}"),
            Yaml::Sequence(_) => self.out.push_str("[]"),
            Yaml::Tagged(tagged) => {
                let _ = write!(self.out, "{} ", tagged.tag);
                self.scalar_or_empty(&tagged.value, context);
            }
        }
    }

    /// Plain when that reads back as this same string everywhere; single-quoted when it has no
    /// character that needs an escape; double-quoted otherwise.
    fn string(&mut self, text: &str, context: Context) {
        if is_plain_safe(text, context) {
            self.out.push_str(text);
        } else if text.chars().all(is_printable) {
            self.out.push('\'');
            self.out.push_str(&text.replace('\'', "''"));
            self.out.push('\'');
        } else {
            self.out.push('"');
            for character in text.chars() {
                match character {
                    '"' => self.out.push_str("\\\""),
                    '\\' => self.out.push_str("\\\\"),
                    '\n' => self.out.push_str("\\n"),
                    '\t' => self.out.push_str("\\t"),
                    '\r' => self.out.push_str("\\r"),
                    other if is_printable(other) => self.out.push(other),
                    other if u32::from(other) <= 0xFFFF => {
                        let _ = write!(self.out, "\\u{:04X}", u32::from(other));
                    }
                    other => {
                        let _ = write!(self.out, "\\U{:08X}", u32::from(other));
                    }
                }
            }
            self.out.push('"');
        }
    }
}

/// A scalar, or a tagged scalar, as a flow sequence may hold it.
fn is_flow_scalar(value: &Yaml) -> bool {
    match value {
        Yaml::Tagged(tagged) => !matches!(
            tagged.value,
            Yaml::Mapping(_) | Yaml::Sequence(_) | Yaml::Tagged(_)
        ),
        Yaml::Mapping(_) | Yaml::Sequence(_) => false,
        _ => true,
    }
}

/// Characters YAML lets stand in a quoted scalar as they are.
fn is_printable(character: char) -> bool {
    match character {
        '\u{20}'..='\u{7E}' => true,
        '\u{A0}'..='\u{D7FF}' => character != '\u{2028}' && character != '\u{2029}',
        '\u{E000}'..='\u{FFFD}' => character != '\u{FEFF}',
        '\u{10000}'..='\u{10FFFF}' => true,
        _ => false,
    }
}

/// Words YAML 1.1 or 1.2 readers take for a boolean or null.
const RESERVED_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `text` written plain reads back as this same string in YAML 1.1 and 1.2 alike: it
/// starts with a letter, `_`, `/` or `$` (or `-` and a letter, as a command's flag: `-g`,
/// `--port`), holds only letters, digits, spaces and punctuation without meaning in YAML, and is
/// no reserved word. Whatever starts with a digit is quoted (numbers, dates, times, versions).
fn is_plain_safe(text: &str, context: Context) -> bool {
    let bytes = text.as_bytes();
    let starts_well = match bytes {
        [first, ..] if first.is_ascii_alphabetic() || matches!(first, b'_' | b'/' | b'$') => true,
        [b'-', second, ..] if second.is_ascii_alphabetic() => true,
        [b'-', b'-', third, ..] if third.is_ascii_alphabetic() => true,
        _ => false,
    };
    let allowed = |byte: &u8| {
        byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b' ' | b'_' | b'-' | b'.' | b'/' | b'@' | b'$' | b'=' | b'+' | b'(' | b')' | b';'
            )
            || (*byte == b':' && context == Context::Block)
    };
    starts_well
        && bytes.iter().all(allowed)
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !RESERVED_WORDS.contains(&text.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Yaml {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn strings_a_yaml_1_1_reader_takes_for_something_else_are_quoted() {
        for (text, written) in [
            ("2012-10-17", "'2012-10-17'"),
            ("yes", "'yes'"),
            ("Off", "'Off'"),
            ("null", "'null'"),
            ("~", "'~'"),
            ("8080", "'8080'"),
            ("1:30", "'1:30'"),
            ("0o17", "'0o17'"),
            (".inf", "'.inf'"),
            ("", "''"),
            ("=", "'='"),
            ("-1", "'-1'"),
            ("${Environment}-web", "'${Environment}-web'"),
            ("it's", "'it''s'"),
            ("a: b", "'a: b'"),
            ("line\nbreak", "\"line\\nbreak\""),
            ("bell\u{7}", "\"bell\\u0007\""),
        ] {
            let value = Yaml::String(text.to_owned());
            let entry = entry("Key", &value, 0, 2);
            assert_eq!(entry, format!("Key: {written}"), "{text:?}");
            assert_eq!(read(&entry)["Key"], value, "{entry}");
        }
        for plain in [
            "nginx",
            "daemon off;",
            "/docker-entrypoint.sh",
            "-g",
            "--port",
            "sts:AssumeRole",
            "arn:aws:iam::aws:policy/service-role/X",
            "https://palisade.example",
        ] {
            let value = Yaml::String(plain.to_owned());
            assert_eq!(entry("K", &value, 0, 2), format!("K: {plain}"));
        }
    }

    #[test]
    fn collections_are_block_style_at_the_column_and_step_asked() {
        let value = read("A: 1\nB: [x, {C: 2, D: [z]}]\nE: {}\nF: []\n");
        let text = entry("Properties", &value, 4, 2);
        assert_eq!(
            text,
            "Properties:\n      A: 1\n      B:\n        - x\n        - C: 2\n          D:\n            - z\n      E: {}\n      F: []"
        );
        let indented = format!("    {text}\n");
        assert_eq!(read(&indented)["Properties"], value);
        let wide = entry("Properties", &value, 4, 4);
        assert!(
            wide.starts_with("Properties:\n        A: 1\n        B:\n            - x"),
            "{wide}"
        );
        assert_eq!(read(&format!("    {wide}\n"))["Properties"], value);
    }

    #[test]
    fn short_form_tags_are_written_as_templates_write_them() {
        let text = "A: !Ref Image\nB: !GetAtt [Role, Arn]\nC: !If [IsProd, '3', !Ref One]\nD: !Join\n  - ''\n  - [a, !Ref B]\nE: !Sub '${AWS::Region}'\n";
        let value = read(text);
        let written = document(&value);
        assert_eq!(
            written,
            "A: !Ref Image\nB: !GetAtt [Role, Arn]\nC: !If [IsProd, '3', !Ref One]\nD: !Join\n  - ''\n  - - a\n    - !Ref B\nE: !Sub '${AWS::Region}'\n"
        );
        assert_eq!(read(&written), value);
    }

    #[test]
    fn a_key_longer_than_readers_look_ahead_is_written_as_an_explicit_key() {
        let key = "K".repeat(2000);
        let value = read(&format!("Top:\n  ? {key}\n  : v\n"));
        let written = document(&value);
        assert!(written.contains(&format!("? {key}\n  : v")), "{written}");
        assert_eq!(read(&written), value);
    }
}
