//! "Import from ECS" on the Protect page.

use crate::api::error_text;
use crate::api::revisions::{ecs_families, ecs_import, ecs_revisions};
use leptos::prelude::*;

/// "Import from ECS": pick a family and a revision (ListTaskDefinitionFamilies, ListTaskDefinitions)
/// and put its DescribeTaskDefinition output (with tags) into the editor.
#[component]
pub(super) fn ImportFromEcs(input: RwSignal<String>) -> impl IntoView {
    let open = RwSignal::new(false);
    let families = RwSignal::new(Vec::<String>::new());
    let revisions = RwSignal::new(Vec::<String>::new());
    let family = RwSignal::new(String::new());
    let revision = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let show = move |_| {
        open.set(true);
        busy.set(true);
        leptos::task::spawn_local(async move {
            match ecs_families().await {
                Ok(found) => {
                    error.set(
                        found
                            .is_empty()
                            .then(|| "ECS has no active task definition families here".to_owned()),
                    );
                    families.set(found);
                }
                Err(failure) => error.set(Some(error_text(&failure))),
            }
            busy.set(false);
        });
    };
    let pick_family = move |ev| {
        let chosen = event_target_value(&ev);
        family.set(chosen.clone());
        revision.set(String::new());
        revisions.set(Vec::new());
        leptos::task::spawn_local(async move {
            match ecs_revisions(chosen).await {
                Ok(found) => revisions.set(found),
                Err(failure) => error.set(Some(error_text(&failure))),
            }
        });
    };
    let import = move |_| {
        let target = Some(revision.get_untracked())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| family.get_untracked());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match ecs_import(target).await {
                Ok(text) => {
                    input.set(text);
                    open.set(false);
                    error.set(None);
                }
                Err(failure) => error.set(Some(error_text(&failure))),
            }
            busy.set(false);
        });
    };
    view! {
        <button data-testid="import" on:click=show>"Import from ECS"</button>
        <Show when=move || open.get()>
            <span class="import-panel" data-testid="import-panel">
                <select data-testid="import-family" on:change=pick_family prop:value=move || family.get()>
                    <option value="">"family…"</option>
                    {move || families.get().into_iter().map(|name| view! { <option value=name.clone()>{name.clone()}</option> }).collect_view()}
                </select>
                <select data-testid="import-revision" on:change=move |ev| revision.set(event_target_value(&ev)) prop:value=move || revision.get()>
                    <option value="">"latest"</option>
                    {move || revisions.get().into_iter().map(|arn| {
                        let label = arn.rsplit('/').next().unwrap_or_default().to_owned();
                        view! { <option value=arn>{label}</option> }
                    }).collect_view()}
                </select>
                <button data-testid="import-go" disabled=move || family.get().is_empty() || busy.get() on:click=import>"Import"</button>
                <button on:click=move |_| open.set(false)>"Cancel"</button>
            </span>
        </Show>
        {move || error.get().map(|message| view! { <span class="error" role="alert" data-testid="import-error">{message}</span> })}
    }
}
