//! The Models pages: every family's runtime-defense policy at a glance, and one family's policy
//! and learned model: what each container ran and listened on while it learned, from how many
//! tasks, learning until when; relearn and extend (operators), the mode (admins, prevent asked
//! once), the learning window.

use crate::api::error_text;
use crate::api::models::{
    get_family, list_families, ExtendLearning, FamilyDetail, LearningView, ModelView, PolicyChange,
    RelearnModel, SavePolicy,
};
use crate::api::session::{may, MeResource, Role};
use crate::format::{ago, human_duration};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// "learning, 42 min left", "in force since 3 h ago", "waiting for its first defender".
fn learning_line(learning: &LearningView, now: i64) -> String {
    match (
        learning.state.as_str(),
        learning.ends_at_ms,
        learning.activated_at_ms,
    ) {
        ("learning", Some(end), _) if end > now => {
            format!("learning, {} left", human_duration(end - now))
        }
        ("learning", ..) => "learning, ending now".into(),
        ("active", _, Some(at)) => format!("in force since {}", ago(now, at)),
        _ => format!(
            "waiting for its first defender, then learning for {}",
            human_duration(i64::from(learning.window_minutes) * 60_000)
        ),
    }
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let families = Resource::new(|| (), |_| list_families());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <section class="models" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Models"</h1>
                <p class="muted">"Each family's policy: its mode and what its model learned from its defenders' first hour (by default); a family gets one when its first defender connects."</p>
            </header>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || families.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
                    Ok(list) if list.families.is_empty() => view! { <p class="muted" data-testid="no-families">"No family has a policy yet."</p> }.into_any(),
                    Ok(list) => {
                        let now = list.now_ms;
                        view! {
                            <table class="grid" data-testid="families">
                                <thead><tr><th>"Family"</th><th>"Mode"</th><th>"Model"</th><th>"Containers"</th><th>"Executables"</th><th>"Ports"</th><th>"Tasks"</th><th>"Revision"</th></tr></thead>
                                <tbody>
                                    {list.families.into_iter().map(|family| view! {
                                        <tr data-testid="family-row">
                                            <td><a href=format!("/models/{}", family.family)>{family.family.clone()}</a></td>
                                            <td>{family.mode.clone()}</td>
                                            <td>{learning_line(&family.learning, now)}</td>
                                            <td>{family.containers}</td>
                                            <td>{family.executables}</td>
                                            <td>{family.ports}</td>
                                            <td>{family.tasks}</td>
                                            <td>{family.revision}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let family = move || params.with(|p| p.get("family").unwrap_or_default());
    let save = ServerAction::<SavePolicy>::new();
    let relearn = ServerAction::<RelearnModel>::new();
    let extend = ServerAction::<ExtendLearning>::new();
    let refresh = crate::components::defender_changes();
    let detail = Resource::new(
        move || {
            let versions = (
                save.version().get(),
                relearn.version().get(),
                extend.version().get(),
            );
            (family(), versions, refresh.get())
        },
        |(family, ..)| get_family(family),
    );
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let errors =
        move || {
            let failed = [
                save.value().get().and_then(Result::err),
                relearn.value().get().and_then(Result::err),
                extend.value().get().and_then(Result::err),
            ];
            failed.into_iter().flatten().map(|error| view! {
            <p class="error" role="alert" data-testid="model-error">{error_text(&error)}</p>
        }).collect_view()
        };
    view! {
        <section class="model" data-hydrated=move || hydrated.get().to_string()>
            <p><a href="/models">"← Models"</a></p>
            {errors}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || detail.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
                    Ok(detail) => view! { <FamilyWhole detail save relearn extend/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn FamilyWhole(
    detail: FamilyDetail,
    save: ServerAction<SavePolicy>,
    relearn: ServerAction<RelearnModel>,
    extend: ServerAction<ExtendLearning>,
) -> impl IntoView {
    let me = expect_context::<MeResource>();
    let policy = detail.policy.clone();
    let model = detail.model.clone();
    let now = model.now_ms;
    let family = policy.family.clone();
    let (for_relearn, for_extend) = (family.clone(), family.clone());
    let minutes = RwSignal::new(policy.learning.window_minutes.to_string());
    view! {
        <header class="page-header">
            <h1>{family.clone()}" "<span class="badge" data-testid="family-mode">{format!("{} mode", policy.mode)}</span></h1>
            <p class="muted" data-testid="learning-state">{format!("{}; revision {}; {} tasks learned from", learning_line(&model.learning, now), model.revision, model.tasks)}</p>
        </header>
        <ModeSelect family=family.clone() current=policy.mode.clone() save admin=Signal::derive(move || may(me, Role::Admin))/>
        <Show when=move || may(me, Role::Operator)>
            <div class="actions">
                <button data-testid="model-relearn" on:click={
                    let family = for_relearn.clone();
                    move |_| { relearn.dispatch(RelearnModel { family: family.clone() }); }
                }>"Relearn"</button>
                <label class="inline">"Learn for "
                    <input type="number" min="1" max="43200" data-testid="extend-minutes" prop:value=move || minutes.get() on:input=move |ev| minutes.set(event_target_value(&ev))/>
                    " minutes from now"</label>
                <button data-testid="model-extend" on:click={
                    let family = for_extend.clone();
                    move |_| {
                        let minutes = minutes.get_untracked().trim().parse().unwrap_or(0);
                        extend.dispatch(ExtendLearning { family: family.clone(), minutes });
                    }
                }>"Extend learning"</button>
            </div>
        </Show>
        <ModelTables model/>
    }
}

/// The mode: admins change it here (prevent is asked once, saying what it stops).
#[component]
fn ModeSelect(
    family: String,
    current: String,
    save: ServerAction<SavePolicy>,
    admin: Signal<bool>,
) -> impl IntoView {
    let asking = RwSignal::new(None::<String>);
    let apply = move |family: String, mode: String| {
        save.dispatch(SavePolicy {
            family,
            change: PolicyChange {
                mode: Some(mode),
                ..PolicyChange::default()
            },
        });
    };
    let chosen = {
        let family = family.clone();
        move |ev: leptos::ev::Event| {
            let mode = event_target_value(&ev);
            if mode == "prevent" {
                asking.set(Some(mode));
            } else {
                apply(family.clone(), mode);
            }
        }
    };
    view! {
        <Show when=move || admin.get()>
            <label class="inline">"Mode "
                <select data-testid="mode-select" prop:value=current.clone() on:change=chosen.clone()>
                    <option value="off">"off"</option>
                    <option value="alert">"alert"</option>
                    <option value="prevent">"prevent"</option>
                </select>
            </label>
        </Show>
        {
            let family = family.clone();
            move || asking.get().map(|mode| {
                let family = family.clone();
                view! {
                    <div class="confirm" role="alertdialog" data-testid="prevent-confirm">
                        <p>{format!("Prevent mode kills, in every task of {family}, a process a deny entry, a crypto-miner or a program not from the image starts, and one outside the model (never the container's main process for that alone). Switch to prevent?")}</p>
                        <button class="primary" data-testid="prevent-yes" on:click=move |_| { asking.set(None); apply(family.clone(), mode.clone()); }>"Switch to prevent"</button>
                        " "<button on:click=move |_| asking.set(None)>"Cancel"</button>
                    </div>
                }
            })
        }
    }
}

/// What each container's model holds.
#[component]
fn ModelTables(model: ModelView) -> impl IntoView {
    let now = model.now_ms;
    view! {
        {(model.overflow > 0).then(|| view! {
            <p class="warning">{format!("{} containers were refused: the model holds 64 at most.", model.overflow)}</p>
        })}
        {model.containers.is_empty().then(|| view! {
            <p class="muted" data-testid="model-empty">"Nothing learned yet."</p>
        })}
        {model.containers.into_iter().map(|container| view! {
            <h2>{format!("Container {}", container.name)}</h2>
            {(container.overflow > 0).then(|| view! {
                <p class="warning">{format!("{} executables or ports were refused: its lists are full (1,000 executables, 256 ports) or the model reached its size.", container.overflow)}</p>
            })}
            <table class="grid" data-testid="model-executables">
                <thead><tr><th>"Executable"</th><th>"Parents"</th><th>"Users"</th><th>"Seen"</th><th>"Last seen"</th></tr></thead>
                <tbody>
                    {container.executables.into_iter().map(|record| view! {
                        <tr data-testid="model-executable">
                            <td class="mono">{record.executable.clone()}</td>
                            <td class="mono">{record.parents.join(", ")}</td>
                            <td>{record.uids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")}</td>
                            <td>{if record.count == 0 { "marked normal".to_owned() } else { record.count.to_string() }}</td>
                            <td>{ago(now, record.last_seen_ms)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(!container.ports.is_empty()).then(|| view! {
                <p class="mono" data-testid="model-ports">{format!("listens on {}", container.ports.iter().map(|p| format!("{} {}", p.protocol, p.port)).collect::<Vec<_>>().join(", "))}</p>
            })}
        }).collect_view()}
    }
}
