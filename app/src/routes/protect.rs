//! The Protect page: paste a task definition, choose options, Generate, review the diff, summary
//! and warnings, copy or download the result; recent generations below, reopened with a click.

use crate::api::error_text;
use crate::api::protect::{
    load_generation, recent_generations, token_default, ContainerChoice, Generate, GenerateRequest,
    GenerateResponse, ProblemView, TokenKind, UiOptions, PROFILE_CHOICES,
};
use crate::api::revisions::{ecs_families, ecs_import, ecs_revisions, RegisterGeneration};
use crate::api::session::{may, MeResource, Role};
use crate::api::settings::defender_image;
use crate::components::diff::SideBySideDiff;
use leptos::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Diff,
    Summary,
    Warnings,
}

/// The options bar's state, one signal per field.
#[derive(Clone, Copy)]
struct OptionsState {
    mode: RwSignal<String>,
    console_url: RwSignal<String>,
    token_kind: RwSignal<TokenKind>,
    /// The user picked a token kind: the console's default no longer applies.
    token_chosen: RwSignal<bool>,
    token_value: RwSignal<String>,
    defender_image: RwSignal<String>,
    include: RwSignal<BTreeSet<String>>,
    exclude: RwSignal<BTreeSet<String>>,
    entrypoints: RwSignal<BTreeMap<String, String>>,
    /// Read missing entrypoints from the image registries.
    resolve: RwSignal<bool>,
    profile: RwSignal<String>,
    vendor_key_secret: RwSignal<String>,
    datadog_site: RwSignal<String>,
    datadog_agent_image: RwSignal<String>,
    datadog_cws_image: RwSignal<String>,
    sysdig_collector: RwSignal<String>,
    sysdig_image: RwSignal<String>,
}

impl OptionsState {
    fn new() -> Self {
        OptionsState {
            mode: RwSignal::new("availability".into()),
            console_url: RwSignal::new(String::new()),
            token_kind: RwSignal::new(TokenKind::New),
            token_chosen: RwSignal::new(false),
            token_value: RwSignal::new(String::new()),
            defender_image: RwSignal::new(String::new()),
            include: RwSignal::new(BTreeSet::new()),
            exclude: RwSignal::new(BTreeSet::new()),
            entrypoints: RwSignal::new(BTreeMap::new()),
            resolve: RwSignal::new(true),
            profile: RwSignal::new("palisade".into()),
            vendor_key_secret: RwSignal::new(String::new()),
            datadog_site: RwSignal::new(String::new()),
            datadog_agent_image: RwSignal::new(String::new()),
            datadog_cws_image: RwSignal::new(String::new()),
            sysdig_collector: RwSignal::new(String::new()),
            sysdig_image: RwSignal::new(String::new()),
        }
    }

    fn snapshot(&self) -> UiOptions {
        UiOptions {
            mode: self.mode.get_untracked(),
            console_url: self.console_url.get_untracked(),
            token_kind: self.token_kind.get_untracked(),
            token_value: self.token_value.get_untracked(),
            defender_image: self.defender_image.get_untracked(),
            include: self.include.get_untracked().into_iter().collect(),
            exclude: self.exclude.get_untracked().into_iter().collect(),
            entrypoints: self.entrypoints.get_untracked().into_iter().collect(),
            no_resolve: !self.resolve.get_untracked(),
            profile: self.profile.get_untracked(),
            vendor_key_secret: self.vendor_key_secret.get_untracked(),
            datadog_site: self.datadog_site.get_untracked(),
            datadog_agent_image: self.datadog_agent_image.get_untracked(),
            datadog_cws_image: self.datadog_cws_image.get_untracked(),
            sysdig_collector: self.sysdig_collector.get_untracked(),
            sysdig_image: self.sysdig_image.get_untracked(),
        }
    }
}

#[component]
pub fn ProtectPage() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let input = RwSignal::new(String::new());
    let options = OptionsState::new();
    let tab = RwSignal::new(Tab::Diff);
    let shown = RwSignal::new(None::<GenerateResponse>);
    let copied = RwSignal::new(false);
    let hydrated = RwSignal::new(false);
    let load_error = RwSignal::new(None::<String>);

    let generate = ServerAction::<Generate>::new();
    let pending = generate.pending();
    Effect::new(move |_| hydrated.set(true));
    let register = ServerAction::<RegisterGeneration>::new();
    Effect::new(move |_| {
        if let Some(result) = generate.value().get() {
            copied.set(false);
            // A new result has not been registered yet.
            register.value().set(None);
            match result {
                Ok(response) => {
                    load_error.set(None);
                    shown.set(Some(response));
                }
                Err(error) => load_error.set(Some(format!(
                    "The console could not generate: {}",
                    error_text(&error)
                ))),
            }
        }
    });
    let recent = Resource::new(move || generate.version().get(), |_| recent_generations());
    // The console says which token choice to start with (Secrets Manager when it can store
    // there); the user's own choice is never overridden.
    let default_token = Resource::new(|| (), |_| token_default());
    Effect::new(move |_| {
        if let Some(Ok(kind)) = default_token.get() {
            if !options.token_chosen.get_untracked() {
                options.token_kind.set(kind);
            }
        }
    });
    // The image Generate uses when the field is empty: the one this console published.
    let published_image = Resource::new(|| (), |_| defender_image());
    let default_image = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(view)) = published_image.get() {
            default_image.set(view.reference);
        }
    });

    let run = move || {
        generate.dispatch(Generate {
            request: GenerateRequest {
                input: input.get_untracked(),
                options: options.snapshot(),
            },
        });
    };
    let open_generation = move |id: i64| {
        leptos::task::spawn_local(async move {
            match load_generation(id).await {
                Ok(detail) => {
                    input.set(detail.input);
                    register.value().set(None);
                    shown.set(Some(detail.response));
                    load_error.set(None);
                    copied.set(false);
                }
                Err(error) => load_error.set(Some(format!(
                    "Could not reopen generation {id}: {}",
                    error_text(&error)
                ))),
            }
        });
    };

    // `/?generation=ID` (the Revisions page links there) reopens that generation;
    // `/?import=FAMILY:REVISION` (the Defenders page's coverage links there) imports that
    // revision from ECS into the editor.
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |_| {
        if let Some(id) = query
            .with(|query| query.get("generation"))
            .and_then(|id| id.parse::<i64>().ok())
        {
            open_generation(id);
        }
        if let Some(revision) = query.with(|query| query.get("import")) {
            leptos::task::spawn_local(async move {
                match ecs_import(revision.clone()).await {
                    Ok(text) => {
                        input.set(text);
                        load_error.set(None);
                    }
                    Err(error) => load_error.set(Some(format!(
                        "Could not import {revision} from ECS: {}",
                        error_text(&error)
                    ))),
                }
            });
        }
    });
    let registrable_id = move || {
        shown.with(|s| {
            s.as_ref()
                .filter(|s| s.problems.is_empty() && s.output.trim_start().starts_with('{'))
                .and_then(|s| s.generation_id)
        })
    };

    let problems =
        move || shown.with(|s| s.as_ref().map(|s| s.problems.clone()).unwrap_or_default());
    let error_lines = Memo::new(move |_| {
        problems()
            .iter()
            .filter_map(|p| p.line)
            .collect::<BTreeSet<usize>>()
    });
    let output = move || shown.with(|s| s.as_ref().map(|s| s.output.clone()).unwrap_or_default());
    let containers =
        move || shown.with(|s| s.as_ref().map(|s| s.containers.clone()).unwrap_or_default());

    view! {
        <section class="protect" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Protect a task definition"</h1>
                <p class="muted">
                    "Paste a task definition, describe-task-definition output, a containerDefinitions array or a CloudFormation template (JSON or YAML). "
                    <kbd>"Ctrl"</kbd>"+"<kbd>"Enter"</kbd>" generates."
                </p>
            </header>

            <OptionsBar options containers=Signal::derive(containers) default_image=default_image.into()/>

            <div class="actions">
                // Generate, Register and Import need the operator role; a viewer sees the page.
                <Transition fallback=|| ()>
                    {move || may(me, Role::Operator).then(|| view! {
                        <button class="primary" data-testid="generate" on:click=move |_| run() disabled=move || pending.get()>
                            {move || if pending.get() { "Generating…" } else { "Generate protected task" }}
                        </button>
                        <button
                            data-testid="register"
                            title="RegisterTaskDefinition on ECS (see Settings)"
                            disabled=move || registrable_id().is_none() || register.pending().get()
                            on:click=move |_| {
                                if let Some(generation_id) = registrable_id() {
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
                <Show when=move || load_error.get().is_some()>
                    <p class="error" role="alert">{move || load_error.get()}</p>
                </Show>
            </div>

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
                                    copied.set(true);
                                }
                            >
                                {move || if copied.get() { "Copied" } else { "Copy" }}
                            </button>
                            <a
                                class="button"
                                data-testid="download"
                                class:disabled=move || output().is_empty()
                                download=move || shown.with(|s| s.as_ref().map(|s| s.download_name.clone()).unwrap_or_default())
                                href=move || data_url(&output())
                            >
                                "Download"
                            </a>
                        </span>
                    </div>
                    <Show
                        when=move || !problems().is_empty()
                        fallback=move || view! { <pre class="output" data-testid="output">{output}</pre> }
                    >
                        <Problems problems=Signal::derive(problems)/>
                    </Show>
                </div>
            </div>

            <Show when=move || shown.with(|s| s.as_ref().is_some_and(|s| s.problems.is_empty()))>
                <div class="tabs" role="tablist">
                    <TabButton current=tab which=Tab::Diff label="Diff"/>
                    <TabButton current=tab which=Tab::Summary label="Summary"/>
                    <TabButton
                        current=tab
                        which=Tab::Warnings
                        label="Warnings"
                        count=Signal::derive(move || shown.with(|s| s.as_ref().map_or(0, |s| s.warnings.len())))
                    />
                </div>
                <div class="tab-body">
                    {move || {
                        let response = shown.get().unwrap_or_default();
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
                                            <button class="link" disabled=move || !may(me, Role::Operator) on:click=move |_| open_generation(id)>
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
        </section>
    }
}

/// The JSON editor: a textarea that grows with its content beside a line-number gutter, so the
/// two never scroll apart; lines with problems are marked.
/// Reads a file the user picks (a task definition or a CloudFormation template) into the editor,
/// in the browser: nothing is sent until Generate.
#[component]
fn OpenFile(input: RwSignal<String>) -> impl IntoView {
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

#[component]
fn Editor(
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

#[component]
fn Problems(problems: Signal<Vec<ProblemView>>) -> impl IntoView {
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

/// Mode, defender image, console URL, token, and one row per container of the last result.
#[component]
fn OptionsBar(
    options: OptionsState,
    containers: Signal<Vec<ContainerChoice>>,
    default_image: Signal<Option<String>>,
) -> impl IntoView {
    let image_placeholder = move || match default_image.get() {
        Some(reference) => format!("default: {reference}"),
        None => "no image published yet: publish it in Settings, or give one".to_owned(),
    };
    let profile = move || options.profile.get();
    let bundled = move || profile() == "palisade";
    view! {
        <div class="options-bar">
            <label title="Whose runtime security to install: the bundled defender or a vendor's Fargate recipe">
                "Profile "
                <select data-testid="profile" on:change=move |ev| { options.vendor_key_secret.set(String::new()); options.profile.set(event_target_value(&ev)); } prop:value=profile>
                    {PROFILE_CHOICES.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                </select>
            </label>
            <label>
                {move || if profile() == "sysdig-serverless" { "Priority " } else { "Mode " }}
                <select data-testid="mode" on:change=move |ev| options.mode.set(event_target_value(&ev)) prop:value=move || options.mode.get()>
                    <option value="availability">"availability"</option>
                    <option value="security">"security"</option>
                </select>
            </label>
            <Show when=move || profile() == "datadog-cws">
                <TextField label="API key secret" test_id="vendor-key-secret" placeholder="arn:aws:secretsmanager:… (DD_API_KEY)" value=options.vendor_key_secret/>
                <TextField label="Site" test_id="datadog-site" placeholder="datadoghq.com" value=options.datadog_site/>
                <TextField label="Agent image" test_id="datadog-agent-image" placeholder="public.ecr.aws/datadog/agent:latest" value=options.datadog_agent_image/>
                <TextField label="CWS image" test_id="datadog-cws-image" placeholder="public.ecr.aws/datadog/cws-instrumentation:latest" value=options.datadog_cws_image/>
            </Show>
            <Show when=move || profile() == "sysdig-serverless">
                <TextField label="Access key secret" test_id="vendor-key-secret" placeholder="arn:aws:secretsmanager:… (SYSDIG_ACCESS_KEY)" value=options.vendor_key_secret/>
                <TextField label="Collector" test_id="sysdig-collector" placeholder="orchestrator.internal:6667" value=options.sysdig_collector/>
                <TextField label="Image" test_id="sysdig-image" placeholder="quay.io/sysdig/workload-agent:latest" value=options.sysdig_image/>
            </Show>
            <Show when=bundled>
                <label>
                    "Defender image "
                    <input type="text" data-testid="defender-image" placeholder=image_placeholder title=image_placeholder prop:value=move || options.defender_image.get() on:input=move |ev| options.defender_image.set(event_target_value(&ev))/>
                </label>
            </Show>
            <label title="Read the ENTRYPOINT and CMD of images whose containers have no entryPoint">
                <input type="checkbox" data-testid="resolve" prop:checked=move || options.resolve.get() on:change=move |ev| options.resolve.set(event_target_checked(&ev))/>
                " Entrypoints from registries"
            </label>
            <Show when=bundled>
            <label>
                "Console URL "
                <input type="url" data-testid="console-url" placeholder="https://palisade.example.com" prop:value=move || options.console_url.get() on:input=move |ev| options.console_url.set(event_target_value(&ev))/>
            </label>
            <label>
                "Token "
                <select
                    data-testid="token-kind"
                    on:change=move |ev| {
                        if let Some(kind) = TokenKind::from_value(&event_target_value(&ev)) {
                            options.token_chosen.set(true);
                            options.token_kind.set(kind);
                        }
                    }
                    prop:value=move || options.token_kind.get().as_str()
                >
                    {TokenKind::CHOICES.iter().map(|(kind, label)| view! { <option value=kind.as_str()>{*label}</option> }).collect_view()}
                </select>
                <Show when=move || options.token_kind.get().takes_value()>
                    <input type="text" data-testid="token-value" placeholder="arn:aws:secretsmanager:…" prop:value=move || options.token_value.get() on:input=move |ev| options.token_value.set(event_target_value(&ev))/>
                </Show>
            </label>
            </Show>
            <Show when=move || !containers.get().is_empty()>
                <table class="containers" data-testid="containers">
                    <thead><tr><th>"Protect"</th><th>"Container"</th><th>"Image entrypoint"</th></tr></thead>
                    <tbody>
                        {move || containers.get().into_iter().map(|container| container_row(options, container)).collect_view()}
                    </tbody>
                </table>
            </Show>
        </div>
    }
}

/// A labelled text field bound to `value`.
#[component]
fn TextField(
    label: &'static str,
    test_id: &'static str,
    placeholder: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label>
            {label}" "
            <input type="text" data-testid=test_id placeholder=placeholder prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
        </label>
    }
}

fn container_row(options: OptionsState, container: ContainerChoice) -> impl IntoView {
    let name = container.name.clone();
    let toggle_name = name.clone();
    let field_name = name.clone();
    let value_name = name.clone();
    let needs_argv = container.needs_image_argv && container.protect;
    let label = if container.has_command {
        "ENTRYPOINT of the image, e.g. [\"/entrypoint.sh\"]"
    } else {
        "ENTRYPOINT + CMD of the image, e.g. [\"/entrypoint.sh\", \"serve\"]"
    };
    view! {
        <tr>
            <td>
                <input
                    type="checkbox"
                    data-testid=format!("protect-{name}")
                    prop:checked=container.protect
                    on:change=move |ev| {
                        let checked = event_target_checked(&ev);
                        let name = toggle_name.clone();
                        options.exclude.update(|set| { if checked { set.remove(&name); } else { set.insert(name.clone()); } });
                        options.include.update(|set| { if checked { set.insert(name.clone()); } else { set.remove(&name); } });
                    }
                />
            </td>
            <td>
                <strong>{name.clone()}</strong>" "<span class="muted">{container.image.clone()}</span>
                {container.reason.clone().map(|reason| view! { <div class="muted">{reason}</div> })}
            </td>
            <td>
                {if needs_argv {
                    view! {
                        <input
                            type="text"
                            class="mono"
                            data-testid=format!("entrypoint-{name}")
                            placeholder=label
                            title=label
                            prop:value=move || options.entrypoints.with(|map| map.get(&value_name).cloned().unwrap_or_default())
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                options.entrypoints.update(|map| { map.insert(field_name.clone(), text); });
                            }
                        />
                    }.into_any()
                } else if container.protect {
                    view! { <span class="muted">"from the task definition"</span> }.into_any()
                } else {
                    view! { <span class="muted">"not wrapped"</span> }.into_any()
                }}
                {needs_argv.then(|| view! {
                    {container.argv_source.clone().map(|source| view! { <div class="muted" data-testid=format!("argv-source-{name}")>{source}</div> })}
                    {container.argv_error.clone().map(|error| view! { <div class="error" data-testid=format!("argv-error-{name}")>{error}</div> })}
                })}
            </td>
        </tr>
    }
}

/// "Import from ECS": pick a family and a revision (ListTaskDefinitionFamilies, ListTaskDefinitions)
/// and put its DescribeTaskDefinition output (with tags) into the editor.
#[component]
fn ImportFromEcs(input: RwSignal<String>) -> impl IntoView {
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
