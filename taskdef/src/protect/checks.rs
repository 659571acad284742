//! What refuses a task outright (a Windows task) and what is worth a warning (template
//! placeholders left in its strings).

use super::strings;
use crate::problem::{Problem, ProblemKind};
use crate::summary::Warning;
use crate::validate::looks_like_placeholder;
use crate::{array_items, Path};
use serde_json::{Map, Value};

/// Windows tasks cannot be protected: no pidMode, no Linux /proc. Returns the first evidence.
pub(super) fn windows_evidence(task: &Map<String, Value>) -> Option<Problem> {
    let refuse = |pointer: String, why: String| {
        Some(
            Problem::at(ProblemKind::Windows, pointer, format!("this is a Windows task definition ({why}); Palisade protects Linux tasks only"))
                .with_hint("protect the Linux tasks of this service; Windows containers have no task pidMode for the defender to use"),
        )
    };
    if let Some(family) = task
        .get("runtimePlatform")
        .and_then(|p| p.get("operatingSystemFamily"))
        .and_then(Value::as_str)
    {
        if family.to_ascii_uppercase().starts_with("WINDOWS") {
            return refuse(
                "/runtimePlatform/operatingSystemFamily".into(),
                format!("operatingSystemFamily {family}"),
            );
        }
    }
    for (index, container) in array_items(task.get("containerDefinitions")).enumerate() {
        for key in ["entryPoint", "command"] {
            if let Some(first) =
                strings(container.get(key)).and_then(|argv| argv.into_iter().next())
            {
                let program = first.to_ascii_lowercase();
                let program = program.rsplit(['\\', '/']).next().unwrap_or_default();
                if ["powershell", "powershell.exe", "pwsh.exe", "cmd.exe"].contains(&program) {
                    return refuse(
                        format!("/containerDefinitions/{index}/{key}/0"),
                        format!("it runs {first}"),
                    );
                }
            }
        }
        for option in strings(container.get("dockerSecurityOptions")).unwrap_or_default() {
            if option.starts_with("credentialspec:") {
                return refuse(
                    format!("/containerDefinitions/{index}/dockerSecurityOptions"),
                    "a gMSA credentialspec".into(),
                );
            }
        }
    }
    for (index, volume) in array_items(task.get("volumes")).enumerate() {
        if let Some(path) = volume.pointer("/host/sourcePath").and_then(Value::as_str) {
            // Bytes, not a str slice: `a:€` must not split a character (it once panicked here).
            let bytes = path.as_bytes();
            let drive = bytes.first().is_some_and(u8::is_ascii_alphabetic)
                && bytes.get(1..3) == Some(b":\\".as_slice());
            if drive || path.starts_with("\\\\") {
                return refuse(
                    format!("/volumes/{index}/host/sourcePath"),
                    format!("host path {path}"),
                );
            }
        }
    }
    None
}

/// Keys whose strings are shell or user text, where `${X}` or `<b>` is legitimate.
pub(super) const FREE_TEXT_KEYS: [&str; 6] = [
    "command",
    "entryPoint",
    "healthCheck",
    "environment",
    "dockerLabels",
    "options",
];

/// Warns about template syntax left in the task's strings (images, names, ARNs...).
pub(super) fn placeholder_warnings(value: &Value, path: &Path<'_>, warnings: &mut Vec<Warning>) {
    match value {
        Value::String(text) if looks_like_placeholder(text) => warnings.push(Warning {
            pointer: Some(path.render()),
            message: format!("`{text}` looks like an unrendered template placeholder: render it before registering"),
        }),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                placeholder_warnings(item, &path.index(index), warnings);
            }
        }
        Value::Object(object) => {
            for (key, item) in object.iter().filter(|(key, _)| !FREE_TEXT_KEYS.contains(&key.as_str())) {
                placeholder_warnings(item, &path.key(key), warnings);
            }
        }
        _ => {}
    }
}
