//! Line diffs of the normalized input against the result, for the side-by-side view, with runs
//! of unchanged lines folded.

use serde::{Deserialize, Serialize};
use similar::{DiffOp, TextDiff};

/// One row of a side-by-side diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Row {
    /// The same line on both sides.
    Same {
        old_line: usize,
        new_line: usize,
        text: String,
    },
    /// A line only on the left.
    Removed { old_line: usize, text: String },
    /// A line only on the right.
    Added { new_line: usize, text: String },
    /// A line replaced by another one.
    Changed {
        old_line: usize,
        old_text: String,
        new_line: usize,
        new_text: String,
    },
    /// Unchanged lines not shown.
    Folded { count: usize },
}

impl Row {
    pub fn is_change(&self) -> bool {
        !matches!(self, Row::Same { .. } | Row::Folded { .. })
    }
}

/// Side-by-side rows of `old` against `new`; unchanged runs longer than `2 * context` are folded.
pub fn side_by_side(old: &str, new: &str, context: usize) -> Vec<Row> {
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let line =
        |lines: &[&str], index: usize| lines.get(index).copied().unwrap_or_default().to_owned();
    let mut rows = Vec::new();
    for op in diff.ops() {
        match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for offset in 0..len {
                    rows.push(Row::Same {
                        old_line: old_index + offset + 1,
                        new_line: new_index + offset + 1,
                        text: line(&old_lines, old_index + offset),
                    });
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for offset in 0..old_len {
                    rows.push(Row::Removed {
                        old_line: old_index + offset + 1,
                        text: line(&old_lines, old_index + offset),
                    });
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for offset in 0..new_len {
                    rows.push(Row::Added {
                        new_line: new_index + offset + 1,
                        text: line(&new_lines, new_index + offset),
                    });
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                for offset in 0..old_len.max(new_len) {
                    rows.push(match (offset < old_len, offset < new_len) {
                        (true, true) => Row::Changed {
                            old_line: old_index + offset + 1,
                            old_text: line(&old_lines, old_index + offset),
                            new_line: new_index + offset + 1,
                            new_text: line(&new_lines, new_index + offset),
                        },
                        (true, false) => Row::Removed {
                            old_line: old_index + offset + 1,
                            text: line(&old_lines, old_index + offset),
                        },
                        _ => Row::Added {
                            new_line: new_index + offset + 1,
                            text: line(&new_lines, new_index + offset),
                        },
                    });
                }
            }
        }
    }
    fold_unchanged(rows, context)
}

/// Keeps `context` unchanged rows around each change and folds the rest.
fn fold_unchanged(rows: Vec<Row>, context: usize) -> Vec<Row> {
    let near_change: Vec<bool> = (0..rows.len())
        .map(|index| {
            let from = index.saturating_sub(context);
            let to = (index + context + 1).min(rows.len());
            rows[from..to].iter().any(Row::is_change)
        })
        .collect();
    let mut folded = Vec::new();
    let mut hidden = 0;
    for (row, keep) in rows.into_iter().zip(near_change) {
        if keep {
            if hidden > 0 {
                folded.push(Row::Folded { count: hidden });
                hidden = 0;
            }
            folded.push(row);
        } else {
            hidden += 1;
        }
    }
    if hidden > 0 {
        folded.push(Row::Folded { count: hidden });
    }
    folded
}

/// A unified diff (`---`/`+++`, `@@` hunks), as `diff -u` prints it.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_kept_and_far_unchanged_lines_folded() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\ne\nf\ng\nH\ni\n";
        let rows = side_by_side(old, new, 2);
        assert_eq!(rows[0], Row::Folded { count: 5 });
        assert!(
            matches!(&rows[3], Row::Changed { old_text, new_text, .. } if old_text == "h" && new_text == "H")
        );
        assert!(matches!(&rows[4], Row::Added { text, .. } if text == "i"));
    }

    #[test]
    fn identical_texts_fold_completely() {
        assert_eq!(
            side_by_side("x\ny\n", "x\ny\n", 3),
            vec![Row::Folded { count: 2 }]
        );
    }
}
