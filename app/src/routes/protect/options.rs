//! The Protect page's options bar: profile, mode, vendor fields, defender image, console URL,
//! token, and one row per container of the last result. Its state is one signal per field.

use crate::api::protect::{ContainerChoice, TokenKind, PROFILE_CHOICES};
use leptos::prelude::*;
use palisade_types::protect::{
    CreateToken, DatadogOptions, GenerateOptions, ProfileOptions, SysdigOptions,
};
use std::collections::{BTreeMap, BTreeSet};

/// The options bar's state, one signal per field.
#[derive(Clone, Copy)]
pub(super) struct OptionsState {
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
    pub(super) fn new() -> Self {
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

    /// The token kind the console suggests, unless the user chose one.
    pub(super) fn suggest_token_kind(&self, kind: TokenKind) {
        if !self.token_chosen.get_untracked() {
            self.token_kind.set(kind);
        }
    }

    /// The options as Generate takes them: the token choice as its one field, the vendor's
    /// fields in its profile only (for Sysdig, the mode is its priority).
    pub(super) fn snapshot(&self) -> GenerateOptions {
        let mode = self.mode.get_untracked();
        let value = Some(self.token_value.get_untracked()).filter(|v| !v.trim().is_empty());
        let (token, token_secret, create_token) = match self.token_kind.get_untracked() {
            TokenKind::New => (None, None, Some(CreateToken::Plain)),
            TokenKind::NewSecret => (None, None, Some(CreateToken::Secret)),
            TokenKind::None => (None, None, None),
            TokenKind::Plain => (value, None, None),
            TokenKind::Secret => (None, value, None),
        };
        let text = |field: RwSignal<String>| Some(field.get_untracked());
        let profile = match self.profile.get_untracked().as_str() {
            "datadog-cws" => ProfileOptions::DatadogCws(DatadogOptions {
                api_key_secret: text(self.vendor_key_secret),
                site: text(self.datadog_site),
                agent_image: text(self.datadog_agent_image),
                cws_image: text(self.datadog_cws_image),
            }),
            "sysdig-serverless" => ProfileOptions::SysdigServerless(SysdigOptions {
                access_key_secret: text(self.vendor_key_secret),
                collector: text(self.sysdig_collector),
                priority: Some(mode.clone()),
                image: text(self.sysdig_image),
            }),
            _ => ProfileOptions::Palisade,
        };
        GenerateOptions {
            mode: Some(mode),
            console_url: text(self.console_url),
            token,
            token_secret,
            create_token,
            include: self.include.get_untracked().into_iter().collect(),
            exclude: self.exclude.get_untracked().into_iter().collect(),
            entrypoints: (self.entrypoints.get_untracked().into_iter())
                .map(|(name, argv)| (name, serde_json::Value::String(argv)))
                .collect(),
            defender_image: text(self.defender_image),
            no_resolve: !self.resolve.get_untracked(),
            profile,
        }
    }
}

/// Mode, defender image, console URL, token, and one row per container of the last result.
#[component]
pub(super) fn OptionsBar(
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
            <VendorFields options/>
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
                <TokenField options/>
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

/// The chosen vendor's own fields (Datadog's, Sysdig's).
#[component]
fn VendorFields(options: OptionsState) -> impl IntoView {
    let profile = move || options.profile.get();
    view! {
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
    }
}

/// Where the defender's token comes from: a new one (embedded or kept in Secrets Manager), or one
/// the user names.
#[component]
fn TokenField(options: OptionsState) -> impl IntoView {
    view! {
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
