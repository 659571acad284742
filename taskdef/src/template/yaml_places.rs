//! Where the nodes a list of JSON pointers name start in a YAML template (line and column, from
//! 1), all found in one read of the text: serde's YAML values keep no positions, so the lines are
//! read as block-style YAML (the way templates are written almost always), each node with the
//! lines deeper than it as its children. A pointer into flow style (`[a, b]`) or past what the
//! text has stops at the deepest node found on its way.

use crate::cancel::Cancel;
use crate::problem::Rejected;
use std::collections::HashMap;

/// Lines read between two looks at the cancellation flag.
const LINES_PER_CANCEL_CHECK: usize = 4096;

#[cfg(test)]
thread_local! {
    /// How many lines of text the locator has read on this thread: tests count the passes.
    pub(super) static LINES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The line and column of each pointer's node, or of its deepest ancestor the text has; `None`
/// when not even the first step of the pointer is found.
pub(super) fn yaml_places(
    text: &str,
    pointers: &[&str],
    cancel: &Cancel,
) -> Result<Vec<Option<(usize, usize)>>, Rejected> {
    let outline = Outline::read(text, cancel)?;
    Ok(pointers
        .iter()
        .map(|pointer| outline.place(pointer))
        .collect())
}

/// A line's node: a sequence item's `-`, or content (a `key: value`, a scalar...). A line
/// `- Name: api` holds both: the item, and two columns further in the mapping it opens.
pub(super) struct Node<'a> {
    pub(super) line: usize,
    /// In bytes from the start of the line.
    pub(super) column: usize,
    pub(super) content: &'a str,
    pub(super) is_item: bool,
}

/// A node that can still take children: the nodes on the way from the top to the current line.
struct Open {
    node: usize,
    /// `None` for the top, which holds every line.
    column: Option<usize>,
    /// Where its children start: the column of its first line, which the others must share.
    children_column: Option<usize>,
}

/// The nodes of the text and how they nest, indexed for the two kinds of pointer step.
struct Outline {
    /// (line, column) of each node, both from 0 for the column and from 1 for the line.
    places: Vec<(usize, usize)>,
    /// A mapping's first child with that key, per parent (`usize::MAX` for the top).
    by_key: HashMap<(usize, String), usize>,
    /// A sequence's items in order, per parent.
    items: HashMap<usize, Vec<usize>>,
}

const TOP: usize = usize::MAX;

impl Outline {
    fn read(text: &str, cancel: &Cancel) -> Result<Self, Rejected> {
        let mut outline = Outline {
            places: Vec::new(),
            by_key: HashMap::new(),
            items: HashMap::new(),
        };
        let mut open = vec![Open {
            node: TOP,
            column: None,
            children_column: None,
        }];
        for (index, line) in text.lines().enumerate() {
            if index % LINES_PER_CANCEL_CHECK == 0 {
                cancel.check()?;
            }
            #[cfg(test)]
            LINES_READ.with(|lines| lines.set(lines.get() + 1));
            for node in line_nodes(index + 1, line) {
                outline.add(node, &mut open);
            }
        }
        Ok(outline)
    }

    /// Places `node` under the deepest open node whose column is left of its own. It is a
    /// child when it starts in that node's children's column; a line indented otherwise belongs
    /// to no node a pointer can reach, and holds no children either.
    fn add(&mut self, node: Node<'_>, open: &mut Vec<Open>) {
        while open
            .last()
            .and_then(|parent| parent.column)
            .is_some_and(|column| column >= node.column)
        {
            open.pop();
        }
        let Some(parent) = open.last_mut() else {
            return;
        };
        if *parent.children_column.get_or_insert(node.column) != node.column {
            return;
        }
        let id = self.places.len();
        self.places.push((node.line, node.column));
        if node.is_item {
            self.items.entry(parent.node).or_default().push(id);
        } else if let Some(key) = key_of(node.content) {
            self.by_key
                .entry((parent.node, key.to_owned()))
                .or_insert(id);
        }
        open.push(Open {
            node: id,
            column: Some(node.column),
            children_column: None,
        });
    }

    fn place(&self, pointer: &str) -> Option<(usize, usize)> {
        let mut node = TOP;
        let mut found = None;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let hit = match token.parse::<usize>() {
                Ok(index) => self
                    .items
                    .get(&node)
                    .and_then(|items| items.get(index))
                    .copied(),
                Err(_) => self.by_key.get(&(node, token)).copied(),
            };
            let Some(hit) = hit else {
                break;
            };
            let (line, column) = self.places[hit];
            found = Some((line, column + 1));
            node = hit;
        }
        found
    }
}

/// The nodes a line holds (none for a blank line or a comment); columns count bytes.
pub(super) fn line_nodes(number: usize, line: &str) -> impl Iterator<Item = Node<'_>> {
    let content = line.trim_start();
    let indent = line.len() - content.len();
    let (first, second) = if content.is_empty() || content.starts_with('#') {
        (None, None)
    } else {
        match content
            .strip_prefix("- ")
            .or_else(|| (content == "-").then_some(""))
        {
            Some(rest) => {
                let item = Node {
                    line: number,
                    column: indent,
                    content: "",
                    is_item: true,
                };
                let rest_trimmed = rest.trim_start();
                let opened = (!rest_trimmed.is_empty()).then(|| Node {
                    line: number,
                    column: indent + 2 + (rest.len() - rest_trimmed.len()),
                    content: rest_trimmed,
                    is_item: false,
                });
                (Some(item), opened)
            }
            None => (
                Some(Node {
                    line: number,
                    column: indent,
                    content,
                    is_item: false,
                }),
                None,
            ),
        }
    };
    first.into_iter().chain(second)
}

/// The key of a `key: value` line, quotes taken off.
pub(super) fn key_of(content: &str) -> Option<&str> {
    let (key, _) = content.split_once(':')?;
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "# a comment\nResources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      \"Family\": web\n      ContainerDefinitions:\n        - Name: a\n          Image: x\n        -\n          Name: b\n          PortMappings: [{ContainerPort: 80}]\n";

    fn place(text: &str, pointer: &str) -> Option<(usize, usize)> {
        yaml_places(text, &[pointer], &Cancel::never()).unwrap()[0]
    }

    #[test]
    fn a_pointer_is_found_in_block_yaml_or_its_deepest_ancestor_is() {
        let at = |pointer| place(TEMPLATE, pointer);
        assert_eq!(
            at("/Resources/Task/Properties/Family"),
            Some((6, 7)),
            "a quoted key"
        );
        assert_eq!(
            at("/Resources/Task/Properties/ContainerDefinitions/0"),
            Some((8, 9))
        );
        assert_eq!(
            at("/Resources/Task/Properties/ContainerDefinitions/0/Image"),
            Some((9, 11))
        );
        assert_eq!(
            at("/Resources/Task/Properties/ContainerDefinitions/1"),
            Some((10, 9)),
            "a dash alone on its line"
        );
        assert_eq!(
            at("/Resources/Task/Properties/ContainerDefinitions/1/Name"),
            Some((11, 11))
        );
        // Flow style: the node holding it.
        assert_eq!(
            at("/Resources/Task/Properties/ContainerDefinitions/1/PortMappings/0/ContainerPort"),
            Some((12, 11))
        );
        assert_eq!(
            at("/Resources/Other"),
            Some((2, 1)),
            "the deepest ancestor found"
        );
        assert_eq!(at("/Nothing"), None);
        assert_eq!(place("", "/a"), None);
    }

    #[test]
    fn a_line_indented_unlike_its_siblings_is_no_node_but_those_after_it_are() {
        let text = "p:\n    a: 1\n  odd: 2\n     under_odd: 3\n    b: 4\n";
        assert_eq!(place(text, "/p/a"), Some((2, 5)));
        assert_eq!(place(text, "/p/odd"), Some((1, 1)));
        assert_eq!(place(text, "/p/under_odd"), Some((1, 1)));
        assert_eq!(place(text, "/p/b"), Some((5, 5)));
    }

    #[test]
    fn every_pointer_is_answered_from_one_read_of_the_text() {
        let text: String = (0..300)
            .map(|index| format!("T{index}:\n  List:\n    - Name: n{index}\n"))
            .collect();
        let pointers: Vec<String> = (0..300)
            .map(|index| format!("/T{index}/List/0/Name"))
            .collect();
        let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
        LINES_READ.with(|lines| lines.set(0));
        let places = yaml_places(&text, &pointers, &Cancel::never()).unwrap();
        assert_eq!(LINES_READ.with(std::cell::Cell::get), text.lines().count());
        for (index, place) in places.iter().enumerate() {
            assert_eq!(*place, Some((index * 3 + 3, 7)));
        }
    }

    /// The locator as it was, a read of the text per pointer: what the one read must answer.
    fn place_by_reading_again(text: &str, pointer: &str) -> Option<(usize, usize)> {
        let mut lines: Vec<(usize, usize, &str, bool)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            match content
                .strip_prefix("- ")
                .or_else(|| (content == "-").then_some(""))
            {
                Some(rest) => {
                    lines.push((index + 1, indent, "", true));
                    let rest_trimmed = rest.trim_start();
                    if !rest_trimmed.is_empty() {
                        let column = indent + 2 + (rest.len() - rest_trimmed.len());
                        lines.push((index + 1, column, rest_trimmed, false));
                    }
                }
                None => lines.push((index + 1, indent, content, false)),
            }
        }
        let (mut from, mut indent, mut found) = (0usize, -1isize, None);
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let children: Vec<usize> = (from..lines.len())
                .take_while(|&at| lines[at].1 as isize > indent)
                .collect();
            let Some(child_indent) = children.first().map(|&at| lines[at].1) else {
                break;
            };
            let at_child = children
                .iter()
                .copied()
                .filter(|&at| lines[at].1 == child_indent);
            let hit = match token.parse::<usize>() {
                Ok(index) => at_child.filter(|&at| lines[at].3).nth(index),
                Err(_) => at_child
                    .filter(|&at| !lines[at].3)
                    .find(|&at| key_of(lines[at].2) == Some(token.as_str())),
            };
            let Some(at) = hit else {
                break;
            };
            found = Some((lines[at].0, lines[at].1 + 1));
            from = at + 1;
            indent = lines[at].1 as isize;
        }
        found
    }

    proptest::proptest! {
        #[test]
        fn one_read_places_every_pointer_where_a_read_per_pointer_did(
            lines in proptest::collection::vec(
                (0usize..4, proptest::prop_oneof![
                    proptest::strategy::Just("- "),
                    proptest::strategy::Just("-"),
                    proptest::strategy::Just("- - "),
                    proptest::strategy::Just(""),
                    proptest::strategy::Just("# "),
                ], proptest::prop_oneof![
                    proptest::strategy::Just("a:"),
                    proptest::strategy::Just("b: 1"),
                    proptest::strategy::Just("'a': x"),
                    proptest::strategy::Just("\"0\": [1, 2]"),
                    proptest::strategy::Just("c"),
                    proptest::strategy::Just(""),
                    proptest::strategy::Just("a~b/c: z"),
                ]),
                0..40,
            ),
            pointers in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::strategy::Just("a"),
                        proptest::strategy::Just("b"),
                        proptest::strategy::Just("0"),
                        proptest::strategy::Just("1"),
                        proptest::strategy::Just("c"),
                        proptest::strategy::Just("a~0b~1c"),
                    ],
                    0..6,
                ),
                1..20,
            ),
        ) {
            let text: String = lines
                .iter()
                .map(|(indent, opener, content)| format!("{}{opener}{content}\n", "  ".repeat(*indent)))
                .collect();
            let pointers: Vec<String> = pointers
                .iter()
                .map(|tokens| tokens.iter().map(|token| format!("/{token}")).collect())
                .collect();
            let wanted: Vec<&str> = pointers.iter().map(String::as_str).collect();
            let places = yaml_places(&text, &wanted, &Cancel::never()).unwrap();
            for (pointer, place) in wanted.iter().zip(places) {
                proptest::prop_assert_eq!(place, place_by_reading_again(&text, pointer), "{} in\n{}", pointer, text);
            }
        }
    }
}
