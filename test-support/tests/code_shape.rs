//! The workspace's code keeps a shape a newcomer can read in one sitting: no function (outside
//! tests) over 80 lines, no source file over 700 lines before its tests. Functions are found the
//! way rustfmt lays them out: a line starting `fn`, `pub fn`, `async fn`..., ended by the first
//! `}` at the same indentation; a file's tests start at its `#[cfg(test)]` module.

use std::path::{Path, PathBuf};

const MOST_FUNCTION_LINES: usize = 80;
const MOST_FILE_LINES: usize = 700;

/// Every `.rs` file of the workspace outside tests, benches' data, fuzz and build output.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            let skipped = ["target", "node_modules", "tests", "fuzz", "end2end", ".git"];
            if !skipped.contains(&name.as_ref()) && !name.starts_with('.') {
                sources(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The name of the function a line starts, if it starts one (a declaration without a body, in a
/// trait, is not one).
fn function_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    if line.trim_end().ends_with(';') {
        return None;
    }
    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// (lines before the tests, the functions over the bound with their lengths)
fn shape(text: &str) -> (usize, Vec<(String, usize)>) {
    let lines: Vec<&str> = text.lines().collect();
    let before_tests = lines
        .iter()
        .position(|line| line.starts_with("#[cfg(test)]") || line.starts_with("#[cfg(all(test"))
        .unwrap_or(lines.len());
    let mut long = Vec::new();
    let mut at = 0;
    while at < before_tests {
        let Some(name) = function_name(lines[at]) else {
            at += 1;
            continue;
        };
        let indent = indentation(lines[at]);
        let end = (at..before_tests)
            .find(|&n| lines[n].trim_end() == format!("{}}}", " ".repeat(indent)))
            .unwrap_or(before_tests - 1);
        let length = end - at + 1;
        if length > MOST_FUNCTION_LINES {
            long.push((name.to_owned(), length));
        }
        at = end + 1;
    }
    (before_tests, long)
}

#[test]
fn no_function_over_80_lines_and_no_file_over_700_before_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 50, "the workspace's sources were not found");
    let mut said = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let (lines, long) = shape(&text);
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if lines > MOST_FILE_LINES {
            said.push(format!("{shown}: {lines} lines before its tests (at most {MOST_FILE_LINES}: split it by job)"));
        }
        for (name, length) in long {
            said.push(format!("{shown}: fn {name} is {length} lines (at most {MOST_FUNCTION_LINES}: cut it into named phases)"));
        }
    }
    assert!(said.is_empty(), "{}", said.join("\n"));
}

#[test]
fn functions_are_measured_from_their_signature_to_their_closing_brace() {
    let text = "pub async fn short() {\n    one();\n}\n\nfn long() {\n".to_owned()
        + &"    x();\n".repeat(85)
        + "}\n#[cfg(test)]\nmod tests {\n    fn ignored() {\n"
        + &"    y();\n".repeat(100)
        + "    }\n}\n";
    let (before_tests, long) = shape(&text);
    assert_eq!(before_tests, 4 + 87);
    assert_eq!(long, [("long".to_owned(), 87)]);
    assert_eq!(function_name("    fn declared(&self);"), None);
}
