//! The Protect page's input side: the editor with its line numbers, opening a file into it, and
//! the problems of a refused generation.

use crate::api::protect::ProblemView;
use leptos::prelude::*;
use std::collections::BTreeSet;

/// Reads a file the user picks (a task definition or a CloudFormation template) into the editor,
/// in the browser: nothing is sent until Generate.
#[component]
pub(super) fn OpenFile(input: RwSignal<String>) -> impl IntoView {
    let on_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(element) = ev
                .target()
                .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            let Some(file) = element.files().and_then(|files| files.get(0)) else {
                return;
            };
            let promise = file.text();
            leptos::task::spawn_local(async move {
                if let Ok(text) = wasm_bindgen_futures::JsFuture::from(promise).await {
                    if let Some(text) = text.as_string() {
                        input.set(text);
                    }
                }
            });
            // The same file can be picked again after an edit.
            element.set_value("");
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, input);
    };
    view! {
        <label class="open-file button" title="Open a task definition or a CloudFormation template (JSON or YAML) from a file">
            "Open file…"
            <input type="file" data-testid="upload" accept=".json,.yaml,.yml,.template,.txt" on:change=on_change/>
        </label>
    }
}

/// The JSON editor: a textarea that grows with its content beside a line-number gutter, so the
/// two never scroll apart; lines with problems are marked.
#[component]
pub(super) fn Editor(
    input: RwSignal<String>,
    error_lines: Memo<BTreeSet<usize>>,
    on_submit: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let line_count =
        move || input.with(|text| text.lines().count().max(1) + usize::from(text.ends_with('\n')));
    view! {
        <div class="editor">
            <pre class="gutter" aria-hidden="true">
                {move || {
                    let marked = error_lines.get();
                    (1..=line_count())
                        .map(|n| {
                            // One block per line, no newline characters: a marked line used to
                            // take two lines (an inline-block holding its "\n"), shifting every
                            // number after it by one.
                            let class = if marked.contains(&n) { "line error-line" } else { "line" };
                            view! { <span class=class>{n}</span> }
                        })
                        .collect_view()
                }}
            </pre>
            <textarea
                data-testid="input"
                spellcheck="false"
                aria-label="Task definition or CloudFormation template"
                placeholder="{ \"family\": \"...\", \"containerDefinitions\": [ ... ] }"
                rows=move || line_count().max(24)
                prop:value=move || input.get()
                on:input=move |ev| input.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" {
                        ev.prevent_default();
                        on_submit();
                    }
                }
            ></textarea>
        </div>
    }
}

/// Why the task definition was not protected, one problem a line with its place and hint.
#[component]
pub(super) fn Problems(problems: Signal<Vec<ProblemView>>) -> impl IntoView {
    view! {
        <div class="problems" role="alert" data-testid="problems">
            <p class="error">"The task definition was not protected:"</p>
            <ul>
                {move || problems.get().into_iter().map(|problem| view! {
                    <li>
                        <span class="place">{problem.place}</span>": "{problem.message}
                        {problem.hint.map(|hint| view! { <div class="hint">{hint}</div> })}
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
}
