//! Reading pasted text: strict JSON (duplicate keys refused), the three input forms, and mapping a
//! JSON pointer back to the line and column it came from.

use crate::problem::{Problem, ProblemKind, Rejected};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Which of the accepted shapes the user pasted; the answer comes back in the same shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InputForm {
    /// `aws ecs describe-task-definition` output: `{"taskDefinition": {...}, "tags": [...]}`.
    DescribeOutput,
    /// A bare task definition (console JSON tab or RegisterTaskDefinition input).
    TaskDefinition,
    /// A bare `containerDefinitions` array (Terraform / CDK style).
    ContainerDefinitions,
}

impl InputForm {
    /// Its name, as serialized (`describe_output`, `task_definition`, `container_definitions`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputForm::DescribeOutput => "describe_output",
            InputForm::TaskDefinition => "task_definition",
            InputForm::ContainerDefinitions => "container_definitions",
        }
    }

    /// The form of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            InputForm::DescribeOutput,
            InputForm::TaskDefinition,
            InputForm::ContainerDefinitions,
        ]
        .into_iter()
        .find(|form| form.as_str() == name)
    }
}

/// The pasted document, recognised but not yet normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub form: InputForm,
    /// The task definition; for the container-list form, `{"containerDefinitions": [...]}`.
    pub task: Map<String, Value>,
    /// `tags` found beside `taskDefinition` in describe output.
    pub wrapper_tags: Option<Value>,
    /// Other keys beside `taskDefinition` (e.g. `ResponseMetadata`), dropped.
    pub wrapper_other_keys: Vec<String>,
}

/// Parses pasted text into one of the three forms, or says where and why it is not acceptable.
pub fn parse(text: &str) -> Result<Parsed, Rejected> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Rejected::one(
            Problem::at(ProblemKind::NotATaskDefinition, "", "the input is empty")
                .with_hint("paste a task definition, describe-task-definition output or a containerDefinitions array"),
        ));
    }
    let StrictValue(value) =
        serde_json::from_str(text).map_err(|error| syntax_problem(text, &error))?;
    match value {
        Value::Object(mut object) => match object.get("taskDefinition") {
            Some(Value::Object(_)) => {
                let Some(Value::Object(task)) = object.remove("taskDefinition") else {
                    unreachable!("checked just above")
                };
                let wrapper_tags = object.remove("tags");
                Ok(Parsed {
                    form: InputForm::DescribeOutput,
                    task,
                    wrapper_tags,
                    wrapper_other_keys: object.keys().cloned().collect(),
                })
            }
            _ => Ok(Parsed {
                form: InputForm::TaskDefinition,
                task: object,
                wrapper_tags: None,
                wrapper_other_keys: Vec::new(),
            }),
        },
        Value::Array(containers) => {
            let mut task = Map::new();
            task.insert("containerDefinitions".into(), Value::Array(containers));
            Ok(Parsed {
                form: InputForm::ContainerDefinitions,
                task,
                wrapper_tags: None,
                wrapper_other_keys: Vec::new(),
            })
        }
        other => Err(Rejected::one(
            Problem::at(
                ProblemKind::NotATaskDefinition,
                "",
                format!(
                    "the input is a JSON {}, not a task definition",
                    json_type_name(&other)
                ),
            )
            .with_hint(
                "paste a JSON object (a task definition) or an array of container definitions",
            ),
        )),
    }
}

pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Turns a serde_json error into a problem with line, column and a hint about the usual cause.
fn syntax_problem(text: &str, error: &serde_json::Error) -> Rejected {
    let full = error.to_string();
    // serde_json appends " at line L column C"; the problem carries those separately.
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(head, _)| head)
        .to_owned();
    let (line, column) = (error.line(), error.column());
    let is_duplicate = message.starts_with("duplicate key");
    let near = char_at(text, line, column);
    if message.starts_with("recursion limit exceeded") {
        // serde_json stops at 128 levels; its words would send the user looking for a typo.
        return Rejected::one(Problem {
            kind: ProblemKind::Limit,
            pointer: None,
            line: (line > 0).then_some(line),
            column: (line > 0).then_some(column),
            message: "the document nests deeper than 128 levels here".to_owned(),
            hint: Some("no task definition or template nests this deep: look for brackets (`[`, `{`) opened and never closed before this place".to_owned()),
            container: None,
        });
    }
    let hint = if is_duplicate {
        "keep one of the two entries: JSON tools disagree on which one wins".to_owned()
    } else if message.contains("trailing comma") {
        "remove the comma before the closing bracket".to_owned()
    } else if message.contains("trailing characters") {
        "remove what follows the end of the document (an extra `}` or `]`?)".to_owned()
    } else if error.is_eof() {
        "the document ends early: a closing `}` or `]` or a quote is missing".to_owned()
    } else if matches!(near, Some('$' | '{' | '<'))
        || message.contains("expected value") && near.is_some_and(char::is_alphabetic)
    {
        "this looks like an unrendered template placeholder; render the template first, or quote the value".to_owned()
    } else if message.contains("key must be a string") {
        "object keys need double quotes".to_owned()
    } else if message.contains("expected `,`") {
        "a comma is probably missing at the end of the previous value".to_owned()
    } else {
        "fix the JSON syntax here".to_owned()
    };
    Rejected::one(Problem {
        kind: if is_duplicate {
            ProblemKind::DuplicateKey
        } else {
            ProblemKind::Syntax
        },
        pointer: None,
        line: (line > 0).then_some(line),
        column: (line > 0).then_some(column),
        message: format!(
            "{message}{}",
            near.map(|c| format!(" (near `{c}`)")).unwrap_or_default()
        ),
        hint: Some(hint),
        container: None,
    })
}

/// The character serde_json's error position points at (1-based line and column).
fn char_at(text: &str, line: usize, column: usize) -> Option<char> {
    let line_text = text.lines().nth(line.checked_sub(1)?)?;
    line_text
        .chars()
        .nth(column.saturating_sub(1))
        .filter(|c| !c.is_whitespace())
}

/// A `serde_json::Value` that refuses duplicate object keys instead of keeping the last one.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let StrictValue(value) = access.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Finds the line and column (1-based) where the value at `pointer` starts in `text`.
///
/// Keys match case-insensitively because normalization may have fixed their case; when the
/// pointer goes deeper than the text (a missing key), the deepest existing parent is returned.
pub fn locate(text: &str, pointer: &str) -> Option<(usize, usize)> {
    locate_all(text, &[pointer]).pop().flatten()
}

/// [`locate`] for many pointers at once, in one pass over the text: only the values on the way to
/// a wanted pointer are entered, everything else is skipped, so ten thousand problems in a
/// megabyte cost one read of it, not ten thousand. The wanted pointers are a tree of their
/// tokens: a member is looked up by its own key, never by the whole pointer to it, which under a
/// long key would be read again for every member.
pub fn locate_all(text: &str, pointers: &[&str]) -> Vec<Option<(usize, usize)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut tree = WantedTree::default();
    // For each pointer, the tree node of each of its prefixes (the whole document first).
    let paths: Vec<Vec<usize>> = pointers
        .iter()
        .map(|pointer| tree.add(&pointer.to_ascii_lowercase()))
        .collect();
    let mut walk = Walk {
        bytes: text.as_bytes(),
        tree: &tree,
        found: vec![None; tree.nodes.len()],
        key: String::new(),
    };
    let root = skip_whitespace(walk.bytes, 0);
    if root < walk.bytes.len() && tree.root_wanted {
        walk.value(root, WantedTree::ROOT, 0);
    }
    // The deepest part of each pointer the text has.
    let offsets: Vec<Option<usize>> = paths
        .iter()
        .map(|path| path.iter().rev().find_map(|&node| walk.found[node]))
        .collect();
    line_columns(text, &offsets)
}

/// The wanted pointers' tokens (keys lowercased, escaped as in JSON pointers), as a tree.
#[derive(Default)]
struct WantedTree {
    /// Each node's children by token; node 0 is the whole document.
    nodes: Vec<std::collections::HashMap<String, usize>>,
    /// Whether any pointer is one (`""` or starting with `/`): another names nothing.
    root_wanted: bool,
}

impl WantedTree {
    const ROOT: usize = 0;

    /// Adds a (lowercased) pointer; answers its path of nodes, empty when it names nothing.
    fn add(&mut self, pointer: &str) -> Vec<usize> {
        if self.nodes.is_empty() {
            self.nodes.push(std::collections::HashMap::new());
        }
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Vec::new();
        }
        self.root_wanted = true;
        let mut path = vec![Self::ROOT];
        let mut node = Self::ROOT;
        for token in pointer.split('/').skip(1) {
            let next = self.nodes.len();
            node = *self.nodes[node].entry(token.to_owned()).or_insert(next);
            if node == next {
                self.nodes.push(std::collections::HashMap::new());
            }
            path.push(node);
        }
        path
    }
}

/// Turns byte offsets into 1-based (line, column in characters), in one sweep over the text.
fn line_columns(text: &str, offsets: &[Option<usize>]) -> Vec<Option<(usize, usize)>> {
    let mut order: Vec<usize> = (0..offsets.len())
        .filter(|&index| offsets[index].is_some())
        .collect();
    order.sort_by_key(|&index| offsets[index]);
    let mut answers = vec![None; offsets.len()];
    let (mut line, mut column) = (1, 1);
    let mut characters = text.char_indices().peekable();
    for index in order {
        let target = offsets[index].unwrap_or_default();
        while let Some(&(position, character)) = characters.peek() {
            if position >= target {
                break;
            }
            if character == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
            characters.next();
        }
        answers[index] = Some((line, column));
    }
    answers
}

/// The walk of [`locate_all`]: where each wanted value starts.
struct Walk<'a> {
    bytes: &'a [u8],
    tree: &'a WantedTree,
    found: Vec<Option<usize>>,
    /// The member being looked up (reused: one allocation for the walk).
    key: String,
}

#[cfg(test)]
thread_local! {
    /// How many bytes of keys the walk has looked up on this thread: tests measure its work.
    static LOOKED_UP_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Levels the walk enters at most: the texts it reads passed serde_json, which stops at 128, and
/// a deeper text must not exhaust the stack (the walk recurses once per level).
const MAX_WALK_DEPTH: usize = 128;

impl Walk<'_> {
    /// Records the value at `at` as the tree's `node` and enters it; returns the position just
    /// past it.
    fn value(&mut self, at: usize, node: usize, depth: usize) -> Option<usize> {
        self.found[node] = Some(at);
        let bytes = self.bytes;
        let (close, is_object) = match bytes.get(at)? {
            b'{' if depth < MAX_WALK_DEPTH => (b'}', true),
            b'[' if depth < MAX_WALK_DEPTH => (b']', false),
            _ => return skip_value(bytes, at),
        };
        let mut position = skip_whitespace(bytes, at + 1);
        for index in 0usize.. {
            if *bytes.get(position)? == close {
                return Some(position + 1);
            }
            self.key.clear();
            if is_object {
                let key_end = skip_string(bytes, position)?;
                let raw = &bytes[position + 1..key_end - 1];
                let unescaped: String;
                let key = if raw.contains(&b'\\') {
                    unescaped = serde_json::from_slice(&bytes[position..key_end]).ok()?;
                    std::borrow::Cow::Borrowed(unescaped.as_str())
                } else {
                    String::from_utf8_lossy(raw)
                };
                for character in key.chars() {
                    match character {
                        '~' => self.key.push_str("~0"),
                        '/' => self.key.push_str("~1"),
                        other => self.key.push(other.to_ascii_lowercase()),
                    }
                }
                position = skip_whitespace(bytes, key_end);
                if bytes.get(position) != Some(&b':') {
                    return None;
                }
                position = skip_whitespace(bytes, position + 1);
            } else {
                use std::fmt::Write as _;
                let _ = write!(self.key, "{index}");
            }
            #[cfg(test)]
            LOOKED_UP_BYTES.with(|bytes| bytes.set(bytes.get() + self.key.len()));
            let end = match self.tree.nodes[node].get(self.key.as_str()) {
                Some(&child) => self.value(position, child, depth + 1),
                None => skip_value(bytes, position),
            };
            position = skip_whitespace(bytes, end?);
            match bytes.get(position)? {
                b',' => position = skip_whitespace(bytes, position + 1),
                byte if *byte == close => return Some(position + 1),
                _ => return None,
            }
        }
        None
    }
}

pub(crate) fn skip_whitespace(bytes: &[u8], mut position: usize) -> usize {
    while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
        position += 1;
    }
    position
}

/// Position just past the value starting at `position` (which must be on its first byte).
pub(crate) fn skip_value(bytes: &[u8], position: usize) -> Option<usize> {
    match bytes.get(position)? {
        b'"' => skip_string(bytes, position),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = position;
            while at < bytes.len() {
                match bytes[at] {
                    b'"' => {
                        at = skip_string(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            None
        }
        _ => {
            let mut at = position;
            while at < bytes.len()
                && !matches!(bytes[at], b',' | b'}' | b']')
                && !bytes[at].is_ascii_whitespace()
            {
                at += 1;
            }
            Some(at)
        }
    }
}

pub(crate) fn skip_string(bytes: &[u8], position: usize) -> Option<usize> {
    let mut at = position + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_output_is_unwrapped_and_keeps_its_tags_aside() {
        let parsed =
            parse(r#"{"taskDefinition": {"family": "a"}, "tags": [{"key": "k", "value": "v"}]}"#)
                .unwrap();
        assert_eq!(parsed.form, InputForm::DescribeOutput);
        assert_eq!(parsed.task["family"], "a");
        assert!(parsed.wrapper_tags.is_some());
    }

    #[test]
    fn a_container_array_is_its_own_form() {
        let parsed = parse(r#"[{"name": "a", "image": "b"}]"#).unwrap();
        assert_eq!(parsed.form, InputForm::ContainerDefinitions);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let rejected = parse("{\n  \"a\": 1,\n  \"a\": 2\n}").unwrap_err();
        assert_eq!(rejected.problems[0].kind, ProblemKind::DuplicateKey);
        assert_eq!(rejected.problems[0].line, Some(3));
        assert!(rejected.problems[0].message.contains("`a`"));
    }

    #[test]
    fn a_trailing_comma_names_line_and_column() {
        let rejected = parse("{\n  \"a\": [1,\n  ]\n}").unwrap_err();
        let problem = &rejected.problems[0];
        assert_eq!(problem.kind, ProblemKind::Syntax);
        assert_eq!(problem.line, Some(3));
        assert!(problem.hint.as_deref().unwrap().contains("comma"));
    }

    #[test]
    fn an_unquoted_placeholder_is_called_a_placeholder() {
        let rejected = parse("{\n  \"containerPort\": ${port}\n}").unwrap_err();
        assert!(rejected.problems[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("placeholder"));
    }

    #[test]
    fn members_under_a_long_key_are_looked_up_by_their_own_key_alone() {
        // 20,000 members under a key of 100,000 characters, one of them wanted.
        let members: Vec<String> = (0..20_000).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!(
            "{{\"{}\": {{{}}}}}",
            "K".repeat(100_000),
            members.join(", ")
        );
        let pointer = format!("/{}/k19999", "k".repeat(100_000));
        LOOKED_UP_BYTES.with(|bytes| bytes.set(0));
        let place = locate_all(&text, &[&pointer])[0].unwrap();
        assert!(text[place.1 - 1..].starts_with("19999"));
        // Each key is read once: looking members up by the whole pointer read the long key
        // again for each of them (two billion bytes).
        let looked_up = LOOKED_UP_BYTES.with(std::cell::Cell::get);
        assert!(
            looked_up <= text.len(),
            "{looked_up} bytes of {}",
            text.len()
        );
    }

    #[test]
    fn a_pointer_that_is_not_one_places_nothing_and_the_document_is_the_empty_one() {
        let text = "{\"a\": [1, {\"b\": 2}]}";
        assert_eq!(
            locate_all(text, &["a", "", "/a/1/b", "/a/1/b/c", "/A/01"]),
            [
                None,
                Some((1, 1)),
                Some((1, 17)),
                Some((1, 17)),
                Some((1, 7))
            ]
        );
        assert_eq!(locate_all(text, &["a"]), [None]);
    }

    #[test]
    fn nesting_past_the_parsers_limit_is_named_as_such_with_its_place() {
        for opener in ["[", "{\"a\": "] {
            let text = format!("{{\"family\": {}", opener.repeat(200_000));
            let rejected = parse(&text).unwrap_err();
            let problem = &rejected.problems[0];
            assert_eq!(problem.kind, ProblemKind::Limit, "{problem}");
            assert!(problem.message.contains("deeper than 128"), "{problem}");
            assert_eq!(problem.line, Some(1));
            assert!(
                problem.column.is_some_and(|column| column < 1000),
                "{problem}"
            );
        }
    }

    #[test]
    fn scalars_and_empty_input_are_not_task_definitions() {
        assert!(parse("42")
            .unwrap_err()
            .has(ProblemKind::NotATaskDefinition));
        assert!(parse("  \n")
            .unwrap_err()
            .has(ProblemKind::NotATaskDefinition));
    }

    #[test]
    fn locate_follows_pointers_through_objects_and_arrays() {
        let text = "{\n  \"containerDefinitions\": [\n    {\"name\": \"a\"},\n    {\n      \"Name\": \"b\"\n    }\n  ]\n}";
        assert_eq!(locate(text, "/containerDefinitions/1/name"), Some((5, 15)));
        assert_eq!(locate(text, "/containerDefinitions/0"), Some((3, 5)));
        // A missing key falls back to its parent.
        assert_eq!(locate(text, "/containerDefinitions/0/image"), Some((3, 5)));
        assert_eq!(locate(text, "/nothing/here"), Some((1, 1)));
    }

    #[test]
    fn many_pointers_are_located_in_one_pass_with_escapes_and_wide_characters() {
        let text = "\u{feff}{\"é\": \"ü\", \"a/b\": {\"x~y\": [1, 2, {\"k\\u0021\": true}]},\n \"last\": null}";
        let pointers = [
            "/a~1b/x~0y/2/k!",
            "/last",
            "/a~1b/x~0y/1",
            "/missing",
            "/A~1B",
        ];
        assert_eq!(
            locate_all(text, &pointers),
            [
                Some((1, 46)),
                Some((2, 10)),
                Some((1, 31)),
                Some((1, 1)),
                Some((1, 19))
            ]
        );
        // Ten thousand problems on one line: each found where it is.
        let items: Vec<String> = (0..10_000).map(|i| format!("{{\"p\": {i}}}")).collect();
        let text = format!("{{\"list\": [{}]}}", items.join(","));
        let pointers: Vec<String> = (0..10_000).map(|i| format!("/list/{i}/p")).collect();
        let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
        let located = locate_all(&text, &pointers);
        for (index, place) in located.iter().enumerate() {
            let (line, column) = place.unwrap();
            assert_eq!(line, 1);
            // ASCII: the column is the byte offset plus one.
            assert!(
                text[column - 1..].starts_with(&index.to_string()),
                "{index} at {column}"
            );
        }
    }

    /// The locator as it was (each member looked up by its whole pointer): what the tree must
    /// answer.
    fn locate_all_by_whole_pointers(text: &str, pointers: &[&str]) -> Vec<Option<(usize, usize)>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lowered: Vec<String> = pointers.iter().map(|p| p.to_ascii_lowercase()).collect();
        // Every wanted pointer and each of its parents: the walk enters exactly these.
        let mut wanted = std::collections::HashSet::new();
        for pointer in &lowered {
            let mut end = pointer.len();
            loop {
                wanted.insert(&pointer[..end]);
                match pointer[..end].rfind('/') {
                    Some(slash) => end = slash,
                    None => break,
                }
            }
        }
        let mut walk = WholePointerWalk {
            bytes: text.as_bytes(),
            wanted: &wanted,
            found: std::collections::HashMap::new(),
            pointer: String::new(),
        };
        let root = skip_whitespace(walk.bytes, 0);
        if root < walk.bytes.len() {
            walk.value(root);
        }
        // The deepest part of each pointer the text has.
        let offsets: Vec<Option<usize>> = lowered
            .iter()
            .map(|pointer| {
                let mut end = pointer.len();
                loop {
                    if let Some(&offset) = walk.found.get(&pointer[..end]) {
                        return Some(offset);
                    }
                    end = pointer[..end].rfind('/')?;
                }
            })
            .collect();
        line_columns(text, &offsets)
    }

    struct WholePointerWalk<'a> {
        bytes: &'a [u8],
        wanted: &'a std::collections::HashSet<&'a str>,
        found: std::collections::HashMap<String, usize>,
        pointer: String,
    }

    impl WholePointerWalk<'_> {
        /// Records the value at `at` when wanted and enters it; returns the position just past it.
        fn value(&mut self, at: usize) -> Option<usize> {
            if !self.wanted.contains(self.pointer.as_str()) {
                return skip_value(self.bytes, at);
            }
            self.found.insert(self.pointer.clone(), at);
            let bytes = self.bytes;
            let (close, is_object) = match bytes.get(at)? {
                b'{' => (b'}', true),
                b'[' => (b']', false),
                _ => return skip_value(bytes, at),
            };
            let mut position = skip_whitespace(bytes, at + 1);
            for index in 0usize.. {
                if *bytes.get(position)? == close {
                    return Some(position + 1);
                }
                let depth = self.pointer.len();
                self.pointer.push('/');
                if is_object {
                    let key_end = skip_string(bytes, position)?;
                    let raw = &bytes[position + 1..key_end - 1];
                    let key: String = if raw.contains(&b'\\') {
                        serde_json::from_slice(&bytes[position..key_end]).ok()?
                    } else {
                        String::from_utf8_lossy(raw).into_owned()
                    };
                    for character in key.chars() {
                        match character {
                            '~' => self.pointer.push_str("~0"),
                            '/' => self.pointer.push_str("~1"),
                            other => self.pointer.push(other.to_ascii_lowercase()),
                        }
                    }
                    position = skip_whitespace(bytes, key_end);
                    if bytes.get(position) != Some(&b':') {
                        return None;
                    }
                    position = skip_whitespace(bytes, position + 1);
                } else {
                    self.pointer.push_str(&index.to_string());
                }
                let end = self.value(position);
                self.pointer.truncate(depth);
                position = skip_whitespace(bytes, end?);
                match bytes.get(position)? {
                    b',' => position = skip_whitespace(bytes, position + 1),
                    byte if *byte == close => return Some(position + 1),
                    _ => return None,
                }
            }
            None
        }
    }

    proptest::proptest! {
        #[test]
        fn the_tree_places_every_pointer_where_whole_pointers_did(
            document in proptest::collection::vec((0usize..4, 0usize..3), 1..30),
            pointers in proptest::collection::vec(proptest::collection::vec(0usize..6, 0..5), 1..12),
        ) {
            // A document of nested objects and arrays, keys differing only by case among them.
            let keys = ["a", "A", "b", "a/b", "~x", "0"];
            let mut text = String::from("{");
            let mut open: Vec<char> = vec!['}'];
            for (kind, key) in document {
                if kind == 3 {
                    match open.pop() {
                        Some(close) => text.push(close),
                        None => break,
                    }
                    if open.is_empty() {
                        break;
                    }
                    continue;
                }
                if !matches!(text.chars().last(), None | Some('{' | '[')) {
                    text.push_str(", ");
                }
                if open.last() == Some(&'}') {
                    text.push_str(&format!("\"{}\": ", keys[key]));
                }
                match kind {
                    0 => {
                        text.push('{');
                        open.push('}');
                    }
                    1 => {
                        text.push('[');
                        open.push(']');
                    }
                    _ => text.push('1'),
                }
                if open.is_empty() {
                    break;
                }
            }
            while let Some(close) = open.pop() {
                text.push(close);
            }
            proptest::prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
            let pointers: Vec<String> = pointers
                .iter()
                .map(|tokens| tokens.iter().map(|&token| format!("/{}", ["a", "B", "a~1b", "~0x", "0", "1"][token])).collect())
                .collect();
            let wanted: Vec<&str> = pointers.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(locate_all(&text, &wanted), locate_all_by_whole_pointers(&text, &wanted), "{}", text);
        }
    }
}
