//! Where the `Properties` value of each wanted resource stands in a JSON template's text, and
//! that value written anew in the layout around it: on one line when it was on one line,
//! otherwise indented like the template (the indentation of the `"Properties"` key's line, and
//! the step that makes it the third level: two spaces, four, a tab...).

use crate::parse::{skip_string, skip_value, skip_whitespace};
use serde::Serialize;
use serde_json::ser::{PrettyFormatter, Serializer};
use serde_json::Value;

/// A resource's `Properties` value in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PropertiesSpan {
    /// Byte offsets of the value, its first byte to just past its last.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) layout: Layout,
}

/// How the value is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// On one line, without spaces.
    Compact,
    /// One member a line: each nested line starts with `base`, then `step` per level.
    Pretty { base: String, step: String },
}

/// The `Properties` value of each resource of `ids` (under the top-level `Resources`), `None` for
/// those not found. A key given twice counts as JSON readers count it: the last one.
pub(super) fn properties_spans(text: &str, ids: &[&str]) -> Vec<Option<PropertiesSpan>> {
    let bytes = text.as_bytes();
    let mut spans = vec![None; ids.len()];
    let root = skip_whitespace(bytes, 0);
    let Some(resources) = members(bytes, root)
        .into_iter()
        .flatten()
        .rfind(|member| member.key == "Resources")
    else {
        return spans;
    };
    for resource in members(bytes, resources.value).into_iter().flatten() {
        let Some(index) = ids.iter().position(|id| *id == resource.key) else {
            continue;
        };
        let properties = members(bytes, resource.value)
            .into_iter()
            .flatten()
            .rfind(|member| member.key == "Properties");
        spans[index] = properties.map(|properties| PropertiesSpan {
            start: properties.value,
            end: properties.value_end,
            layout: layout(
                text,
                properties.key_start,
                properties.value,
                properties.value_end,
            ),
        });
    }
    spans
}

/// `value` written in `layout`, lines ending with `\n` (none after the last).
pub(super) fn write_value(value: &Value, layout: &Layout) -> String {
    match layout {
        Layout::Compact => serde_json::to_string(value).unwrap_or_default(),
        Layout::Pretty { base, step } => {
            let mut out = Vec::new();
            let mut serializer =
                Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(step.as_bytes()));
            if value.serialize(&mut serializer).is_err() {
                return String::new();
            }
            String::from_utf8_lossy(&out).replace('\n', &format!("\n{base}"))
        }
    }
}

/// One member of an object in the text.
struct Member {
    key: String,
    key_start: usize,
    value: usize,
    value_end: usize,
}

/// The members of the object starting at `at`, `None` when there is none there.
fn members(bytes: &[u8], at: usize) -> Option<Vec<Member>> {
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut found = Vec::new();
    let mut position = skip_whitespace(bytes, at + 1);
    if bytes.get(position) == Some(&b'}') {
        return Some(found);
    }
    loop {
        let key_end = skip_string(bytes, position)?;
        let key: String = serde_json::from_slice(&bytes[position..key_end]).ok()?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value = skip_whitespace(bytes, colon + 1);
        let value_end = skip_value(bytes, value)?;
        found.push(Member {
            key,
            key_start: position,
            value,
            value_end,
        });
        position = skip_whitespace(bytes, value_end);
        match bytes.get(position)? {
            b',' => position = skip_whitespace(bytes, position + 1),
            b'}' => return Some(found),
            _ => return None,
        }
    }
}

/// The layout of the value at `value..value_end`, whose key starts at `key_start`: the key's
/// line gives the indentation, which is the third level (`Resources`, the resource, `Properties`).
fn layout(text: &str, key_start: usize, value: usize, value_end: usize) -> Layout {
    if !text[value..value_end].contains('\n') {
        return Layout::Compact;
    }
    let line_start = text[..key_start].rfind('\n').map_or(0, |at| at + 1);
    let base: String = text[line_start..key_start]
        .chars()
        .take_while(|character| *character == ' ' || *character == '\t')
        .collect();
    let step = if !base.is_empty() && base.len() % 3 == 0 && base.bytes().all(|b| b == b' ') {
        " ".repeat(base.len() / 3)
    } else if base == "\t\t\t" {
        "\t".to_owned()
    } else {
        "  ".to_owned()
    };
    Layout::Pretty { base, step }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_wanted_resource_gets_its_properties_value_and_layout() {
        let text = "{\n    \"Resources\": {\n        \"Other\": {\"Properties\": {}},\n        \"Task\": {\n            \"Type\": \"AWS::ECS::TaskDefinition\",\n            \"Properties\": {\n                \"Family\": \"web\"\n            }\n        },\n        \"Flat\": {\"Properties\": {\"A\": [1, 2]}}\n    }\n}";
        let spans = properties_spans(text, &["Task", "Flat", "Missing"]);
        let task = spans[0].clone().unwrap();
        assert_eq!(
            &text[task.start..task.end],
            "{\n                \"Family\": \"web\"\n            }"
        );
        assert_eq!(
            task.layout,
            Layout::Pretty {
                base: " ".repeat(12),
                step: " ".repeat(4)
            }
        );
        assert_eq!(
            write_value(&json!({"Family": "web"}), &task.layout),
            "{\n                \"Family\": \"web\"\n            }"
        );
        let flat = spans[1].clone().unwrap();
        assert_eq!(&text[flat.start..flat.end], "{\"A\": [1, 2]}");
        assert_eq!(flat.layout, Layout::Compact);
        assert_eq!(spans[2], None);
    }

    #[test]
    fn escaped_keys_are_read_and_broken_text_gives_no_span() {
        let text = r#"{"Resources": {"T\u0061sk": {"Properties": {"A": "}"}}}}"#;
        let span = properties_spans(text, &["Task"])[0].clone().unwrap();
        assert_eq!(&text[span.start..span.end], r#"{"A": "}"}"#);
        assert_eq!(
            properties_spans(r#"{"Resources": {"Task": "#, &["Task"]),
            [None]
        );
        assert_eq!(properties_spans("[]", &["Task"]), [None]);
    }
}
