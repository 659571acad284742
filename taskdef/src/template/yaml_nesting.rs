//! How deep a YAML text nests, found before the YAML parser reads it. libyaml (under
//! serde_yaml_ng) spends, on every token it reads, time in proportion to the number of flow
//! collections (`[`, `{`) open around it: a few hundred kilobytes of `[[[[...` hold a core for
//! minutes before serde's depth limit is ever reached. This scan follows libyaml's own rules for
//! where each token starts and ends (quoted, plain and block scalars, comments, tags, anchors,
//! the indentation of block collections, the flow brackets), in one pass that builds nothing,
//! and names the first place where block and flow collections together nest past a limit.
//!
//! Where the text is not valid YAML, libyaml stops at its first error; this scan reads on past
//! it, so it may count collections the parser never reaches, never stop before the parser does.

/// A place in the text: byte offset, line (from 0) and column (from 0, in characters), as libyaml
/// counts them.
#[derive(Clone, Copy, Debug)]
struct Mark {
    offset: usize,
    line: usize,
    column: usize,
}

/// Line and column (from 1) of the token that opened the collection one too deep.
pub(super) fn first_place_too_deep(text: &str, limit: usize) -> Option<(usize, usize)> {
    Scanner::new(text, limit)
        .run()
        .err()
        .map(|TooDeep(mark)| (mark.line + 1, mark.column + 1))
}

/// The scan stops at the first collection that nests too deep.
struct TooDeep(Mark);

/// libyaml's scanner state, as far as it decides where tokens are.
struct Scanner<'a> {
    bytes: &'a [u8],
    mark: Mark,
    /// Flow collections open around the current token.
    flow_level: usize,
    /// The column of the innermost block collection (-1 outside any).
    indent: isize,
    /// The columns of the block collections around it.
    indents: Vec<isize>,
    simple_key_allowed: bool,
    /// Where a possible key of a block mapping starts (libyaml's simple key of flow level 0): a
    /// `:` after it opens the mapping at its column.
    simple_key: Option<Mark>,
    limit: usize,
    /// The most collections open at once so far.
    deepest: usize,
}

const BREAK_NEL: [u8; 2] = [0xC2, 0x85];
const BREAK_LINE_SEPARATOR: [u8; 3] = [0xE2, 0x80, 0xA8];
const BREAK_PARAGRAPH_SEPARATOR: [u8; 3] = [0xE2, 0x80, 0xA9];
/// Characters a tag may hold after its `!` (libyaml's URI characters); a verbatim tag `!<...>`
/// may hold `,`, `[` and `]` too.
const TAG_PUNCTUATION: &[u8] = b";/?:@&=+$.%!~*'()";

impl<'a> Scanner<'a> {
    fn new(text: &'a str, limit: usize) -> Self {
        Scanner {
            bytes: text.as_bytes(),
            mark: Mark {
                offset: 0,
                line: 0,
                column: 0,
            },
            flow_level: 0,
            indent: -1,
            indents: Vec::new(),
            simple_key_allowed: true,
            simple_key: None,
            limit,
            deepest: 0,
        }
    }

    fn run(&mut self) -> Result<(), TooDeep> {
        loop {
            self.skip_to_next_token();
            self.forget_stale_simple_key();
            self.unroll_indent(self.mark.column as isize);
            let Some(byte) = self.byte(0) else {
                return Ok(());
            };
            if self.mark.column == 0 && byte == b'%' {
                // A directive: it runs to the end of its line.
                self.unroll_indent(-1);
                self.remove_simple_key();
                self.simple_key_allowed = false;
                while !self.is_break_or_end(0) {
                    self.skip();
                }
                continue;
            }
            if self.is_document_indicator() {
                self.unroll_indent(-1);
                self.remove_simple_key();
                self.simple_key_allowed = false;
                self.skip_n(3);
                continue;
            }
            let before = self.mark.offset;
            self.token(byte)?;
            if self.mark.offset == before {
                // Every token reads at least a character; should one not, the scan still ends.
                self.skip();
            }
        }
    }

    /// Reads the token that starts with `byte`.
    fn token(&mut self, byte: u8) -> Result<(), TooDeep> {
        let in_flow = self.flow_level > 0;
        match byte {
            b'[' | b'{' => {
                self.save_simple_key();
                self.flow_level += 1;
                self.check_depth(self.mark)?;
                self.simple_key_allowed = true;
                self.skip();
            }
            b']' | b'}' => {
                self.remove_simple_key();
                self.flow_level = self.flow_level.saturating_sub(1);
                self.simple_key_allowed = false;
                self.skip();
            }
            b',' => {
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.skip();
            }
            b'-' if self.is_blank_break_or_end(1) => {
                self.roll_indent(self.mark)?;
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.skip();
            }
            b'?' if in_flow || self.is_blank_break_or_end(1) => {
                self.roll_indent(self.mark)?;
                self.remove_simple_key();
                self.simple_key_allowed = !in_flow;
                self.skip();
            }
            b':' if in_flow || self.is_blank_break_or_end(1) => {
                if in_flow {
                    self.simple_key_allowed = false;
                } else if let Some(key) = self.simple_key.take() {
                    self.roll_indent(key)?;
                    self.simple_key_allowed = false;
                } else {
                    self.roll_indent(self.mark)?;
                    self.simple_key_allowed = true;
                }
                self.skip();
            }
            b'*' | b'&' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.skip();
                while self.byte(0).is_some_and(is_anchor_character) {
                    self.skip();
                }
            }
            b'!' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.tag();
            }
            b'|' | b'>' if !in_flow => {
                self.remove_simple_key();
                self.simple_key_allowed = true;
                self.block_scalar();
            }
            b'\'' | b'"' => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.quoted_scalar(byte);
            }
            _ if self.starts_plain_scalar(byte) => {
                self.save_simple_key();
                self.simple_key_allowed = false;
                self.plain_scalar();
            }
            // A character no token starts with: libyaml stops here; reading on reads more.
            _ => self.skip(),
        }
        Ok(())
    }

    fn check_depth(&mut self, opened_at: Mark) -> Result<(), TooDeep> {
        let depth = self.indents.len() + self.flow_level;
        self.deepest = self.deepest.max(depth);
        if depth > self.limit {
            return Err(TooDeep(opened_at));
        }
        Ok(())
    }

    /// A block collection opens at `at`'s column when it is right of the current one.
    fn roll_indent(&mut self, at: Mark) -> Result<(), TooDeep> {
        if self.flow_level == 0 && self.indent < at.column as isize {
            self.indents.push(self.indent);
            self.indent = at.column as isize;
            self.check_depth(at)?;
        }
        Ok(())
    }

    /// The block collections right of `column` end.
    fn unroll_indent(&mut self, column: isize) {
        if self.flow_level > 0 {
            return;
        }
        while self.indent > column {
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn save_simple_key(&mut self) {
        if self.simple_key_allowed && self.flow_level == 0 {
            self.simple_key = Some(self.mark);
        }
    }

    fn remove_simple_key(&mut self) {
        if self.flow_level == 0 {
            self.simple_key = None;
        }
    }

    /// A key must end on its line and within 1024 bytes.
    fn forget_stale_simple_key(&mut self) {
        if self
            .simple_key
            .is_some_and(|key| key.line < self.mark.line || key.offset + 1024 < self.mark.offset)
        {
            self.simple_key = None;
        }
    }

    /// Skips spaces, comments and line breaks (tabs too where libyaml allows them).
    fn skip_to_next_token(&mut self) {
        loop {
            if self.mark.column == 0
                && self.bytes[self.mark.offset..].starts_with("\u{feff}".as_bytes())
            {
                self.skip();
            }
            while self.byte(0) == Some(b' ')
                || (self.flow_level > 0 || !self.simple_key_allowed) && self.byte(0) == Some(b'\t')
            {
                self.skip();
            }
            if self.byte(0) == Some(b'#') {
                while !self.is_break_or_end(0) {
                    self.skip();
                }
            }
            if !self.is_break(0) {
                return;
            }
            self.skip_line();
            if self.flow_level == 0 {
                self.simple_key_allowed = true;
            }
        }
    }

    fn tag(&mut self) {
        self.skip();
        if self.byte(0) == Some(b'<') {
            self.skip();
            while self
                .byte(0)
                .is_some_and(|byte| is_tag_character(byte) || matches!(byte, b',' | b'[' | b']'))
            {
                self.skip();
            }
            if self.byte(0) == Some(b'>') {
                self.skip();
            }
            return;
        }
        while self.byte(0).is_some_and(is_tag_character) {
            self.skip();
        }
    }

    fn quoted_scalar(&mut self, quote: u8) {
        let single = quote == b'\'';
        self.skip();
        while let Some(byte) = self.byte(0) {
            if single && byte == b'\'' && self.byte(1) == Some(b'\'') {
                self.skip_n(2);
            } else if byte == quote {
                self.skip();
                return;
            } else if !single && byte == b'\\' {
                self.skip();
                // An escaped line break joins the lines; any other escape is one character.
                if !self.is_break(0) {
                    self.skip();
                }
            } else if self.is_break(0) {
                self.skip_line();
            } else {
                self.skip();
            }
        }
    }

    fn starts_plain_scalar(&self, byte: u8) -> bool {
        let indicator = b"-?:,[]{}#&*!|>'\"%@`".contains(&byte);
        !(self.is_blank_break_or_end(0) || indicator)
            || byte == b'-' && !self.is_blank(1)
            || self.flow_level == 0 && matches!(byte, b'?' | b':') && !self.is_blank_break_or_end(1)
    }

    /// A plain scalar, which in block context runs on over the following lines indented right of
    /// the current block collection.
    fn plain_scalar(&mut self) {
        let continuation_column = self.indent + 1;
        let mut after_line_break = false;
        loop {
            if self.is_document_indicator() || self.byte(0) == Some(b'#') {
                break;
            }
            while !self.is_blank_break_or_end(0) {
                let byte = self.byte(0).unwrap_or_default();
                let ends_value_key = byte == b':' && self.is_blank_break_or_end(1);
                let ends_in_flow = self.flow_level > 0
                    && (matches!(byte, b',' | b'[' | b']' | b'{' | b'}')
                        || byte == b':'
                            && self.byte(1).is_some_and(|next| b",?[]{}".contains(&next)));
                if ends_value_key || ends_in_flow {
                    break;
                }
                after_line_break = false;
                self.skip();
            }
            if !(self.is_blank(0) || self.is_break(0)) {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                if self.is_blank(0) {
                    self.skip();
                } else {
                    self.skip_line();
                    after_line_break = true;
                }
            }
            if self.flow_level == 0 && (self.mark.column as isize) < continuation_column {
                break;
            }
        }
        if after_line_break {
            self.simple_key_allowed = true;
        }
    }

    /// `|` or `>`, its header, then the lines indented at least as far as its content.
    fn block_scalar(&mut self) {
        self.skip();
        let mut increment = 0;
        for _ in 0..2 {
            match self.byte(0) {
                Some(b'+' | b'-') => self.skip(),
                Some(digit @ b'1'..=b'9') if increment == 0 => {
                    increment = isize::from(digit - b'0');
                    self.skip();
                }
                _ => break,
            }
        }
        while self.is_blank(0) {
            self.skip();
        }
        if self.byte(0) == Some(b'#') {
            while !self.is_break_or_end(0) {
                self.skip();
            }
        }
        if !self.is_break_or_end(0) {
            // libyaml stops at a header it cannot read: what follows is read as tokens.
            return;
        }
        if self.is_break(0) {
            self.skip_line();
        }
        let mut indent = if increment == 0 {
            0
        } else if self.indent >= 0 {
            self.indent + increment
        } else {
            increment
        };
        self.block_scalar_breaks(&mut indent);
        while self.mark.column as isize == indent && self.byte(0).is_some() {
            while !self.is_break_or_end(0) {
                self.skip();
            }
            if self.is_break(0) {
                self.skip_line();
            }
            self.block_scalar_breaks(&mut indent);
        }
    }

    /// The indentation and empty lines before a block scalar's next line; the first time, they
    /// decide its indentation when the header did not.
    fn block_scalar_breaks(&mut self, indent: &mut isize) {
        let mut deepest = 0;
        loop {
            while (*indent == 0 || (self.mark.column as isize) < *indent)
                && self.byte(0) == Some(b' ')
            {
                self.skip();
            }
            deepest = deepest.max(self.mark.column as isize);
            if !self.is_break(0) {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = deepest.max(self.indent + 1).max(1);
        }
    }

    fn is_document_indicator(&self) -> bool {
        self.mark.column == 0
            && (self.bytes[self.mark.offset..].starts_with(b"---")
                || self.bytes[self.mark.offset..].starts_with(b"..."))
            && self.is_blank_break_or_end(3)
    }

    fn byte(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.mark.offset + ahead).copied()
    }

    fn is_blank(&self, ahead: usize) -> bool {
        matches!(self.byte(ahead), Some(b' ' | b'\t'))
    }

    /// The length of the line break `ahead` bytes on, if one is there.
    fn break_length(&self, ahead: usize) -> Option<usize> {
        let rest = self.bytes.get(self.mark.offset + ahead..)?;
        match rest {
            [b'\r', b'\n', ..] => Some(2),
            [b'\r' | b'\n', ..] => Some(1),
            _ if rest.starts_with(&BREAK_NEL) => Some(2),
            _ if rest.starts_with(&BREAK_LINE_SEPARATOR)
                || rest.starts_with(&BREAK_PARAGRAPH_SEPARATOR) =>
            {
                Some(3)
            }
            _ => None,
        }
    }

    fn is_break(&self, ahead: usize) -> bool {
        self.break_length(ahead).is_some()
    }

    fn is_break_or_end(&self, ahead: usize) -> bool {
        self.byte(ahead).is_none() || self.is_break(ahead)
    }

    fn is_blank_break_or_end(&self, ahead: usize) -> bool {
        self.is_blank(ahead) || self.is_break_or_end(ahead)
    }

    /// Moves past one character.
    fn skip(&mut self) {
        let Some(byte) = self.byte(0) else {
            return;
        };
        let width = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        self.mark.offset = (self.mark.offset + width).min(self.bytes.len());
        self.mark.column += 1;
    }

    fn skip_n(&mut self, characters: usize) {
        for _ in 0..characters {
            self.skip();
        }
    }

    /// Moves past a line break (`\r\n` is one).
    fn skip_line(&mut self) {
        if let Some(length) = self.break_length(0) {
            self.mark.offset += length;
            self.mark.line += 1;
            self.mark.column = 0;
        }
    }
}

fn is_anchor_character(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_tag_character(byte: u8) -> bool {
    is_anchor_character(byte) || TAG_PUNCTUATION.contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The most collections open at once, counted as libyaml counts them.
    fn deepest(text: &str) -> usize {
        let mut scanner = Scanner::new(text, usize::MAX);
        let _ = scanner.run();
        scanner.deepest
    }

    #[test]
    fn brackets_in_scalars_and_comments_open_nothing() {
        for (text, depth) in [
            ("a: \"[[[[\"\n", 1),
            ("a: '[[[['\n", 1),
            ("a: x[[[[\n", 1),
            ("a: |\n  [[[[\n  {{{{\nb: [[x]]\n", 3),
            ("a: >-\n  '[[[\n\n  \"{{\nb: [[x]]\n", 3),
            ("# [[[[\na: 1 # [[\n", 1),
            ("a: !Sub '${x}'\n", 1),
            ("a: \"x\\\"[[[\"\nb: [y]\n", 2),
            ("a: 'it''s [[['\nb: [y]\n", 2),
            ("\"a: [\": [[x]]\n", 3),
            ("a: &x [[y]]\nb: *x\n", 3),
            ("---\na: [x]\n...\n---\n[[y]]\n", 2),
            ("a:\r\n  b: [[x]]\r\n", 4),
        ] {
            assert_eq!(deepest(text), depth, "{text:?}");
            for document in serde_yaml_ng::Deserializer::from_str(text) {
                serde::Deserialize::deserialize(document)
                    .map(|_: serde_yaml_ng::Value| ())
                    .unwrap();
            }
        }
    }

    #[test]
    fn a_quote_or_bracket_inside_a_plain_scalar_is_text_the_collections_after_it_count() {
        for (text, depth) in [
            // A plain scalar runs on over a more indented line: `'c` is text, not a quote.
            ("a: b\n  'c\nd: [[x]]\ne: x'\n", 3),
            ("[a 'b, [[c]]]", 3),
            ("[a#b, [[c]]]", 3),
            ("[!a'x, [[[y]]]]", 4),
            ("a: [x, # ]]]\n  [[y]]]\n", 4),
            // A block scalar ends at a line indented less than its content must be.
            ("a:\n  b: |\n  c: [[x]]\n", 4),
            ("a: |2\n   [[[[\nb: [y]\n", 2),
        ] {
            assert_eq!(deepest(text), depth, "{text:?}");
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).unwrap();
        }
    }

    #[test]
    fn block_collections_count_by_their_indentation_as_libyaml_counts_them() {
        for (text, depth) in [
            ("- - - x\n", 3),
            ("? ? x\n", 2),
            ("a:\n  b:\n    c: x\n", 3),
            // A sequence at its key's column is inside the mapping's indentation.
            ("a:\n- b:\n  - c: [x]\n", 4),
        ] {
            assert_eq!(deepest(text), depth, "{text:?}");
        }
    }

    #[test]
    fn the_place_named_is_the_collection_past_the_limit() {
        let flow = format!("Resources:\n  T: {}", "[".repeat(200));
        assert_eq!(first_place_too_deep(&flow, 128), Some((2, 6 + 126)));
        let block = format!("Resources:\n  T:\n    {}x\n", "- ".repeat(200));
        assert_eq!(first_place_too_deep(&block, 128), Some((3, 5 + 2 * 126)));
        assert_eq!(first_place_too_deep(&flow, 202), None);
    }

    /// A YAML node written in a random style, with the depth libyaml will count for it.
    #[derive(Clone, Debug)]
    enum Node {
        Scalar(usize),
        Sequence {
            flow: bool,
            indentless: bool,
            items: Vec<Node>,
        },
        Mapping {
            flow: bool,
            values: Vec<Node>,
        },
    }

    /// Scalars written every way that hides brackets, quotes and `#` from a naive reader.
    const BLOCK_SCALARS: [&str; 9] = [
        "x",
        "it's",
        "a\"b",
        "x[y {z",
        "a#b",
        "c:d",
        "'[{ # \"x'' ]'",
        "\"[{ # 'x\\\" ]\"",
        "!a'x y",
    ];
    const FLOW_SCALARS: [&str; 8] = [
        "x",
        "it's",
        "a\"b",
        "a#b",
        "two words",
        "'[{ # \"x'' ]'",
        "\"[{ # 'x\\\" ]\"",
        "!Sub '${a}'",
    ];

    fn node() -> impl Strategy<Value = Node> {
        let leaf = (0usize..64).prop_map(Node::Scalar);
        leaf.prop_recursive(7, 48, 4, |inner| {
            prop_oneof![
                (
                    any::<bool>(),
                    any::<bool>(),
                    prop::collection::vec(inner.clone(), 1..4)
                )
                    .prop_map(|(flow, indentless, items)| Node::Sequence {
                        flow,
                        indentless,
                        items
                    }),
                (any::<bool>(), prop::collection::vec(inner, 1..4))
                    .prop_map(|(flow, values)| Node::Mapping { flow, values }),
            ]
        })
    }

    fn flow_text(node: &Node) -> String {
        match node {
            Node::Scalar(choice) => FLOW_SCALARS[choice % FLOW_SCALARS.len()].to_owned(),
            Node::Sequence { items, .. } => {
                let items: Vec<String> = items.iter().map(flow_text).collect();
                format!("[{}]", items.join(", "))
            }
            Node::Mapping { values, .. } => {
                let entries: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(index, value)| format!("k{index}: {}", flow_text(value)))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
        }
    }

    fn flow_depth(node: &Node) -> usize {
        match node {
            Node::Scalar(_) => 0,
            Node::Sequence { items, .. } => 1 + items.iter().map(flow_depth).max().unwrap_or(0),
            Node::Mapping { values, .. } => 1 + values.iter().map(flow_depth).max().unwrap_or(0),
        }
    }

    /// Writes `node` as the value after `key: ` or `- ` (the indicator at `column`, inside
    /// `levels` block collections); answers the deepest it goes.
    fn write_value(node: &Node, column: usize, levels: usize, out: &mut String) -> usize {
        match node {
            Node::Scalar(choice) if choice % 5 == 0 => {
                // A literal block scalar whose lines look like YAML.
                let pad = " ".repeat(column + 2);
                out.push_str(&format!(" |\n{pad}[[[ '\n{pad}# ]\n{pad}- \"{{\n"));
                levels
            }
            Node::Scalar(choice) if choice % 5 == 1 => {
                // A plain scalar over two lines, the second starting with a quote.
                out.push_str(&format!(
                    " first\n{}'second [[ # x\n",
                    " ".repeat(column + 2)
                ));
                levels
            }
            Node::Scalar(choice) => {
                let comment = if choice % 3 == 0 { " # [[ ' \"" } else { "" };
                out.push_str(&format!(
                    " {}{comment}\n",
                    BLOCK_SCALARS[choice % BLOCK_SCALARS.len()]
                ));
                levels
            }
            Node::Sequence { flow: true, .. } | Node::Mapping { flow: true, .. } => {
                out.push_str(&format!(" {}\n", flow_text(node)));
                levels + flow_depth(node)
            }
            Node::Sequence { indentless, .. } => {
                out.push('\n');
                let at = if *indentless { column } else { column + 2 };
                write_block(node, at, column, levels, out)
            }
            Node::Mapping { .. } => {
                out.push('\n');
                write_block(node, column + 2, column, levels, out)
            }
        }
    }

    /// Writes a block collection at `column`, inside a block collection at `parent_column`.
    fn write_block(
        node: &Node,
        column: usize,
        parent_column: usize,
        levels: usize,
        out: &mut String,
    ) -> usize {
        let levels = if column > parent_column {
            levels + 1
        } else {
            levels
        };
        let pad = " ".repeat(column);
        match node {
            Node::Sequence { items, .. } => items
                .iter()
                .map(|item| {
                    out.push_str(&format!("{pad}-"));
                    write_value(item, column, levels, out)
                })
                .max()
                .unwrap_or(levels),
            Node::Mapping { values, .. } => values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    let key = match index % 3 {
                        0 => format!("k{index}"),
                        1 => format!("'k{index}: ['"),
                        _ => format!("\"k{index} #\""),
                    };
                    out.push_str(&format!("{pad}{key}:"));
                    write_value(value, column, levels, out)
                })
                .max()
                .unwrap_or(levels),
            Node::Scalar(_) => unreachable!("only collections are written as blocks"),
        }
    }

    proptest! {
        #[test]
        fn the_scan_counts_what_libyaml_opens_whatever_the_style(values in prop::collection::vec(node(), 1..4)) {
            let root = Node::Mapping { flow: false, values };
            let mut text = String::new();
            // The top mapping is a block at column 0, outside any collection (column "-1").
            let expected = write_block_top(&root, &mut text);
            prop_assert!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).is_ok(), "{}", text);
            prop_assert_eq!(deepest(&text), expected, "{}", text);
        }
    }

    fn write_block_top(root: &Node, out: &mut String) -> usize {
        let Node::Mapping { values, .. } = root else {
            unreachable!("the top is a mapping")
        };
        values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                out.push_str(&format!("k{index}:"));
                write_value(value, 0, 1, out)
            })
            .max()
            .unwrap_or(1)
    }
}
