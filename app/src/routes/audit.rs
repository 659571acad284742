//! The Audit page (admins): who did what, when, from where, and how it ended; newest first, older
//! pages on demand.

use crate::api::admin::{list_audit, AuditView};
use crate::api::error_text;
use leptos::prelude::*;

#[component]
pub fn AuditPage() -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let before = RwSignal::new(None::<i64>);
    let entries = Resource::new(move || before.get(), list_audit);
    view! {
        <section class="audit" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Audit log"</h1>
                <p class="muted">"Sign-ins and their failures, users, tokens, settings, registries, generations, registrations and imports."</p>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || entries.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
                    Ok(rows) => {
                        let oldest = rows.last().map(|row| row.id);
                        view! {
                            <table class="grid audit" data-testid="audit">
                                <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"From"</th><th>"What"</th><th>"On"</th><th>"Outcome"</th></tr></thead>
                                <tbody>{rows.into_iter().map(audit_row).collect_view()}</tbody>
                            </table>
                            {oldest.map(|id| view! {
                                <p><button on:click=move |_| before.set(Some(id))>"Older"</button></p>
                            })}
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

fn audit_row(row: AuditView) -> impl IntoView {
    view! {
        <tr data-testid="audit-row">
            <td class="mono">{row.at.replace('T', " ")}</td>
            <td>{row.actor}</td>
            <td class="mono">{row.address}</td>
            <td>{row.action}</td>
            <td>{row.target}</td>
            <td>{row.outcome}</td>
        </tr>
    }
}
