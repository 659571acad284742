//! The Protect page: paste a task definition, choose options, Generate, review the diff, summary
//! and warnings, copy or download the result; recent generations below, reopened with a click.

mod editor;
mod import;
mod options;

use crate::api::error_text;
use crate::api::protect::{
    load_generation, recent_generations, token_default, Generate, GenerateRequest,
    GenerateResponse, GenerationListItem,
};
use crate::api::revisions::{ecs_import, RegisterGeneration};
use crate::api::session::{may, MeResource, Role};
use crate::api::settings::defender_image;
use crate::components::diff::SideBySideDiff;
use editor::{Editor, OpenFile, Problems};
use import::ImportFromEcs;
use leptos::prelude::*;
use options::{OptionsBar, OptionsState};
use std::collections::BTreeSet;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Diff,
    Summary,
    Warnings,
}

/// What the page shows of the last answer: the generation (or a reopened one), whether its
/// output was copied, and why the last action failed.
#[derive(Clone, Copy)]
struct Shown {
    response: RwSignal<Option<GenerateResponse>>,
    copied: RwSignal<bool>,
    error: RwSignal<Option<String>>,
}

impl Shown {
    fn new() -> Self {
        Shown {
            response: RwSignal::new(None),
            copied: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }

    /// A new answer to show (a register result of the one before no longer applies).
    fn show(&self, response: GenerateResponse, register: ServerAction<RegisterGeneration>) {
        register.value().set(None);
        self.copied.set(false);
        self.error.set(None);
        self.response.set(Some(response));
    }

    fn output(&self) -> String {
        self.response
            .with(|s| s.as_ref().map(|s| s.output.clone()).unwrap_or_default())
    }

    fn problems(&self) -> Vec<crate::api::protect::ProblemView> {
        self.response
            .with(|s| s.as_ref().map(|s| s.problems.clone()).unwrap_or_default())
    }

    /// The generation Register would register: a stored, unrefused task definition.
    fn registrable_id(&self) -> Option<i64> {
        self.response.with(|s| {
            s.as_ref()
                .filter(|s| s.problems.is_empty() && s.output.trim_start().starts_with('{'))
                .and_then(|s| s.generation_id)
        })
    }
}

#[component]
pub fn ProtectPage() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let input = RwSignal::new(String::new());
    let options = OptionsState::new();
    let shown = Shown::new();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let generate = ServerAction::<Generate>::new();
    let register = ServerAction::<RegisterGeneration>::new();
    Effect::new(move |_| match generate.value().get() {
        Some(Ok(response)) => shown.show(response, register),
        Some(Err(error)) => {
            register.value().set(None);
            shown.copied.set(false);
            shown.error.set(Some(format!(
                "The console could not generate: {}",
                error_text(&error)
            )));
        }
        None => {}
    });
    let default_image = follow_the_console_s_defaults(options);
    let run = move || {
        generate.dispatch(Generate {
            request: GenerateRequest {
                input: input.get_untracked(),
                options: options.snapshot(),
            },
        });
    };
    let open_generation = Callback::new(move |id: i64| {
        leptos::task::spawn_local(async move {
            match load_generation(id).await {
                Ok(detail) => {
                    input.set(detail.input);
                    shown.show(detail.response, register);
                }
                Err(error) => shown.error.set(Some(format!(
                    "Could not reopen generation {id}: {}",
                    error_text(&error)
                ))),
            }
        });
    });
    open_what_the_address_names(input, shown, open_generation);
    let containers = Signal::derive(move || {
        shown
            .response
            .with(|s| s.as_ref().map(|s| s.containers.clone()).unwrap_or_default())
    });
    let recent = Resource::new(move || generate.version().get(), |_| recent_generations());

    view! {
        <section class="protect" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Protect a task definition"</h1>
                <p class="muted">
                    "Paste a task definition, describe-task-definition output, a containerDefinitions array or a CloudFormation template (JSON or YAML). "
                    <kbd>"Ctrl"</kbd>"+"<kbd>"Enter"</kbd>" generates."
                </p>
            </header>
            <OptionsBar options containers default_image=default_image.into()/>
            <Actions me input shown generate register run/>
            <Panes input shown run/>
            <ResultTabs shown/>
            <RecentGenerations me recent open_generation/>
        </section>
    }
}

/// The token choice and the defender image the console suggests: the token kind it can keep
/// (Secrets Manager when it can store there; the user's own choice is never overridden), and
/// the image Generate uses when the field is empty (the one this console published).
fn follow_the_console_s_defaults(options: OptionsState) -> RwSignal<Option<String>> {
    let default_token = Resource::new(|| (), |_| token_default());
    Effect::new(move |_| {
        if let Some(Ok(kind)) = default_token.get() {
            options.suggest_token_kind(kind);
        }
    });
    let published_image = Resource::new(|| (), |_| defender_image());
    let default_image = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(view)) = published_image.get() {
            default_image.set(view.reference);
        }
    });
    default_image
}

/// `/?generation=ID` (the Revisions page links there) reopens that generation;
/// `/?import=FAMILY:REVISION` (the Defenders page's coverage links there) imports that revision
/// from ECS into the editor.
fn open_what_the_address_names(input: RwSignal<String>, shown: Shown, open: Callback<i64>) {
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |_| {
        if let Some(id) = query
            .with(|query| query.get("generation"))
            .and_then(|id| id.parse::<i64>().ok())
        {
            open.run(id);
        }
        if let Some(revision) = query.with(|query| query.get("import")) {
            leptos::task::spawn_local(async move {
                match ecs_import(revision.clone()).await {
                    Ok(text) => {
                        input.set(text);
                        shown.error.set(None);
                    }
                    Err(error) => shown.error.set(Some(format!(
                        "Could not import {revision} from ECS: {}",
                        error_text(&error)
                    ))),
                }
            });
        }
    });
}

/// Generate, Register and Import (operators; a viewer sees the page without them), and how the
/// last of them ended.
#[component]
fn Actions(
    me: MeResource,
    input: RwSignal<String>,
    shown: Shown,
    generate: ServerAction<Generate>,
    register: ServerAction<RegisterGeneration>,
    run: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let pending = generate.pending();
    view! {
        <div class="actions">
            <Transition fallback=|| ()>
                {move || may(me, Role::Operator).then(|| view! {
                    <button class="primary" data-testid="generate" on:click=move |_| run() disabled=move || pending.get()>
                        {move || if pending.get() { "Generating…" } else { "Generate protected task" }}
                    </button>
                    <button
                        data-testid="register"
                        title="RegisterTaskDefinition on ECS (see Settings)"
                        disabled=move || shown.registrable_id().is_none() || register.pending().get()
                        on:click=move |_| {
                            if let Some(generation_id) = shown.registrable_id() {
                                register.dispatch(RegisterGeneration { generation_id });
                            }
                        }
                    >
                        {move || if register.pending().get() { "Registering…" } else { "Register revision" }}
                    </button>
                    <ImportFromEcs input/>
                })}
            </Transition>
            {move || register.value().get().map(|result| match result {
                Ok(registration) => {
                    let label = format!("{}:{}", registration.family, registration.revision.unwrap_or_default());
                    view! {
                        <span class="ok" data-testid="registered">
                            "Registered "
                            <a href=registration.console_link.unwrap_or_default() target="_blank" rel="noopener">{label}</a>
                        </span>
                    }.into_any()
                }
                Err(error) => view! { <span class="error" role="alert" data-testid="register-error">{error_text(&error)}</span> }.into_any(),
            })}
            <Show when=move || shown.error.get().is_some()>
                <p class="error" role="alert">{move || shown.error.get()}</p>
            </Show>
        </div>
    }
}

/// The input beside the result: the editor (lines with problems marked), and the protected
/// output with Copy and Download, or the problems of a refusal.
#[component]
fn Panes(
    input: RwSignal<String>,
    shown: Shown,
    run: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let error_lines = Memo::new(move |_| {
        shown
            .problems()
            .iter()
            .filter_map(|p| p.line)
            .collect::<BTreeSet<usize>>()
    });
    let output = move || shown.output();
    view! {
        <div class="panes">
            <div class="pane">
                <div class="pane-title">
                    "Task definition or template"
                    <span class="pane-actions"><OpenFile input/></span>
                </div>
                <Editor input error_lines on_submit=run/>
            </div>
            <div class="pane">
                <div class="pane-title">
                    "Protected task definition"
                    <span class="pane-actions">
                        <button
                            data-testid="copy"
                            disabled=move || output().is_empty()
                            on:click=move |_| {
                                copy_to_clipboard(&output());
                                shown.copied.set(true);
                            }
                        >
                            {move || if shown.copied.get() { "Copied" } else { "Copy" }}
                        </button>
                        <a
                            class="button"
                            data-testid="download"
                            class:disabled=move || output().is_empty()
                            download=move || shown.response.with(|s| s.as_ref().map(|s| s.download_name.clone()).unwrap_or_default())
                            href=move || data_url(&output())
                        >
                            "Download"
                        </a>
                    </span>
                </div>
                <Show
                    when=move || !shown.problems().is_empty()
                    fallback=move || view! { <pre class="output" data-testid="output">{output}</pre> }
                >
                    <Problems problems=Signal::derive(move || shown.problems())/>
                </Show>
            </div>
        </div>
    }
}

/// Diff, summary and warnings of a generation that was not refused.
#[component]
fn ResultTabs(shown: Shown) -> impl IntoView {
    let tab = RwSignal::new(Tab::Diff);
    let warnings = Signal::derive(move || {
        shown
            .response
            .with(|s| s.as_ref().map_or(0, |s| s.warnings.len()))
    });
    view! {
        <Show when=move || shown.response.with(|s| s.as_ref().is_some_and(|s| s.problems.is_empty()))>
            <div class="tabs" role="tablist">
                <TabButton current=tab which=Tab::Diff label="Diff"/>
                <TabButton current=tab which=Tab::Summary label="Summary"/>
                <TabButton current=tab which=Tab::Warnings label="Warnings" count=warnings/>
            </div>
            <div class="tab-body">
                {move || {
                    let response = shown.response.get().unwrap_or_default();
                    match tab.get() {
                        Tab::Diff => view! { <SideBySideDiff rows=response.diff/> }.into_any(),
                        Tab::Summary => view! {
                            <ul class="summary" data-testid="summary">
                                {response.summary.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Tab::Warnings => view! {
                            <ul class="warnings" data-testid="warnings">
                                {if response.warnings.is_empty() { Some(view! { <li class="muted">"No warnings."</li> }) } else { None }}
                                {response.warnings.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                }}
            </div>
        </Show>
    }
}

/// "Recent generations", each reopened with a click (operators).
#[component]
fn RecentGenerations(
    me: MeResource,
    recent: Resource<Result<Vec<GenerationListItem>, ServerFnError>>,
    open_generation: Callback<i64>,
) -> impl IntoView {
    view! {
        <section class="recent" data-testid="recent">
            <h2>"Recent generations"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || recent.get().map(|result| match result {
                    Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                    Ok(items) if items.is_empty() => view! { <p class="muted">"None yet: generate one above."</p> }.into_any(),
                    Ok(items) => view! {
                        <ul class="recent-list">
                            {items.into_iter().map(|item| {
                                let id = item.id;
                                let family = item.family.clone().unwrap_or_else(|| "(container list)".into());
                                let containers = item.containers_protected.join(", ");
                                view! {
                                    <li>
                                        <button class="link" disabled=move || !may(me, Role::Operator) on:click=move |_| open_generation.run(id)>
                                            <span class="family">{family}</span>
                                            <time datetime=item.created_at.clone() title=item.created_at.clone()>{crate::format::minute(&item.created_at)}</time>
                                            <span class="muted">{format!("protected: {containers}")}</span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TabButton(
    current: RwSignal<Tab>,
    which: Tab,
    label: &'static str,
    #[prop(optional, into)] count: Option<Signal<usize>>,
) -> impl IntoView {
    view! {
        <button
            role="tab"
            class:active=move || current.get() == which
            aria-selected=move || (current.get() == which).to_string()
            on:click=move |_| current.set(which)
        >
            {label}
            {move || count.map(|count| format!(" ({})", count.get()))}
        </button>
    }
}

/// A `data:` URL for the Download link, so it works without any script.
fn data_url(text: &str) -> String {
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    format!(
        "data:application/json;charset=utf-8,{}",
        percent_encoding::utf8_percent_encode(text, UNSAFE)
    )
}

fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        // The promise is left to settle on its own: the button says "Copied" either way, and a
        // denied permission has nothing better to fall back to than the Download link.
        let _ = window.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
