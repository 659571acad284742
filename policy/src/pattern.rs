//! An allow or deny entry's executable: an absolute path or a shell-style glob over one, compiled
//! once when the policy is read so judging a process compiles nothing.

use std::fmt;

use glob::{MatchOptions, Pattern};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::MAX_PATTERN_CHARS;

/// `*` and `?` stay within one path component; `**` (a whole component) crosses any number.
const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// `/usr/bin/curl`, `/opt/app/bin/*`, `/**/xmrig`. Serialized as the plain string; one that is
/// not a usable pattern is kept (so [`crate::Policy::check`] can name it) but matches nothing.
#[derive(Clone)]
pub struct ExecPattern {
    text: String,
    compiled: Result<Pattern, String>,
}

impl ExecPattern {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let compiled = compile(&text);
        ExecPattern { text, compiled }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Why this pattern matches nothing, when it is not usable.
    pub fn error(&self) -> Option<&str> {
        self.compiled.as_ref().err().map(String::as_str)
    }

    /// Whether `path` (cleaned as [`crate::ExecFacts::executable_path`] does) matches.
    pub fn matches(&self, path: &str) -> bool {
        match &self.compiled {
            Ok(pattern) => pattern.matches_with(path, OPTIONS),
            Err(_) => false,
        }
    }
}

fn compile(text: &str) -> Result<Pattern, String> {
    if text.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "the pattern is longer than {MAX_PATTERN_CHARS} characters"
        ));
    }
    if !text.starts_with('/') {
        return Err("the pattern is not an absolute path (it must start with `/`)".into());
    }
    Pattern::new(text).map_err(|error| {
        format!(
            "the pattern is not a valid glob: {} at character {}",
            error.msg,
            error.pos + 1
        )
    })
}

impl PartialEq for ExecPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ExecPattern {}

impl fmt::Debug for ExecPattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, formatter)
    }
}

impl fmt::Display for ExecPattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl From<&str> for ExecPattern {
    fn from(text: &str) -> Self {
        ExecPattern::new(text)
    }
}

impl Serialize for ExecPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ExecPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ExecPattern::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_stays_in_its_folder_and_a_double_star_crosses_folders() {
        let star = ExecPattern::new("/usr/local/bin/*");
        assert!(star.matches("/usr/local/bin/app"));
        assert!(!star.matches("/usr/local/bin/sub/app"));
        let any = ExecPattern::new("/**/xmrig");
        assert!(any.matches("/xmrig"));
        assert!(any.matches("/home/u/.cache/xmrig"));
        assert!(ExecPattern::new("/tmp/*").matches("/tmp/.hidden"));
        assert!(ExecPattern::new("/usr/bin/curl").matches("/usr/bin/curl"));
        assert!(!ExecPattern::new("/usr/bin/curl").matches("/usr/bin/curl2"));
    }

    #[test]
    fn an_unusable_pattern_says_why_and_matches_nothing() {
        for (text, why) in [
            ("curl", "absolute"),
            ("/a/[", "valid glob"),
            ("/a**/b", "valid glob"),
        ] {
            let pattern = ExecPattern::new(text);
            assert!(pattern.error().unwrap().contains(why), "{text}");
            assert!(!pattern.matches("/a/b"), "{text}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATTERN_CHARS));
        assert!(ExecPattern::new(long).error().unwrap().contains("longer"));
        assert_eq!(ExecPattern::new("/ok/*").error(), None);
    }

    #[test]
    fn a_pattern_round_trips_as_its_text() {
        let pattern: ExecPattern = serde_json::from_str(r#""/opt/**/bin/*""#).unwrap();
        assert_eq!(
            serde_json::to_string(&pattern).unwrap(),
            r#""/opt/**/bin/*""#
        );
        assert_eq!(pattern, ExecPattern::new("/opt/**/bin/*"));
    }
}
