//! Normalize: turn any accepted input into RegisterTaskDefinition input. Read-only and unknown
//! top-level keys go (reported, unknown ones with a "did you mean"), describe-output tags move to
//! the top level, explicit nulls (which mean "not set") go, and key case is fixed where the ECS
//! model has exactly one matching key (`EntryPoint` -> `entryPoint`). Everything else is kept, in
//! its order.

use crate::parse::{parse, InputForm, Parsed};
use crate::problem::Rejected;
use crate::schema;
use crate::summary::{RemovalReason, RemovedKey, RenamedKey};
use crate::{pointer_push, Path};
use serde_json::{Map, Value};

/// A normalized input with the record of what normalizing changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalized {
    pub form: InputForm,
    /// The task definition; for the container-list form, `{"containerDefinitions": [...]}`.
    pub task: Map<String, Value>,
    pub removed: Vec<RemovedKey>,
    pub renamed: Vec<RenamedKey>,
    /// How many tags moved from the describe-output wrapper to the task definition.
    pub tags_moved: usize,
}

impl Normalized {
    /// The document as the user gets it back: an array for the container-list form.
    pub fn document(&self) -> Value {
        document_of(self.form, &self.task)
    }
}

/// The user-facing document for a task map in a given form.
pub fn document_of(form: InputForm, task: &Map<String, Value>) -> Value {
    match form {
        InputForm::ContainerDefinitions => task
            .get("containerDefinitions")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
        InputForm::TaskDefinition | InputForm::DescribeOutput => Value::Object(task.clone()),
    }
}

/// The user-facing document, moving the task map instead of copying it.
pub fn into_document(form: InputForm, mut task: Map<String, Value>) -> Value {
    match form {
        InputForm::ContainerDefinitions => task
            .remove("containerDefinitions")
            .unwrap_or(Value::Array(Vec::new())),
        InputForm::TaskDefinition | InputForm::DescribeOutput => Value::Object(task),
    }
}

/// Parses and normalizes pasted text.
pub fn normalize_text(text: &str) -> Result<Normalized, Rejected> {
    Ok(normalize(parse(text)?))
}

/// Normalizes a parsed document; never fails (what is still wrong is for validation to say).
pub fn normalize(parsed: Parsed) -> Normalized {
    let Parsed {
        form,
        mut task,
        wrapper_tags,
        wrapper_other_keys,
    } = parsed;
    let mut removed: Vec<RemovedKey> = wrapper_other_keys
        .into_iter()
        .map(|key| RemovedKey {
            pointer: pointer_push("", &key),
            key,
            reason: RemovalReason::Wrapper,
        })
        .collect();
    let mut renamed = Vec::new();

    let mut tags_moved = 0;
    if let Some(Value::Array(tags)) = wrapper_tags {
        tags_moved = merge_tags(&mut task, tags);
    }

    // Fix key case first so `Family` is kept as `family`, not dropped as unknown.
    // The container-list form is held as `{"containerDefinitions": [...]}`, so one root serves both.
    fix_key_case(&mut task, schema::task_node(), &Path::Root, &mut renamed);

    if form != InputForm::ContainerDefinitions {
        let allowed = schema::allowed_top_level_keys();
        let read_only = schema::read_only_keys();
        let mut kept = Map::new();
        let mut unknown = 0;
        for (key, value) in std::mem::take(&mut task) {
            if allowed.contains(&key.as_str()) {
                kept.insert(key, value);
            } else {
                let reason = if read_only.contains(&key.as_str()) {
                    RemovalReason::ReadOnly
                } else {
                    // A "did you mean" for the first ones; tens of thousands of junk keys must
                    // not cost a fuzzy match each.
                    unknown += 1;
                    RemovalReason::Unknown {
                        suggestion: (unknown <= crate::problem::MAX_PROBLEMS)
                            .then(|| suggest(&key, &allowed))
                            .flatten(),
                    }
                };
                removed.push(RemovedKey {
                    pointer: pointer_push("", &key),
                    key,
                    reason,
                });
            }
        }
        task = kept;
    }

    let mut nulls = Vec::new();
    strip_nulls(&mut task, &Path::Root, &mut nulls);
    removed.extend(nulls.into_iter().map(|(pointer, key)| RemovedKey {
        key,
        pointer,
        reason: RemovalReason::Null,
    }));

    Normalized {
        form,
        task,
        removed,
        renamed,
        tags_moved,
    }
}

/// Moves describe-output tags into the task; a tag the task already has (same key) is kept as is.
fn merge_tags(task: &mut Map<String, Value>, tags: Vec<Value>) -> usize {
    let existing = task
        .entry("tags")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(existing) = existing else {
        // A non-array `tags` is a schema error to report, not something to merge into.
        return 0;
    };
    let mut moved = 0;
    for tag in tags {
        let duplicate = existing
            .iter()
            .any(|have| have.get("key").is_some() && have.get("key") == tag.get("key"));
        if !duplicate {
            existing.push(tag);
            moved += 1;
        }
    }
    moved
}

/// The closest allowed key, when one is close enough to be what the user meant.
pub(crate) fn suggest(key: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|candidate| {
            (
                strsim::jaro_winkler(&key.to_ascii_lowercase(), &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| (*candidate).to_owned())
}

/// Renames keys whose case differs from exactly one key the schema allows at that place.
fn fix_key_case(
    object: &mut Map<String, Value>,
    node: &'static Value,
    path: &Path<'_>,
    renamed: &mut Vec<RenamedKey>,
) {
    let node = schema::resolve(node);
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        // A map (dockerLabels, options...): keys are the user's own; only the values have a schema.
        if let Some(values) = node
            .get("additionalProperties")
            .filter(|schema| schema.is_object())
        {
            for (key, value) in object.iter_mut() {
                fix_value_case(value, values, &path.key(key), renamed);
            }
        }
        return;
    };
    let mut renames: Vec<(String, String)> = Vec::new();
    for key in object.keys() {
        if properties.contains_key(key) {
            continue;
        }
        let mut matches = properties
            .keys()
            .filter(|candidate| candidate.eq_ignore_ascii_case(key));
        if let (Some(target), None) = (matches.next(), matches.next()) {
            let taken = object.contains_key(target) || renames.iter().any(|(_, to)| to == target);
            if !taken {
                renames.push((key.clone(), target.clone()));
            }
        }
    }
    if !renames.is_empty() {
        for (key, value) in std::mem::take(object) {
            match renames.iter().find(|(from, _)| *from == key) {
                Some((from, to)) => {
                    renamed.push(RenamedKey {
                        pointer: path.key(to).render(),
                        from: from.clone(),
                        to: to.clone(),
                    });
                    object.insert(to.clone(), value);
                }
                None => {
                    object.insert(key, value);
                }
            }
        }
    }
    for (key, value) in object.iter_mut() {
        if let Some(child) = properties.get(key) {
            fix_value_case(value, child, &path.key(key), renamed);
        }
    }
}

fn fix_value_case(
    value: &mut Value,
    node: &'static Value,
    path: &Path<'_>,
    renamed: &mut Vec<RenamedKey>,
) {
    let node = schema::resolve(node);
    match value {
        Value::Object(object) => fix_key_case(object, node, path, renamed),
        Value::Array(items) => {
            if let Some(item_node) = node.get("items") {
                for (index, item) in items.iter_mut().enumerate() {
                    fix_value_case(item, item_node, &path.index(index), renamed);
                }
            }
        }
        _ => {}
    }
}

/// Removes object members whose value is `null` (old console and CLI v1 exports write them for
/// "not set"), recording each one's pointer and key.
fn strip_nulls(
    object: &mut Map<String, Value>,
    path: &Path<'_>,
    removed: &mut Vec<(String, String)>,
) {
    let null_keys: Vec<String> = object
        .iter()
        .filter(|(_, value)| value.is_null())
        .map(|(key, _)| key.clone())
        .collect();
    for key in null_keys {
        object.shift_remove(&key);
        removed.push((path.key(&key).render(), key));
    }
    for (key, value) in object.iter_mut() {
        strip_nulls_in(value, &path.key(key), removed);
    }
}

fn strip_nulls_in(value: &mut Value, path: &Path<'_>, removed: &mut Vec<(String, String)>) {
    match value {
        Value::Object(object) => strip_nulls(object, path, removed),
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                strip_nulls_in(item, &path.index(index), removed);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Normalized {
        normalize_text(text).unwrap()
    }

    #[test]
    fn read_only_keys_are_removed_and_reported() {
        let normalized = norm(
            r#"{"family":"a","revision":3,"status":"ACTIVE","containerDefinitions":[],"registeredAt":"2024-01-01"}"#,
        );
        assert_eq!(
            normalized.task.keys().collect::<Vec<_>>(),
            ["family", "containerDefinitions"]
        );
        let removed: Vec<_> = normalized
            .removed
            .iter()
            .map(|r| (r.key.as_str(), &r.reason))
            .collect();
        assert!(removed.contains(&("revision", &RemovalReason::ReadOnly)));
        assert!(removed.contains(&("registeredAt", &RemovalReason::ReadOnly)));
    }

    #[test]
    fn new_keys_survive_normalization() {
        let text = r#"{"family":"a","containerDefinitions":[],"runtimePlatform":{"cpuArchitecture":"ARM64"},"ephemeralStorage":{"sizeInGiB":30},"enableFaultInjection":true,"trustedExecutionConfiguration":{"isolationMode":"x"}}"#;
        let normalized = norm(text);
        assert_eq!(normalized.task.len(), 6);
        assert!(normalized.removed.is_empty());
    }

    #[test]
    fn unknown_keys_are_removed_with_a_suggestion() {
        let normalized = norm(r#"{"family":"a","containerDefinitions":[],"executionRole":"x"}"#);
        assert_eq!(
            normalized.removed[0].reason,
            RemovalReason::Unknown {
                suggestion: Some("executionRoleArn".into())
            }
        );
    }

    #[test]
    fn wrapper_tags_move_to_the_top_level() {
        let normalized = norm(
            r#"{"taskDefinition":{"family":"a","containerDefinitions":[]},"tags":[{"key":"team","value":"x"}]}"#,
        );
        assert_eq!(normalized.task["tags"][0]["key"], "team");
        assert_eq!(normalized.tags_moved, 1);
        assert_eq!(normalized.form, InputForm::DescribeOutput);
    }

    #[test]
    fn pascal_case_keys_get_the_model_case_at_every_depth() {
        let normalized = norm(
            r#"[{"Name":"a","Image":"b","RepositoryCredentials":{"CredentialsParameter":"x"},"DockerLabels":{"Keep":"me"}}]"#,
        );
        let container = &normalized.task["containerDefinitions"][0];
        assert_eq!(
            container["repositoryCredentials"]["credentialsParameter"],
            "x"
        );
        assert_eq!(
            container["dockerLabels"]["Keep"], "me",
            "map keys are the user's own"
        );
        assert_eq!(normalized.renamed.len(), 5);
    }

    #[test]
    fn nulls_are_removed_and_counted() {
        let normalized = norm(
            r#"{"family":"a","taskRoleArn":null,"containerDefinitions":[{"name":"x","image":"y","user":null}]}"#,
        );
        assert!(!normalized.task.contains_key("taskRoleArn"));
        assert!(normalized.task["containerDefinitions"][0]
            .get("user")
            .is_none());
        assert_eq!(
            normalized
                .removed
                .iter()
                .filter(|r| r.reason == RemovalReason::Null)
                .count(),
            2
        );
    }

    #[test]
    fn key_order_is_kept() {
        let normalized =
            norm(r#"{"memory":"512","family":"a","cpu":"256","containerDefinitions":[]}"#);
        assert_eq!(
            normalized.task.keys().collect::<Vec<_>>(),
            ["memory", "family", "cpu", "containerDefinitions"]
        );
    }
}
