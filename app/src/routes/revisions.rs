//! The Revisions page: every registration, when and by whom, family:revision with its AWS console
//! link, the generation (and so the diff) it carried, the error if it failed.

use crate::api::revisions::list_registrations;
use leptos::prelude::*;

#[component]
pub fn RevisionsPage() -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let registrations = Resource::new(|| (), |_| list_registrations());
    view! {
        <section class="revisions" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Revisions"</h1>
                <p class="muted">"Every registration made from this console, newest first."</p>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || registrations.get().map(|result| match result {
                    Err(error) => view! { <p class="error">{crate::api::error_text(&error)}</p> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <p class="muted">"No registrations yet: generate a protected task and click Register revision."</p>
                    }.into_any(),
                    Ok(rows) => view! {
                        <table class="grid" data-testid="revisions">
                            <thead>
                                <tr>
                                    <th>"When"</th><th>"Who"</th><th>"Revision"</th><th>"Status"</th>
                                    <th>"Generation"</th><th>"Input / output SHA-256"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|row| {
                                    let label = match row.revision {
                                        Some(revision) => format!("{}:{revision}", row.family),
                                        None => row.family.clone(),
                                    };
                                    let revision = match row.console_link.clone() {
                                        Some(link) => view! { <a href=link target="_blank" rel="noopener">{label}</a> }.into_any(),
                                        None => view! { <span>{label}</span> }.into_any(),
                                    };
                                    let row_class = format!("status-{}", row.status.as_str());
                                    let generation = row.generation_id.map(|id| view! { <a href=format!("/?generation={id}")>{format!("#{id} (diff)")}</a> });
                                    view! {
                                        <tr class=row_class>
                                            <td class="mono">{row.created_at.replace('T', " ")}</td>
                                            <td>{row.registered_by}</td>
                                            <td>{revision}</td>
                                            <td>
                                                <span class="status">{row.status.as_str()}</span>
                                                {row.error.map(|error| view! { <div class="error">{error}</div> })}
                                            </td>
                                            <td>{generation}</td>
                                            <td class="mono muted" title=format!("{} / {}", row.input_sha256, row.output_sha256)>
                                                {format!("{}… / {}…", &row.input_sha256[..12.min(row.input_sha256.len())], &row.output_sha256[..12.min(row.output_sha256.len())])}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
