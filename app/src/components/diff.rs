//! The side-by-side diff of the normalized input against the protected result.

use crate::api::protect::{DiffKind, DiffRow};
use leptos::prelude::*;

/// Renders diff rows: removed lines red on the left, added green on the right, unchanged runs
/// folded into one row.
#[component]
pub fn SideBySideDiff(rows: Vec<DiffRow>) -> impl IntoView {
    if rows.iter().all(|row| row.kind == DiffKind::Folded) {
        return view! { <p class="muted">"No changes."</p> }.into_any();
    }
    let rendered = rows
        .into_iter()
        .map(|row| {
            if row.kind == DiffKind::Folded {
                let count = row.folded;
                return view! {
                    <tr class="folded">
                        <td colspan="4">{format!("⋯ {count} unchanged line{}", if count == 1 { "" } else { "s" })}</td>
                    </tr>
                }
                .into_any();
            }
            let (left_class, right_class) = match row.kind {
                DiffKind::Removed => ("removed", "empty"),
                DiffKind::Added => ("empty", "added"),
                DiffKind::Changed => ("removed", "added"),
                DiffKind::Same | DiffKind::Folded => ("", ""),
            };
            view! {
                <tr class=format!("diff-row {}", row.kind.as_str())>
                    <td class="ln">{row.old_line.map(|n| n.to_string())}</td>
                    <td class=format!("code {left_class}")>{row.old_text}</td>
                    <td class="ln">{row.new_line.map(|n| n.to_string())}</td>
                    <td class=format!("code {right_class}")>{row.new_text}</td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <table class="diff" data-testid="diff">
            <colgroup>
                <col class="ln"/>
                <col/>
                <col class="ln"/>
                <col/>
            </colgroup>
            <tbody>{rendered}</tbody>
        </table>
    }
    .into_any()
}
