//! Where the `Properties` entry of each wanted resource starts and ends in a YAML template's
//! text, found in one read of its lines the way `yaml_places` reads them (block style, each node
//! with the lines deeper than it as its children). The entry runs from its key to the end of its
//! last line that is not blank or a comment: comments and blank lines after it stay with what
//! follows. A resource written in flow style (`Task: {Type: ..., Properties: ...}`) has no entry
//! found; the caller then writes the template whole.

use super::yaml_places::{key_of, line_nodes, Node};
use std::collections::HashMap;

/// A resource's `Properties` entry in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PropertiesSpan {
    /// Byte offset of its key.
    pub(super) start: usize,
    /// Byte offset just past its last line (its line break excluded).
    pub(super) end: usize,
    /// Column of its key, in bytes.
    pub(super) column: usize,
    /// How far its key stands in from its resource's: the template's indentation step.
    pub(super) unit: usize,
}

/// What a node on the way to a wanted `Properties` is.
#[derive(Clone, Copy)]
enum Role {
    Top,
    Resources,
    /// A wanted resource: its index in the wanted ids.
    Resource(usize),
    Properties {
        index: usize,
        start: usize,
        unit: usize,
    },
    Other,
}

/// A node that can still take children (see `yaml_places`).
struct Open {
    role: Role,
    column: Option<usize>,
    children_column: Option<usize>,
}

/// The `Properties` entry of each resource of `ids` (top-level `Resources`, then the resource's
/// logical ID), `None` for those not found in block style.
pub(super) fn properties_spans(text: &str, ids: &[&str]) -> Vec<Option<PropertiesSpan>> {
    let mut scan = Scan {
        wanted: ids
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, index))
            .collect(),
        spans: vec![None; ids.len()],
        open: vec![Open {
            role: Role::Top,
            column: None,
            children_column: None,
        }],
        last_content_end: 0,
    };
    let mut offset = 0;
    // The column a block scalar's lines must stand deeper than, while one is read.
    let mut block_scalar: Option<usize> = None;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line_start = offset;
        offset += raw.len();
        if let Some(column) = block_scalar {
            let content = line.trim_start_matches(' ');
            if content.trim().is_empty() {
                continue;
            }
            if line.len() - content.len() > column {
                scan.last_content_end = line_start + line.len();
                continue;
            }
            block_scalar = None;
        }
        let nodes: Vec<Node<'_>> = line_nodes(index + 1, line).collect();
        let (Some(first), Some(last)) = (nodes.first(), nodes.last()) else {
            continue;
        };
        if opens_block_scalar(last.content) {
            block_scalar = Some(first.column);
        }
        for node in &nodes {
            scan.add(node, line_start);
        }
        scan.last_content_end = line_start + line.len();
    }
    scan.close_until(None);
    scan.spans
}

/// The read so far: the nodes still open and the spans found.
struct Scan<'a> {
    wanted: HashMap<&'a str, usize>,
    spans: Vec<Option<PropertiesSpan>>,
    open: Vec<Open>,
    /// Byte offset just past the last line that is not blank or a comment.
    last_content_end: usize,
}

impl Scan<'_> {
    /// Places `node` (on the line starting at `line_start`) under the deepest open node left of
    /// it, as `yaml_places` does, and says what it is on the way to a wanted `Properties`.
    fn add(&mut self, node: &Node<'_>, line_start: usize) {
        self.close_until(Some(node.column));
        let Some(parent) = self.open.last_mut() else {
            return;
        };
        if *parent.children_column.get_or_insert(node.column) != node.column {
            return;
        }
        let key = (!node.is_item).then(|| key_of(node.content)).flatten();
        let role = match (parent.role, key) {
            (Role::Top, Some("Resources")) => Role::Resources,
            (Role::Resources, Some(key)) => self
                .wanted
                .get(key)
                .map_or(Role::Other, |&index| Role::Resource(index)),
            (Role::Resource(index), Some("Properties")) => Role::Properties {
                index,
                start: line_start + node.column,
                unit: node.column - parent.column.unwrap_or_default(),
            },
            _ => Role::Other,
        };
        self.open.push(Open {
            role,
            column: Some(node.column),
            children_column: None,
        });
    }

    /// Closes the open nodes standing at `column` or right of it (all of them for `None`),
    /// recording each `Properties` closed (the first one of each resource: YAML refuses a key
    /// given twice, so a second is none the reader sees).
    fn close_until(&mut self, column: Option<usize>) {
        while let Some(node) = self.open.pop() {
            let still_open = match (node.column, column) {
                (Some(open), Some(column)) => open < column,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if still_open {
                self.open.push(node);
                return;
            }
            if let (Role::Properties { index, start, unit }, Some(column)) =
                (node.role, node.column)
            {
                if self.spans[index].is_none() {
                    self.spans[index] = Some(PropertiesSpan {
                        start,
                        end: self.last_content_end.max(start),
                        column,
                        unit,
                    });
                }
            }
        }
    }
}

/// Whether a line's last node opens a block scalar (`Command: |`, `- >-`, `Script: !Sub |`): the
/// lines after it that stand deeper are its text, whatever they hold (a `#` there is no comment).
fn opens_block_scalar(content: &str) -> bool {
    let value = content.split_once(": ").map_or(content, |(_, value)| value);
    let value = value.split(" #").next().unwrap_or_default();
    let mut words = value.split_whitespace().rev();
    let Some(indicator) = words.next() else {
        return false;
    };
    let is_indicator = indicator.starts_with(['|', '>'])
        && indicator.len() <= 3
        && indicator[1..]
            .bytes()
            .all(|byte| matches!(byte, b'+' | b'-' | b'0'..=b'9'));
    is_indicator && words.all(|word| word.starts_with(['!', '&']))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "# head\nResources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: b\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties: # the task\n      Family: web\n      ContainerDefinitions:\n        - Name: a\n          Command: |\n            run\n\n            # not a comment\n\n      # after the task\n    DependsOn: Bucket\n  Last:\n    Properties:\n        Deep: x\n";

    fn spans(text: &str, ids: &[&str]) -> Vec<Option<String>> {
        properties_spans(text, ids)
            .into_iter()
            .map(|span| span.map(|span| text[span.start..span.end].to_owned()))
            .collect()
    }

    #[test]
    fn each_wanted_resource_gets_its_properties_from_key_to_last_line() {
        let found = properties_spans(TEMPLATE, &["Task", "Last", "Missing"]);
        let task = found[0].clone().unwrap();
        assert_eq!(
            &TEMPLATE[task.start..task.end],
            "Properties: # the task\n      Family: web\n      ContainerDefinitions:\n        - Name: a\n          Command: |\n            run\n\n            # not a comment"
        );
        assert_eq!((task.column, task.unit), (4, 2));
        let last = found[1].clone().unwrap();
        assert_eq!(
            &TEMPLATE[last.start..last.end],
            "Properties:\n        Deep: x"
        );
        assert_eq!(found[2], None);
    }

    #[test]
    fn line_breaks_of_either_kind_and_other_indentation_are_read() {
        let crlf =
            "Resources:\r\n    Task:\r\n        Properties:\r\n            A: 1\r\nOutputs: {}\r\n";
        let found = properties_spans(crlf, &["Task"]);
        let task = found[0].clone().unwrap();
        assert_eq!(
            &crlf[task.start..task.end],
            "Properties:\r\n            A: 1"
        );
        assert_eq!((task.column, task.unit), (8, 4));
    }

    #[test]
    fn flow_style_and_other_places_give_no_span() {
        assert_eq!(
            spans("Resources: {Task: {Properties: {A: 1}}}\n", &["Task"]),
            [None]
        );
        assert_eq!(
            spans("Other:\n  Task:\n    Properties:\n      A: 1\n", &["Task"]),
            [None]
        );
        assert_eq!(
            spans(
                "Resources:\n  Task:\n    Metadata:\n      Properties: 1\n",
                &["Task"]
            ),
            [None]
        );
        assert_eq!(spans("", &["Task"]), [None]);
    }
}
