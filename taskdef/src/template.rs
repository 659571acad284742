//! CloudFormation templates, JSON or YAML, protected in place: every `AWS::ECS::TaskDefinition`
//! resource is protected with its PascalCase properties (read as the API's camelCase and written
//! back with the template's own spelling); everything else — parameters, other resources,
//! outputs, and every intrinsic function (`!Ref`, `!Sub`, `Fn::GetAtt`...) — passes through
//! untouched, and the template comes back in its own format.
//!
//! Intrinsic functions are opaque: each becomes a token string while the task definition is
//! protected (validation skips the leaves they stand for) and is put back afterwards. One that
//! stands where protect must read or write (a container, its `EntryPoint`, `Environment`...) is
//! refused with its place, since Palisade cannot wrap what it cannot read.
//!
//! YAML goes through `serde_yaml_ng` (the maintained fork of serde_yaml 0.9): it keeps
//! CloudFormation's short-form tags as tagged values in both directions and reports where a
//! template does not parse. Comments are not kept. Before the parser, a YAML template's size and
//! nesting are bounded (`yaml_nesting`), and its aliases may not expand past its size
//! (`yaml_reading`); a problem's line and column are found in one read of the text
//! (`yaml_places`).
//!
//! Every step that grows with the input looks at a [`Cancel`] flag: the `_cancellable` entry
//! points stop at the next resource once it is raised.

mod yaml_nesting;
mod yaml_places;
mod yaml_reading;

use crate::cancel::Cancel;
use crate::problem::{Problem, ProblemKind, Rejected, MAX_PROBLEMS};
use crate::protect::{
    protect_with_unknowns, unprotect_text_cancellable, ProtectOptions, Protected,
};
use crate::summary::Warning;
use crate::{pointer_push, to_pretty};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use yaml_reading::YamlReadError;

/// The resource type protected.
pub const TASK_DEFINITION_TYPE: &str = "AWS::ECS::TaskDefinition";

/// The largest template read: CloudFormation takes templates of up to 1 MB (uploaded to S3), and
/// the console's request bodies are at most 1 MiB.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// The longest logical ID CloudFormation takes. Each problem and warning of a resource names it
/// in its pointer: a longer one would be repeated for each of them.
pub const MAX_LOGICAL_ID_CHARS: usize = 255;

/// How deep collections may nest in a YAML template, counted before it is parsed: as deep as
/// serde_json and serde_yaml_ng read, far deeper than any template.
pub const MAX_TEMPLATE_NESTING: usize = 128;

/// How the template was written (and is written back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TemplateFormat {
    Json,
    Yaml,
}

/// One task definition resource, protected.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectedResource {
    pub logical_id: String,
    pub protected: Protected,
}

/// A protected template: the text to deploy, and per resource what changed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectedTemplate {
    pub format: TemplateFormat,
    /// The template as it came in, re-serialized (the left side of a diff).
    pub normalized: String,
    pub output: String,
    pub resources: Vec<ProtectedResource>,
    intrinsics: Vec<Intrinsic>,
}

impl ProtectedTemplate {
    /// What changed, resource by resource, and the warnings, intrinsic functions as written.
    pub fn describe(&self) -> String {
        self.resources
            .iter()
            .map(|resource| {
                let text = crate::protect::describe(&resource.protected);
                let indented: Vec<String> = text.lines().map(|line| format!("  {line}")).collect();
                format!("resource {}:\n{}", resource.logical_id, indented.join("\n"))
            })
            .map(|text| readable(&text, &self.intrinsics))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The warnings of every resource, intrinsic functions as written.
    pub fn warnings(&self) -> Vec<Warning> {
        self.resources
            .iter()
            .flat_map(|resource| resource.protected.warnings.iter().cloned())
            .collect()
    }
}

/// An intrinsic function as the template wrote it.
#[derive(Clone, Debug, PartialEq)]
enum Intrinsic {
    Json(Value),
    Yaml(serde_yaml_ng::Value),
}

/// A template read into JSON, its intrinsic functions replaced by tokens.
struct Reading {
    format: TemplateFormat,
    root: Value,
    intrinsics: Vec<Intrinsic>,
}

/// Tokens look like nothing a template holds and like no placeholder Palisade warns about.
const TOKEN_PREFIX: &str = "\u{2063}cfn-intrinsic-";

fn token(index: usize) -> String {
    format!("{TOKEN_PREFIX}{index}\u{2063}")
}

fn token_index(text: &str) -> Option<usize> {
    text.strip_prefix(TOKEN_PREFIX)?
        .strip_suffix('\u{2063}')?
        .parse()
        .ok()
}

/// An intrinsic function as a person reads it in a message (`!Ref ApiImage`).
fn display(intrinsic: &Intrinsic) -> String {
    match intrinsic {
        Intrinsic::Json(value) => value.to_string(),
        Intrinsic::Yaml(value) => serde_yaml_ng::to_string(value)
            .map(|text| text.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

/// `text` with each token replaced by the intrinsic function it stands for.
fn readable(text: &str, intrinsics: &[Intrinsic]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(TOKEN_PREFIX) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after[TOKEN_PREFIX.len()..]
            .find('\u{2063}')
            .map(|end| TOKEN_PREFIX.len() + end + '\u{2063}'.len_utf8());
        match end.and_then(|end| Some((end, intrinsics.get(token_index(&after[..end])?)?))) {
            Some((end, intrinsic)) => {
                out.push_str(&display(intrinsic));
                rest = &after[end..];
            }
            None => {
                out.push_str(TOKEN_PREFIX);
                rest = &after[TOKEN_PREFIX.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a one-key mapping with this key is an intrinsic function in its long form.
fn is_intrinsic_name(key: &str) -> bool {
    key == "Ref" || key.starts_with("Fn::") || key == "Condition"
}

/// Whether a JSON object is an intrinsic function in its long form.
fn is_long_form(object: &Map<String, Value>) -> bool {
    object.len() == 1
        && object
            .keys()
            .next()
            .is_some_and(|key| is_intrinsic_name(key))
}

/// Whether `text` is a CloudFormation template (a mapping whose `Resources` is a mapping of
/// resources with a `Type`), or YAML naming `Resources` that does not parse (its error, with line
/// and column, helps more than the JSON reader's). Anything else is left to the task-definition
/// reader.
pub fn is_template(text: &str) -> bool {
    !matches!(read(text), Ok(None))
}

/// Reads a template; `Ok(None)` when the text is not one (a task definition, say); `Err` when it
/// looks like a YAML template but does not parse.
fn read(text: &str) -> Result<Option<Reading>, Rejected> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let mut intrinsics = Vec::new();
    let (format, root) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            // Not JSON: the task-definition reader says where and why.
            return Ok(None);
        };
        (TemplateFormat::Json, from_json(value, &mut intrinsics))
    } else {
        // Only text that names Resources is read as YAML (a stray word is not a template).
        if !text.contains("Resources") {
            return Ok(None);
        }
        refuse_too_big(text)?;
        // The parser's time grows with the square of the nesting: it is measured first.
        if let Some((line, column)) = yaml_nesting::first_place_too_deep(text, MAX_TEMPLATE_NESTING)
        {
            return Err(too_deep(line, column));
        }
        let value = yaml_reading::read_yaml(text).map_err(yaml_problem)?;
        (TemplateFormat::Yaml, from_yaml(value, &mut intrinsics)?)
    };
    let is_template = root
        .get("Resources")
        .and_then(Value::as_object)
        .is_some_and(|resources| {
            !resources.is_empty()
                && resources
                    .values()
                    .all(|resource| resource.get("Type").is_some_and(Value::is_string))
        });
    if !is_template {
        return Ok(None);
    }
    if format == TemplateFormat::Json {
        // JSON is parsed before it is known to be a template (a task definition of any size is
        // the task-definition reader's to judge); YAML was measured before its parser.
        refuse_too_big(text)?;
    }
    Ok(Some(Reading {
        format,
        root,
        intrinsics,
    }))
}

fn refuse_too_big(text: &str) -> Result<(), Rejected> {
    if text.len() <= MAX_TEMPLATE_BYTES {
        return Ok(());
    }
    Err(Rejected::one(Problem {
        kind: ProblemKind::Limit,
        pointer: None,
        line: None,
        column: None,
        message: format!(
            "the template is {} bytes, more than the {MAX_TEMPLATE_BYTES} Palisade reads (CloudFormation takes templates of up to 1 MB)",
            text.len()
        ),
        hint: Some("split it into nested stacks, or protect the task definition itself".to_owned()),
        container: None,
    }))
}

fn too_deep(line: usize, column: usize) -> Rejected {
    Rejected::one(Problem {
        kind: ProblemKind::Limit,
        pointer: None,
        line: Some(line),
        column: Some(column),
        message: format!("the template nests deeper than {MAX_TEMPLATE_NESTING} levels here"),
        hint: Some("no CloudFormation template nests this deep: look for brackets (`[`, `{`) opened and never closed, or indentation that keeps growing, before this place".to_owned()),
        container: None,
    })
}

fn yaml_problem(error: YamlReadError) -> Rejected {
    let (message, error, hint) = match error {
        YamlReadError::Invalid(error) => {
            if let Some(location) = error
                .location()
                .filter(|_| error.to_string().starts_with("recursion limit exceeded"))
            {
                return too_deep(location.line(), location.column());
            }
            (
                format!("the CloudFormation template is not valid YAML: {error}"),
                error,
                "fix the YAML at that place (indentation, a missing colon, an unclosed quote)",
            )
        }
        YamlReadError::TooManyNodes(error) => (
            format!("the CloudFormation template is not valid YAML for CloudFormation: {error}"),
            error,
            "CloudFormation takes no YAML aliases: write the repeated part out where it is used",
        ),
    };
    let mut problem = Problem::at(ProblemKind::Syntax, "", message).with_hint(hint);
    if let Some(location) = error.location() {
        problem.line = Some(location.line());
        problem.column = Some(location.column());
    }
    Rejected::one(problem)
}

fn from_json(value: Value, intrinsics: &mut Vec<Intrinsic>) -> Value {
    match value {
        Value::Object(object) if is_long_form(&object) => {
            intrinsics.push(Intrinsic::Json(Value::Object(object)));
            Value::String(token(intrinsics.len() - 1))
        }
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| (key, from_json(value, intrinsics)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| from_json(item, intrinsics))
                .collect(),
        ),
        other => other,
    }
}

fn from_yaml(
    value: serde_yaml_ng::Value,
    intrinsics: &mut Vec<Intrinsic>,
) -> Result<Value, Rejected> {
    use serde_yaml_ng::Value as Yaml;
    let not_a_key = || {
        Rejected::one(
            Problem::at(
                ProblemKind::Syntax,
                "",
                "a mapping key of the template is not text",
            )
            .with_hint("CloudFormation keys are names: quote it"),
        )
    };
    Ok(match value {
        Yaml::Tagged(_) => {
            intrinsics.push(Intrinsic::Yaml(value));
            Value::String(token(intrinsics.len() - 1))
        }
        Yaml::Mapping(mapping) => {
            let long_form = mapping.len() == 1
                && mapping
                    .keys()
                    .next()
                    .and_then(Yaml::as_str)
                    .is_some_and(is_intrinsic_name);
            if long_form {
                intrinsics.push(Intrinsic::Yaml(Yaml::Mapping(mapping)));
                return Ok(Value::String(token(intrinsics.len() - 1)));
            }
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(key) => key,
                    Yaml::Number(number) => number.to_string(),
                    Yaml::Bool(flag) => flag.to_string(),
                    _ => return Err(not_a_key()),
                };
                object.insert(key, from_yaml(value, intrinsics)?);
            }
            Value::Object(object)
        }
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|item| from_yaml(item, intrinsics))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::String(text) => Value::String(text),
        Yaml::Bool(flag) => Value::Bool(flag),
        Yaml::Null => Value::Null,
        Yaml::Number(number) => serde_json::to_value(&number).unwrap_or(Value::Null),
    })
}

/// Writes the template back in its format, the intrinsic functions as they were.
fn write(reading_format: TemplateFormat, root: &Value, intrinsics: &[Intrinsic]) -> String {
    match reading_format {
        TemplateFormat::Json => to_pretty(&restore_json(root, intrinsics)),
        TemplateFormat::Yaml => {
            serde_yaml_ng::to_string(&to_yaml(root, intrinsics)).unwrap_or_default()
        }
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

/// Keys whose values are maps of the user's own names (labels, driver options): kept as written.
const VERBATIM_MAPS: [&str; 4] = ["DockerLabels", "Options", "DriverOpts", "Labels"];

/// CloudFormation's spelling -> the API's, where it is not just the first letter lowered.
const SPELLINGS: [(&str, &str); 4] = [
    ("EFSVolumeConfiguration", "efsVolumeConfiguration"),
    (
        "FSxWindowsFileServerVolumeConfiguration",
        "fsxWindowsFileServerVolumeConfiguration",
    ),
    ("IAM", "iam"),
    ("ProxyConfigurationProperties", "properties"),
];

fn api_key(key: &str) -> String {
    if let Some((_, api)) = SPELLINGS.iter().find(|(cfn, _)| *cfn == key) {
        return (*api).to_owned();
    }
    let mut characters = key.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

fn template_key(key: &str, seen: &HashMap<String, String>) -> String {
    if let Some(original) = seen.get(key) {
        return original.clone();
    }
    if let Some((cfn, _)) = SPELLINGS.iter().find(|(_, api)| *api == key) {
        return (*cfn).to_owned();
    }
    let mut characters = key.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// `value` with every key renamed: `rename` answers the new key and the template's spelling of
/// it (which says whether its value is one of the user's own maps, whose keys stay as written).
fn rename_keys(value: &Value, rename: &mut dyn FnMut(&str) -> (String, String)) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let (renamed, template_spelling) = rename(key);
                    let value = if VERBATIM_MAPS.contains(&template_spelling.as_str()) {
                        value.clone()
                    } else {
                        rename_keys(value, rename)
                    };
                    (renamed, value)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| rename_keys(item, rename)).collect())
        }
        other => other.clone(),
    }
}

/// PascalCase properties -> the API's camelCase task definition; `seen` remembers each key's
/// spelling so it is written back exactly.
fn to_api(value: &Value, seen: &mut HashMap<String, String>) -> Value {
    rename_keys(value, &mut |key| {
        let api = api_key(key);
        seen.entry(api.clone()).or_insert_with(|| key.to_owned());
        (api, key.to_owned())
    })
}

/// The API's camelCase back to the template's spelling.
fn to_template(value: &Value, seen: &HashMap<String, String>) -> Value {
    rename_keys(value, &mut |key| {
        let spelled = template_key(key, seen);
        (spelled.clone(), spelled)
    })
}

/// CloudFormation turns numbers and booleans into text where the API wants text (`Cpu: 256`,
/// an environment `Value: 8080`); the API's validation does not. These leaves are read as text
/// and written back as the template had them.
fn coerce_text_leaves(task: &mut Value) -> Vec<(String, Value)> {
    let mut coerced = Vec::new();
    let mut coerce = |value: &mut Value, pointer: String| {
        if matches!(value, Value::Number(_) | Value::Bool(_)) {
            let original = std::mem::replace(value, Value::String(value.to_string()));
            coerced.push((pointer, original));
        }
    };
    for key in ["cpu", "memory"] {
        if let Some(value) = task.get_mut(key) {
            coerce(value, format!("/{key}"));
        }
    }
    let Some(Value::Array(containers)) = task.get_mut("containerDefinitions") else {
        return coerced;
    };
    for (index, container) in containers.iter_mut().enumerate() {
        let base = format!("/containerDefinitions/{index}");
        if let Some(Value::Array(variables)) = container.get_mut("environment") {
            for (item, variable) in variables.iter_mut().enumerate() {
                if let Some(value) = variable.get_mut("value") {
                    coerce(value, format!("{base}/environment/{item}/value"));
                }
            }
        }
        for path in [
            &["dockerLabels"][..],
            &["logConfiguration", "options"],
            &["firelensConfiguration", "options"],
        ] {
            let mut at = Some(&mut *container);
            for key in path {
                at = at.and_then(|value| value.get_mut(*key));
            }
            if let Some(Value::Object(map)) = at {
                let pointer = path
                    .iter()
                    .fold(base.clone(), |pointer, key| pointer_push(&pointer, key));
                for (key, value) in map.iter_mut() {
                    coerce(value, pointer_push(&pointer, key));
                }
            }
        }
    }
    coerced
}

/// And the other way: CloudFormation reads `'true'` or `'8080'` where the API wants a boolean or
/// a number (`Essential`, `ContainerPort`, a container's `Memory`). The leaves the schema refuses
/// for their type, and whose text is exactly such a value, are read as that value.
fn coerce_typed_leaves(task: &mut Value) -> Vec<(String, Value)> {
    let mut coerced = Vec::new();
    let problems = crate::validate::validate_document(crate::InputForm::TaskDefinition, task);
    for problem in problems {
        let Some(pointer) = problem
            .pointer
            .filter(|_| problem.kind == ProblemKind::Schema)
        else {
            continue;
        };
        let Some(value) = task.pointer_mut(&pointer) else {
            continue;
        };
        let Some(parsed) = value.as_str().and_then(typed) else {
            continue;
        };
        let original = std::mem::replace(value, parsed);
        coerced.push((pointer, original));
    }
    coerced
}

/// `true`, `false`, or an integer written exactly as a number would be (so writing it back as
/// text gives the same text).
fn typed(text: &str) -> Option<Value> {
    match text {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => text
            .parse::<i64>()
            .ok()
            .filter(|number| number.to_string() == text)
            .map(Value::from),
    }
}

/// Puts back the leaves the coercions changed, as the template wrote them (protect never changes
/// the user's own leaves, it only adds).
fn uncoerce(task: &mut Value, coerced: &[(String, Value)]) {
    for (pointer, original) in coerced {
        if let Some(value) = task.pointer_mut(pointer) {
            *value = original.clone();
        }
    }
}

/// A resource's properties as the API's task definition: the template's spelling of each key,
/// and the leaves read differently from how the template wrote them (to put back afterwards).
type ReadProperties = (Value, HashMap<String, String>, Vec<(String, Value)>);

fn read_properties(properties: &Value) -> ReadProperties {
    let mut seen = HashMap::new();
    let mut task = to_api(properties, &mut seen);
    let mut coerced = coerce_text_leaves(&mut task);
    coerced.extend(coerce_typed_leaves(&mut task));
    (task, seen, coerced)
}

/// Where protect reads or writes: an intrinsic function there cannot be protected around.
const CONTAINER_KEYS_PROTECT_USES: [&str; 9] = [
    "entryPoint",
    "command",
    "environment",
    "secrets",
    "mountPoints",
    "dependsOn",
    "volumesFrom",
    "linuxParameters",
    "dockerLabels",
];

fn is_token(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| token_index(text).is_some())
}

/// The intrinsic functions standing where protect must read or write, as problems.
fn structural_intrinsics(
    task: &Value,
    resource_pointer: &str,
    seen: &HashMap<String, String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |pointer: String, what: &str| {
        problems.push(
            Problem::at(
                ProblemKind::Schema,
                pointer,
                format!("{what} is an intrinsic function: Palisade cannot protect what it cannot read"),
            )
            .with_hint("write it out literally in the template (intrinsic functions inside its items and values are fine), or protect the task definition it resolves to"),
        )
    };
    let at = |path: &[&str]| {
        path.iter()
            .fold(resource_pointer.to_owned(), |pointer, key| {
                pointer_push(&pointer, template_key(key, seen))
            })
    };
    for key in ["containerDefinitions", "volumes", "pidMode"] {
        if task.get(key).is_some_and(is_token) {
            refuse(at(&[key]), key);
        }
    }
    if let Some(containers) = task.get("containerDefinitions").and_then(Value::as_array) {
        for (index, container) in containers.iter().enumerate() {
            let index_text = index.to_string();
            if is_token(container) {
                refuse(at(&["containerDefinitions", &index_text]), "a container");
                continue;
            }
            for key in CONTAINER_KEYS_PROTECT_USES {
                if container.get(key).is_some_and(is_token) {
                    refuse(at(&["containerDefinitions", &index_text, key]), key);
                }
            }
            for key in ["name", "essential"] {
                if container.get(key).is_some_and(is_token) {
                    refuse(at(&["containerDefinitions", &index_text, key]), key);
                }
            }
        }
    }
    problems
}

/// A camelCase pointer in a resource's task, as the template's pointer.
fn template_pointer(
    resource_pointer: &str,
    api_pointer: &str,
    seen: &HashMap<String, String>,
) -> String {
    api_pointer
        .split('/')
        .skip(1)
        .fold(resource_pointer.to_owned(), |pointer, token| {
            let token = token.replace("~1", "/").replace("~0", "~");
            let key = if token.parse::<usize>().is_ok() || token == "-" {
                token
            } else {
                template_key(&token, seen)
            };
            pointer_push(&pointer, key)
        })
}

/// Protects every task definition resource of a template; `Ok(None)` when `text` is not one.
pub fn protect_template(
    text: &str,
    options: &ProtectOptions,
) -> Result<Option<ProtectedTemplate>, Rejected> {
    protect_template_cancellable(text, options, &Cancel::never())
}

/// [`protect_template`], stopped with a [`ProblemKind::Cancelled`] problem at the next resource
/// (or the next step of one) once `cancel` is raised.
pub fn protect_template_cancellable(
    text: &str,
    options: &ProtectOptions,
    cancel: &Cancel,
) -> Result<Option<ProtectedTemplate>, Rejected> {
    cancel.check()?;
    let Some(Reading {
        format,
        mut root,
        intrinsics,
    }) = read(text)?
    else {
        return Ok(None);
    };
    // The left side of the diff: each resource as protect read it (normalized), the rest as is.
    let mut normalized_root = root.clone();
    let mut problems = Vec::new();
    // Every container name of every resource, to check the options' names against.
    let mut named: Vec<String> = Vec::new();
    let mut named_set: HashSet<String> = HashSet::new();
    let options_by_name = OptionsByName::new(options);
    let mut resources = Vec::new();
    let ids: Vec<String> = task_definition_ids(&root);
    if ids.is_empty() {
        return Err(Rejected::one(
            Problem::at(ProblemKind::NotATaskDefinition, "/Resources", format!("the template has no {TASK_DEFINITION_TYPE} resource"))
                .with_hint("paste the template that defines the task definition, or the task definition itself"),
        ));
    }
    for id in ids {
        cancel.check()?;
        if let Some(problem) = too_long_logical_id(&id) {
            problems.push(problem);
            continue;
        }
        let resource_pointer = pointer_push(&pointer_push("/Resources", &id), "Properties");
        let properties = root["Resources"][&id]
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let (mut task, seen, coerced) = read_properties(&properties);
        let structural = structural_intrinsics(&task, &resource_pointer, &seen);
        if !structural.is_empty() {
            problems.extend(structural);
            continue;
        }
        // CloudFormation names the family itself when Family is left out; the API requires one,
        // so a stand-in is validated as unknown and taken out again.
        let family_absent = task.get("family").is_none() && task.is_object();
        if family_absent {
            task["family"] = Value::String(token(usize::MAX));
        }
        // A leaf is unknown when an intrinsic function stands there: asked of the task itself,
        // since a list of their pointers would repeat every key above each of them.
        let is_unknown = |pointer: &str| task.pointer(pointer).is_some_and(is_token);
        // The options name containers of any resource: each resource gets those of its own.
        let names: Vec<String> = crate::array_items(task.get("containerDefinitions"))
            .filter_map(|container| container.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        named_set.extend(names.iter().cloned());
        let own = options_by_name.for_containers(&names);
        named.extend(names);
        match protect_with_unknowns(&to_pretty(&task), &own, &is_unknown, cancel) {
            Ok(mut protected) => {
                // Warnings about what an intrinsic function stands for are not the user's.
                protected
                    .warnings
                    .retain(|warning| !warning.pointer.as_deref().is_some_and(is_unknown));
                for warning in &mut protected.warnings {
                    relocate_warning(warning, &resource_pointer, &seen);
                    warning.message = readable(&warning.message, &intrinsics);
                }
                if family_absent {
                    for document in [&mut protected.output, &mut protected.normalized] {
                        if let Value::Object(task) = document {
                            task.shift_remove("family");
                        }
                    }
                    protected.family = None;
                }
                let mut output = protected.output.clone();
                uncoerce(&mut output, &coerced);
                root["Resources"][&id]["Properties"] = to_template(&output, &seen);
                let mut before = protected.normalized.clone();
                uncoerce(&mut before, &coerced);
                normalized_root["Resources"][&id]["Properties"] = to_template(&before, &seen);
                resources.push(ProtectedResource {
                    logical_id: id,
                    protected,
                });
            }
            Err(rejected) if rejected.has(ProblemKind::Cancelled) => return Err(rejected),
            Err(rejected) => {
                for mut problem in rejected.problems {
                    problem.message =
                        format!("resource {id}: {}", readable(&problem.message, &intrinsics));
                    problem.hint = problem.hint.map(|hint| readable(&hint, &intrinsics));
                    problem.pointer = problem
                        .pointer
                        .map(|pointer| template_pointer(&resource_pointer, &pointer, &seen));
                    problem.line = None;
                    problem.column = None;
                    problems.push(problem);
                }
            }
        }
    }
    let given = options
        .include
        .iter()
        .chain(&options.exclude)
        .chain(options.image_argv.keys());
    let mut containers = None;
    for name in given {
        if !named_set.contains(name) {
            let containers = containers.get_or_insert_with(|| containers_hint(&named));
            problems.push(
                Problem::at(
                    ProblemKind::Options,
                    "/Resources",
                    format!("the options name `{name}`, which is not a container of any task definition in the template"),
                )
                .with_hint(containers.clone()),
            );
        }
    }
    cancel.check()?;
    if !problems.is_empty() {
        let mut rejected = Rejected { problems };
        match format {
            TemplateFormat::Json => locate(text, &mut rejected),
            TemplateFormat::Yaml => locate_yaml(text, &mut rejected, cancel)?,
        }
        return Err(rejected);
    }
    Ok(Some(ProtectedTemplate {
        format,
        normalized: write(format, &normalized_root, &intrinsics),
        output: write(format, &root, &intrinsics),
        resources,
        intrinsics,
    }))
}

fn too_long_logical_id(id: &str) -> Option<Problem> {
    let length = id.chars().count();
    (length > MAX_LOGICAL_ID_CHARS).then(|| {
        let start: String = id.chars().take(32).collect();
        Problem::at(
            ProblemKind::Limit,
            "/Resources",
            format!("the logical ID `{start}…` is {length} characters long: CloudFormation takes at most {MAX_LOGICAL_ID_CHARS}"),
        )
        .with_hint("give the resource a shorter logical ID")
    })
}

/// The template's containers, as a hint to an option naming none of them. Each such option gets
/// it: the list stops at [`MAX_PROBLEMS`] names, or thousands of options each naming thousands
/// of containers would make a list per option as long as the template.
fn containers_hint(named: &[String]) -> String {
    let listed: Vec<&str> = named
        .iter()
        .take(MAX_PROBLEMS)
        .map(String::as_str)
        .collect();
    match named.len() - listed.len() {
        0 => format!("containers: {}", listed.join(", ")),
        more => format!("containers: {} and {more} more", listed.join(", ")),
    }
}

/// The options' container names, indexed once: each resource takes the options that name its
/// own containers in time for its containers, not for every option given.
struct OptionsByName<'a> {
    options: &'a ProtectOptions,
    /// The options without the ones naming containers: every resource's start.
    unnamed: ProtectOptions,
    include: HashMap<&'a str, Vec<usize>>,
    exclude: HashMap<&'a str, Vec<usize>>,
}

impl<'a> OptionsByName<'a> {
    fn new(options: &'a ProtectOptions) -> Self {
        let positions = |names: &'a [String]| {
            let mut by_name: HashMap<&'a str, Vec<usize>> = HashMap::new();
            for (position, name) in names.iter().enumerate() {
                by_name.entry(name).or_default().push(position);
            }
            by_name
        };
        OptionsByName {
            options,
            unnamed: ProtectOptions {
                include: Vec::new(),
                exclude: Vec::new(),
                image_argv: BTreeMap::new(),
                ..options.clone()
            },
            include: positions(&options.include),
            exclude: positions(&options.exclude),
        }
    }

    /// The options that name any of `names`, in the order they were given.
    fn for_containers(&self, names: &[String]) -> ProtectOptions {
        let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
        let pick = |given: &[String], by_name: &HashMap<&str, Vec<usize>>| {
            let mut positions: Vec<usize> = distinct
                .iter()
                .filter_map(|name| by_name.get(name))
                .flatten()
                .copied()
                .collect();
            positions.sort_unstable();
            positions
                .into_iter()
                .map(|position| given[position].clone())
                .collect()
        };
        let mut own = self.unnamed.clone();
        own.include = pick(&self.options.include, &self.include);
        own.exclude = pick(&self.options.exclude, &self.exclude);
        own.image_argv = distinct
            .iter()
            .filter_map(|name| self.options.image_argv.get_key_value(*name))
            .map(|(name, argv)| (name.clone(), argv.clone()))
            .collect();
        own
    }
}

fn relocate_warning(warning: &mut Warning, resource_pointer: &str, seen: &HashMap<String, String>) {
    warning.pointer = warning
        .pointer
        .as_ref()
        .map(|pointer| template_pointer(resource_pointer, pointer, seen));
}

/// Line and column of each problem in a JSON template.
fn locate(text: &str, rejected: &mut Rejected) {
    let pointers: Vec<String> = rejected
        .problems
        .iter()
        .map(|problem| problem.pointer.clone().unwrap_or_default())
        .collect();
    let wanted: Vec<&str> = pointers.iter().map(String::as_str).collect();
    for (problem, place) in rejected
        .problems
        .iter_mut()
        .zip(crate::parse::locate_all(text, &wanted))
    {
        if let Some((line, column)) = place {
            problem.line = Some(line);
            problem.column = Some(column);
        }
    }
}

/// Line and column of each problem with a pointer in a YAML template, in block style or the
/// nearest node holding it (see `yaml_places`).
fn locate_yaml(text: &str, rejected: &mut Rejected, cancel: &Cancel) -> Result<(), Rejected> {
    let pointers: Vec<&str> = rejected
        .problems
        .iter()
        .filter_map(|problem| problem.pointer.as_deref())
        .collect();
    let places = yaml_places::yaml_places(text, &pointers, cancel)?;
    let with_pointer = rejected
        .problems
        .iter_mut()
        .filter(|problem| problem.pointer.is_some());
    for (problem, place) in with_pointer.zip(places) {
        if let Some((line, column)) = place {
            problem.line = Some(line);
            problem.column = Some(column);
        }
    }
    Ok(())
}

fn task_definition_ids(root: &Value) -> Vec<String> {
    root.get("Resources")
        .and_then(Value::as_object)
        .map(|resources| {
            resources
                .iter()
                .filter(|(_, resource)| {
                    resource.get("Type").and_then(Value::as_str) == Some(TASK_DEFINITION_TYPE)
                })
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes Palisade's protection from every task definition resource; `Ok(None)` when `text` is
/// not a template. Answers the template and whether any resource was protected.
pub fn unprotect_template(text: &str) -> Result<Option<(String, bool)>, Rejected> {
    unprotect_template_cancellable(text, &Cancel::never())
}

/// [`unprotect_template`], stopped with a [`ProblemKind::Cancelled`] problem at the next
/// resource once `cancel` is raised.
pub fn unprotect_template_cancellable(
    text: &str,
    cancel: &Cancel,
) -> Result<Option<(String, bool)>, Rejected> {
    cancel.check()?;
    let Some(Reading {
        format,
        mut root,
        intrinsics,
    }) = read(text)?
    else {
        return Ok(None);
    };
    let mut any = false;
    for id in task_definition_ids(&root) {
        cancel.check()?;
        let Some(properties) = root["Resources"][&id].get("Properties").cloned() else {
            continue;
        };
        let (task, seen, coerced) = read_properties(&properties);
        let unprotected =
            unprotect_text_cancellable(&to_pretty(&task), cancel).map_err(|mut rejected| {
                for problem in &mut rejected.problems {
                    if problem.kind != ProblemKind::Cancelled {
                        problem.message = format!("resource {id}: {}", problem.message);
                    }
                }
                rejected
            })?;
        if unprotected.was_protected {
            any = true;
            let mut output = unprotected.output;
            uncoerce(&mut output, &coerced);
            root["Resources"][&id]["Properties"] = to_template(&output, &seen);
        }
    }
    cancel.check()?;
    Ok(Some((write(format, &root, &intrinsics), any)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenSource;

    fn options() -> ProtectOptions {
        ProtectOptions {
            console_url: Some("https://palisade.example".into()),
            token: Some(TokenSource::Secret(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:palisade".into(),
            )),
            ..ProtectOptions::default()
        }
    }

    /// `tests/templates/two-tasks-firelens.yaml` with its `ApiTask` (whose `api` container runs
    /// an image known only by parameter, so its argv is missing) repeated `copies` times.
    fn api_tasks(copies: usize) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/templates");
        let text = std::fs::read_to_string(dir.join("two-tasks-firelens.yaml")).unwrap();
        let start = text.find("  ApiTask:\n").unwrap();
        let end = text.find("  WorkerTask:\n").unwrap();
        let copies: String = (0..copies)
            .map(|copy| text[start..end].replace("ApiTask:", &format!("ApiTask{copy}:")))
            .collect();
        format!("{}{copies}{}", &text[..start], &text[end..])
    }

    #[test]
    fn a_problem_in_each_of_400_resources_is_placed_in_one_read_of_the_template() {
        let text = api_tasks(400);
        yaml_places::LINES_READ.with(|lines| lines.set(0));
        let rejected = protect_template(&text, &options()).unwrap_err();
        // One read of the text places all 400 (a read per problem was 400 reads).
        assert_eq!(
            yaml_places::LINES_READ.with(std::cell::Cell::get),
            text.lines().count()
        );
        let api_lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_start() == "- Name: api")
            .map(|(index, _)| index + 1)
            .collect();
        assert_eq!(rejected.problems.len(), 400, "{rejected}");
        for (copy, problem) in rejected.problems.iter().enumerate() {
            assert_eq!(problem.kind, ProblemKind::MissingEntrypoint, "{problem}");
            assert_eq!(
                problem.pointer.as_deref(),
                Some(
                    format!("/Resources/ApiTask{copy}/Properties/ContainerDefinitions/1").as_str()
                )
            );
            assert_eq!(
                (problem.line, problem.column),
                (Some(api_lines[copy]), Some(9))
            );
        }
    }

    #[test]
    fn options_naming_no_container_share_one_list_of_containers_of_bounded_length() {
        let containers: Vec<String> = (0..3000)
            .map(|index| format!("        - Name: c{index}\n          Image: x\n"))
            .collect();
        let text = format!(
            "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n{}",
            containers.concat()
        );
        let mut options = options();
        options.include = (0..3000).map(|index| format!("missing{index}")).collect();
        let rejected = protect_template(&text, &options).unwrap_err();
        let unknown: Vec<&Problem> = rejected
            .problems
            .iter()
            .filter(|problem| problem.kind == ProblemKind::Options)
            .collect();
        assert_eq!(unknown.len(), 3000);
        let hint = unknown[0].hint.as_deref().unwrap();
        assert!(hint.starts_with("containers: c0, c1,"), "{hint}");
        assert!(hint.ends_with("c99 and 2900 more"), "{hint}");
    }

    #[test]
    fn protect_looks_at_the_cancel_flag_for_every_resource() {
        let text = api_tasks(20);
        let counting = Cancel::raised_at_check(usize::MAX);
        let finished = protect_template_cancellable(&text, &options(), &counting).unwrap_err();
        assert_eq!(finished.problems.len(), 20, "{finished}");
        let checks = counting.checks();
        assert!(checks >= 20, "{checks} checks for 20 resources");

        // Raised at any of those checks (before the work, after the first resource, halfway, at
        // the very end), the flag stops the work there: nothing is asked after it.
        for raised_at in [1, 2, checks / 2, checks] {
            let cancel = Cancel::raised_at_check(raised_at);
            let rejected = protect_template_cancellable(&text, &options(), &cancel).unwrap_err();
            assert_eq!(rejected.problems.len(), 1, "{rejected}");
            assert_eq!(rejected.problems[0].kind, ProblemKind::Cancelled);
            assert_eq!(cancel.checks(), raised_at);
        }
    }

    #[test]
    fn unprotect_looks_at_the_cancel_flag_for_every_resource() {
        let text = api_tasks(20);
        let mut options = options();
        options.image_argv.insert(
            "api".into(),
            crate::ImageArgv {
                entry_point: vec!["/app/api".into()],
                command: None,
            },
        );
        let protected = protect_template(&text, &options).unwrap().unwrap();
        let counting = Cancel::raised_at_check(usize::MAX);
        assert!(
            unprotect_template_cancellable(&protected.output, &counting)
                .unwrap()
                .unwrap()
                .1
        );
        assert!(counting.checks() >= 20);
        let cancel = Cancel::raised_at_check(counting.checks() / 2);
        let rejected = unprotect_template_cancellable(&protected.output, &cancel).unwrap_err();
        assert!(rejected.has(ProblemKind::Cancelled), "{rejected}");
        assert!(!rejected.problems[0].message.starts_with("resource"));
    }
}
