//! Writing a template back: the text as it came, with the `Properties` of each changed task
//! definition resource written anew in their place (`yaml_spans` and `yaml_emit`, `json_spans`);
//! every other byte (comments, quotes, indentation, the other resources) is kept. Each text so
//! written is read back and must mean the template with its changes. When one does not (a
//! template in flow style, a task definition whose anchor another resource's alias names...),
//! the whole template is written anew, and so is every text written with it (a diff's two
//! sides), so that those are written alike. A YAML template written whole has its entries
//! written exactly as a `Properties` written alone at the same place, so writing it again, or
//! unprotecting it, changes only the task definitions.

use super::intrinsics::{token_index, Intrinsic};
use super::read::{from_yaml, Reading};
use super::{
    json_spans, yaml_emit, yaml_nesting, yaml_reading, yaml_spans, TemplateFormat,
    MAX_TEMPLATE_NESTING,
};
use crate::to_pretty;
use serde_json::Value;
use std::ops::Range;

/// New `Properties` for some task definition resources, by logical ID, in the template's
/// spelling (intrinsic functions as tokens).
pub(super) type Changes = [(String, Value)];

/// The template of `text` (read as `reading`) written once per set of changes, in its format.
pub(super) fn write_changed(
    text: &str,
    reading: &Reading,
    change_sets: &[&Changes],
) -> Vec<String> {
    let expected: Vec<Value> = change_sets
        .iter()
        .map(|changes| with_changes(&reading.root, changes))
        .collect();
    let spliced: Option<Vec<String>> = change_sets
        .iter()
        .zip(&expected)
        .map(|(changes, expected)| spliced(text, reading, changes, expected))
        .collect();
    spliced.unwrap_or_else(|| {
        expected
            .iter()
            .map(|root| write_whole(reading.format, root, &reading.intrinsics))
            .collect()
    })
}

/// The template's value with the changes made.
fn with_changes(root: &Value, changes: &Changes) -> Value {
    let mut root = root.clone();
    for (id, properties) in changes {
        root["Resources"][id]["Properties"] = properties.clone();
    }
    root
}

/// `text` with each changed resource's `Properties` replaced; `None` when one is not found, or
/// the text does not read back as `expected`.
fn spliced(text: &str, reading: &Reading, changes: &Changes, expected: &Value) -> Option<String> {
    if changes.is_empty() {
        return Some(text.to_owned());
    }
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    };
    let mut replacements = replacements(body, reading, changes)?;
    replacements.sort_by_key(|(range, _)| range.start);
    let line_break = match body.find('\n') {
        Some(at) if body[..at].ends_with('\r') => "\r\n",
        _ => "\n",
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(bom);
    let mut at = 0;
    for (range, replacement) in replacements {
        if range.start < at {
            return None;
        }
        out.push_str(&body[at..range.start]);
        out.push_str(&replacement.replace('\n', line_break));
        at = range.end;
    }
    out.push_str(&body[at..]);
    reads_as(&out, reading.format, expected, &reading.intrinsics).then_some(out)
}

/// Where each changed resource's `Properties` stand in `body`, and their new text.
fn replacements(
    body: &str,
    reading: &Reading,
    changes: &Changes,
) -> Option<Vec<(Range<usize>, String)>> {
    let ids: Vec<&str> = changes.iter().map(|(id, _)| id.as_str()).collect();
    let intrinsics = &reading.intrinsics;
    match reading.format {
        TemplateFormat::Json => json_spans::properties_spans(body, &ids)
            .into_iter()
            .zip(changes)
            .map(|(span, (_, properties))| {
                let span = span?;
                let value = restore_json(properties, intrinsics);
                Some((
                    span.start..span.end,
                    json_spans::write_value(&value, &span.layout),
                ))
            })
            .collect(),
        TemplateFormat::Yaml => yaml_spans::properties_spans(body, &ids)
            .into_iter()
            .zip(changes)
            .map(|(span, (_, properties))| {
                let span = span?;
                let value = to_yaml(properties, intrinsics);
                let entry = yaml_emit::entry("Properties", &value, span.column, span.unit);
                Some((span.start..span.end, entry))
            })
            .collect(),
    }
}

/// Whether `text` reads as the template `expected` (its tokens standing for `intrinsics`), in
/// order, as the template reader reads it.
fn reads_as(
    text: &str,
    format: TemplateFormat,
    expected: &Value,
    intrinsics: &[Intrinsic],
) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        TemplateFormat::Json => serde_json::from_str::<Value>(text)
            .is_ok_and(|read| same_json(&read, &restore_json(expected, intrinsics))),
        TemplateFormat::Yaml => {
            if yaml_nesting::first_place_too_deep(text, MAX_TEMPLATE_NESTING).is_some() {
                return false;
            }
            let Ok(read) = yaml_reading::read_yaml(text) else {
                return false;
            };
            let mut read_intrinsics = Vec::new();
            let Ok(read) = from_yaml(read, &mut read_intrinsics) else {
                return false;
            };
            same_yaml(
                &to_yaml(&read, &read_intrinsics),
                &to_yaml(expected, intrinsics),
            )
        }
    }
}

/// The whole template written anew: JSON pretty-printed, YAML in block style (`yaml_emit`), or
/// as serde_yaml_ng writes it should that not read back as the template.
fn write_whole(format: TemplateFormat, root: &Value, intrinsics: &[Intrinsic]) -> String {
    match format {
        TemplateFormat::Json => to_pretty(&restore_json(root, intrinsics)),
        TemplateFormat::Yaml => {
            let value = to_yaml(root, intrinsics);
            let text = yaml_emit::document(&value);
            if reads_as(&text, format, root, intrinsics) {
                text
            } else {
                serde_yaml_ng::to_string(&value).unwrap_or_default()
            }
        }
    }
}

/// The whole template as serde writes it (how templates were written before their text was
/// kept), for tests to compare with.
#[cfg(test)]
pub(super) fn written_whole_by_serde(
    format: TemplateFormat,
    root: &Value,
    intrinsics: &[Intrinsic],
) -> String {
    match format {
        TemplateFormat::Json => to_pretty(&restore_json(root, intrinsics)),
        TemplateFormat::Yaml => {
            serde_yaml_ng::to_string(&to_yaml(root, intrinsics)).unwrap_or_default()
        }
    }
}

/// Equal, and in the same order (serde's maps compare without it).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        _ => a == b,
    }
}

/// Equal, and in the same order.
fn same_yaml(a: &serde_yaml_ng::Value, b: &serde_yaml_ng::Value) -> bool {
    use serde_yaml_ng::Value as Yaml;
    match (a, b) {
        (Yaml::Mapping(a), Yaml::Mapping(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| same_yaml(ka, kb) && same_yaml(va, vb))
        }
        (Yaml::Sequence(a), Yaml::Sequence(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_yaml(a, b))
        }
        (Yaml::Tagged(a), Yaml::Tagged(b)) => a.tag == b.tag && same_yaml(&a.value, &b.value),
        _ => a == b,
    }
}

fn restore_json(value: &Value, intrinsics: &[Intrinsic]) -> Value {
    match value {
        Value::String(text) => match token_index(text).and_then(|index| intrinsics.get(index)) {
            Some(Intrinsic::Json(original)) => original.clone(),
            Some(Intrinsic::Yaml(original)) => {
                serde_json::to_value(original).unwrap_or(Value::Null)
            }
            None => value.clone(),
        },
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), restore_json(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| restore_json(item, intrinsics))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn to_yaml(value: &Value, intrinsics: &[Intrinsic]) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Yaml;
    match value {
        Value::String(text) => match token_index(text).and_then(|index| intrinsics.get(index)) {
            Some(Intrinsic::Yaml(original)) => original.clone(),
            Some(Intrinsic::Json(original)) => {
                serde_yaml_ng::to_value(original).unwrap_or(Yaml::Null)
            }
            None => Yaml::String(text.clone()),
        },
        Value::Object(object) => Yaml::Mapping(
            object
                .iter()
                .map(|(key, value)| (Yaml::String(key.clone()), to_yaml(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => {
            Yaml::Sequence(items.iter().map(|item| to_yaml(item, intrinsics)).collect())
        }
        Value::Bool(flag) => Yaml::Bool(*flag),
        Value::Null => Yaml::Null,
        Value::Number(number) => serde_yaml_ng::to_value(number).unwrap_or(Yaml::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::properties::to_template;
    use crate::template::protect::written_whole_before_splicing;
    use crate::template::test_support::options;
    use crate::template::{protect_template, unprotect_template, ProtectedTemplate};
    use crate::{normalize_text, protect_text, ImageArgv, ProtectOptions};
    use std::collections::HashMap;

    fn test_template(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/templates")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    /// The lines of a block-style YAML template outside its task definition resources: a
    /// resource is its key's line and the lines after it that stand deeper, up to the last one
    /// that is not blank or a comment.
    fn yaml_lines_outside_task_definitions(text: &str) -> Vec<&str> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
        let is_content = |line: &str| {
            let trimmed = line.trim_start_matches('\u{feff}').trim();
            !trimmed.is_empty() && !trimmed.starts_with('#')
        };
        let mut outside = Vec::new();
        let (mut in_resources, mut resource_column) = (false, None);
        let mut at = 0;
        while at < lines.len() {
            let line = lines[at];
            if is_content(line) && indent(line) == 0 {
                in_resources = line.trim_end() == "Resources:";
                resource_column = None;
            } else if in_resources && is_content(line) {
                let column = *resource_column.get_or_insert(indent(line));
                if indent(line) == column {
                    let block_end = (at + 1..lines.len())
                        .take_while(|&next| {
                            !is_content(lines[next]) || indent(lines[next]) > column
                        })
                        .filter(|&next| is_content(lines[next]))
                        .last()
                        .unwrap_or(at);
                    let block = &lines[at..=block_end];
                    if block
                        .iter()
                        .any(|line| line.trim() == "Type: AWS::ECS::TaskDefinition")
                    {
                        at = block_end + 1;
                        continue;
                    }
                }
            }
            outside.push(line);
            at += 1;
        }
        outside
    }

    /// The lines of a pretty JSON template outside its task definition resources (a resource:
    /// its key's line to the next line as indented, its closing brace).
    fn json_lines_outside_task_definitions(text: &str) -> Vec<&str> {
        if !text.trim_end().contains('\n') {
            // On one line: the caller compares what stands before and after the resource.
            return Vec::new();
        }
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let indent = |line: &str| line.len() - line.trim_start().len();
        let mut outside = Vec::new();
        let mut at = 0;
        while at < lines.len() {
            let column = indent(lines[at]);
            let end = (at + 1..lines.len()).find(|&next| indent(lines[next]) <= column);
            if let Some(end) = end {
                let block = lines[at..=end].concat();
                let is_resource = lines[at].trim_start().ends_with(": {\n")
                    && block.contains("\"Type\": \"AWS::ECS::TaskDefinition\"")
                    && !block.contains("\"Resources\"");
                if is_resource {
                    at = end + 1;
                    continue;
                }
            }
            outside.push(lines[at]);
            at += 1;
        }
        outside
    }

    /// What a template's text means, in order (aliases expanded, as every reader reads them).
    fn meaning(text: &str) -> serde_yaml_ng::Value {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_yaml_ng::from_str(text).unwrap_or_else(|error| panic!("{error}:\n{text}"))
    }

    /// Protects `text` and checks the promises about its text: every line outside the task
    /// definitions as it was (comments, quotes, indentation), the output meaning what the whole
    /// template written anew meant, and protect again / unprotect giving the same texts back.
    fn protect_keeping_the_text(
        label: &str,
        text: &str,
        options: &ProtectOptions,
    ) -> ProtectedTemplate {
        let protected = protect_template(text, options)
            .unwrap_or_else(|rejected| panic!("{label}: {rejected}"))
            .unwrap();
        let outside = |text| match protected.format {
            TemplateFormat::Yaml => yaml_lines_outside_task_definitions(text),
            TemplateFormat::Json => json_lines_outside_task_definitions(text),
        };
        assert_eq!(outside(&protected.output), outside(text), "{label}: output");
        assert_eq!(
            outside(&protected.normalized),
            outside(text),
            "{label}: normalized"
        );
        assert!(
            same_yaml(
                &meaning(&protected.output),
                &meaning(&written_whole_before_splicing(text, options))
            ),
            "{label}: the output does not mean what the template written whole meant:\n{}",
            protected.output
        );
        let again = protect_template(&protected.output, options)
            .unwrap()
            .unwrap();
        assert_eq!(again.output, protected.output, "{label}: protected twice");
        let (back, was_protected) = unprotect_template(&protected.output).unwrap().unwrap();
        assert!(was_protected, "{label}");
        assert_eq!(back, protected.normalized, "{label}: unprotected");
        protected
    }

    #[test]
    fn a_yaml_template_comes_back_byte_for_byte_outside_its_task_definitions() {
        let text = test_template("commented-services.yaml");
        let protected = protect_keeping_the_text("yaml", &text, &options());
        for kept in [
            "                Version: \"2012-10-17\"   # YAML 1.1 reads 2012-10-17 unquoted as a date\n",
            "    # The web task definition.\n",
            "        Metadata: {Owner: web-team}   # before the properties\n",
            "            # The end of the web task's properties.\n        UpdateReplacePolicy: Retain     # after them\n",
            "        Value: !Ref WorkerTask    # the last line\n",
        ] {
            assert!(protected.output.contains(kept), "{kept}\n{}", protected.output);
        }
        // The task definitions are written at the template's own indentation, their quotes where
        // a YAML 1.1 reader needs them.
        assert!(
            protected
                .output
                .contains("        Properties:\n            Family: !Sub '${Environment}-web'\n"),
            "{}",
            protected.output
        );
        assert!(protected.output.contains("Value: '2012-10-17'"));
        assert!(protected
            .output
            .contains("Value: \"welcome\\n# this line is text, not a comment\\n\""));
    }

    #[test]
    fn line_breaks_a_byte_order_mark_and_anchors_outside_the_task_definitions_are_kept() {
        let text = test_template("commented-services.yaml");
        let anchored = text
            .replacen(
                "Conditions:\n",
                "Metadata:\n  Teams: &teams [web, ops]   # an anchor\n  Owners: *teams\nConditions:\n",
                1,
            )
            .trim_end()
            .to_owned();
        let crlf = anchored.replace('\n', "\r\n");
        let bom = format!("\u{feff}{anchored}\n");
        for (label, text) in [("anchors", &anchored), ("crlf", &crlf), ("bom", &bom)] {
            let protected = protect_keeping_the_text(label, text, &options());
            assert!(protected.output.contains("Owners: *teams"), "{label}");
        }
        let protected = protect_template(&crlf, &options()).unwrap().unwrap();
        assert!(
            !protected.output.replace("\r\n", "").contains('\n'),
            "every line break written is CRLF"
        );
        assert!(protect_template(&bom, &options())
            .unwrap()
            .unwrap()
            .output
            .starts_with('\u{feff}'));
    }

    #[test]
    fn a_json_template_keeps_its_layout_outside_its_task_definitions() {
        let text = test_template("four-spaces-service.json");
        let protected = protect_keeping_the_text("json", &text, &options());
        for kept in [
            "    \"Description\": \"The caf\\u00e9's order service",
            "        \"Revision\": 3E0,\n",
            "                \"Family\": \"orders\",\n",
        ] {
            assert!(
                protected.output.contains(kept),
                "{kept}\n{}",
                protected.output
            );
        }
        // On one line, the properties are written on one line.
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap())
            .unwrap()
            .replace("\"Revision\":3.0", "\"Revision\":3E0");
        let protected = protect_keeping_the_text("compact", &compact, &options());
        assert!(!protected.output.contains('\n'), "{}", protected.output);
        let properties = compact.find("\"Properties\":{\"Family\"").unwrap();
        assert_eq!(protected.output[..properties], compact[..properties]);
        let after = compact.find("},\"Queue\"").unwrap();
        assert!(protected.output.ends_with(&compact[after..]));
    }

    #[test]
    fn a_template_that_cannot_be_spliced_is_written_whole_alike_on_both_sides() {
        // A task definition in flow style: its Properties cannot be found line by line.
        let text = "Resources:\n  Task: {Type: AWS::ECS::TaskDefinition, Properties: {ContainerDefinitions: [{Name: app, Image: nginx, Memory: 128, EntryPoint: [/app]}]}}\n  # a comment\n  Topic: {Type: AWS::SNS::Topic}\n";
        let protected = protect_template(text, &options()).unwrap().unwrap();
        assert!(!protected.output.contains("# a comment"));
        assert!(protected.output.starts_with("Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n        - Name: app\n"), "{}", protected.output);
        assert!(same_yaml(
            &meaning(&protected.output),
            &meaning(&written_whole_before_splicing(text, &options()))
        ));
        let again = protect_template(&protected.output, &options())
            .unwrap()
            .unwrap();
        assert_eq!(again.output, protected.output);
        let (back, _) = unprotect_template(&protected.output).unwrap().unwrap();
        assert_eq!(back, protected.normalized);

        // An anchor inside a task definition that another resource's alias names.
        let text = "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      Family: &family web\n      ContainerDefinitions:\n        - {Name: app, Image: nginx, Memory: 128, EntryPoint: [/app]}\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: *family\n";
        let protected = protect_template(text, &options()).unwrap().unwrap();
        assert!(same_yaml(
            &meaning(&protected.output),
            &meaning(&written_whole_before_splicing(text, &options()))
        ));
        assert!(
            protected.output.contains("TopicName: web"),
            "{}",
            protected.output
        );
    }

    #[test]
    fn a_template_never_protected_unprotects_to_its_own_text() {
        let text = test_template("commented-services.yaml");
        let (back, was_protected) = unprotect_template(&text).unwrap().unwrap();
        assert!(!was_protected);
        assert_eq!(back, text);
    }

    /// Every container of `task` given an image argv, as a user (or registry lookup) would.
    fn with_every_argv(task: &serde_json::Map<String, Value>) -> ProtectOptions {
        let mut options = options();
        for container in crate::array_items(task.get("containerDefinitions")) {
            if let Some(name) = container.get("name").and_then(Value::as_str) {
                options.image_argv.insert(
                    name.to_owned(),
                    ImageArgv {
                        entry_point: vec!["/entrypoint.sh".into()],
                        command: Some(vec!["serve".into()]),
                    },
                );
            }
        }
        options
    }

    /// `properties` as the task definition of a commented YAML template, between two other
    /// resources; and as a JSON template indented by four spaces.
    fn corpus_templates(properties: &Value) -> [(&'static str, String); 2] {
        let yaml_properties = serde_yaml_ng::to_string(properties).unwrap();
        let indented: String = yaml_properties
            .lines()
            .map(|line| format!("      {line}\n"))
            .collect();
        let yaml = format!(
            "# A corpus task definition in a template.\nAWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Before:\n    Type: AWS::SNS::Topic   # a topic\n    Properties: {{TopicName: \"before\"}}\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n{indented}  After:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: 'after'\nOutputs:\n  Arn: {{Value: !Ref Task}}\n"
        );
        let template = serde_json::json!({
            "Resources": {
                "Before": {"Type": "AWS::SNS::Topic"},
                "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": properties},
                "After": {"Type": "AWS::SNS::Topic"}
            }
        });
        let mut json = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(
            &mut json,
            serde_json::ser::PrettyFormatter::with_indent(b"    "),
        );
        serde::Serialize::serialize(&template, &mut serializer).unwrap();
        [("yaml", yaml), ("json", String::from_utf8(json).unwrap())]
    }

    #[test]
    fn corpus_task_definitions_in_templates_keep_the_text_around_them() {
        let mut protected_count = 0;
        for (file, text) in palisade_test_support::corpus::corpus() {
            let Ok(normalized) = normalize_text(&text) else {
                continue;
            };
            let options = with_every_argv(&normalized.task);
            if normalized.form == crate::InputForm::ContainerDefinitions
                || protect_text(&text, &options).is_err()
            {
                continue;
            }
            let properties = to_template(&Value::Object(normalized.task), &HashMap::new());
            for (format, template) in corpus_templates(&properties) {
                let label = format!("{file} ({format})");
                // CloudFormation reads some keys and values unlike the API: such a file is
                // refused here as it would be there, and says why.
                match protect_template(&template, &options) {
                    Ok(_) => {
                        protect_keeping_the_text(&label, &template, &options);
                        protected_count += 1;
                    }
                    Err(rejected) => assert!(!rejected.problems.is_empty(), "{label}"),
                }
            }
        }
        assert!(protected_count >= 40, "only {protected_count} protected");
    }
}
