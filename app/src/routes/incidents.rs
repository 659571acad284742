//! The Incidents pages: every incident (grouped by family, rule and container), filtered by
//! family, rule, severity and state, asked again when the console pushes a change; and one
//! incident with its rule's explanation, its tasks, its alerts with their command lines and the
//! process tree around each, and the actions: acknowledge, resolve, "this is normal" (the
//! process goes into its container's model), open the defender's timeline.

use crate::api::error_text;
use crate::api::incidents::{
    get_incident, list_incidents, list_rules, AlertView, IncidentDetail, IncidentFilter,
    IncidentList, IncidentView, MarkNormal, NormalChange, SetIncidentState, TreeNodeView,
};
use crate::api::session::{may, MeResource, Role};
use crate::format::ago;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The filters, each a signal (the family one starts from `?family=` in the URL).
#[derive(Clone, Copy)]
struct Filters {
    family: RwSignal<String>,
    rule: RwSignal<String>,
    severity: RwSignal<String>,
    state: RwSignal<String>,
    page: RwSignal<u32>,
}

fn state_line(incident: &IncidentView, now: i64) -> String {
    match incident.state.as_str() {
        "acknowledged" => format!(
            "acknowledged by {} {}",
            incident.acknowledged_by.clone().unwrap_or_default(),
            incident
                .acknowledged_at_ms
                .map(|at| ago(now, at))
                .unwrap_or_default()
        ),
        "resolved" => format!(
            "resolved by {} {}",
            incident.resolved_by.clone().unwrap_or_default(),
            incident
                .resolved_at_ms
                .map(|at| ago(now, at))
                .unwrap_or_default()
        ),
        other => other.to_owned(),
    }
}

fn tasks_line(incident: &IncidentView) -> String {
    match incident.unlisted_task_alerts {
        0 => format!("{}", incident.task_count),
        more => format!(
            "{}+ ({more} alerts from tasks not listed)",
            incident.task_count
        ),
    }
}

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Filters {
        family: RwSignal::new(query.with_untracked(|q| q.get("family").unwrap_or_default())),
        rule: RwSignal::new(query.with_untracked(|q| q.get("rule").unwrap_or_default())),
        severity: RwSignal::new(String::new()),
        state: RwSignal::new(query.with_untracked(|q| q.get("state").unwrap_or_default())),
        page: RwSignal::new(1),
    };
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let refresh = crate::components::defender_changes();
    let list = Resource::new(
        move || {
            let f = filters;
            (
                f.family.get(),
                f.rule.get(),
                f.severity.get(),
                f.state.get(),
                f.page.get(),
                refresh.get(),
            )
        },
        |(family, rule, severity, state, page, _)| {
            list_incidents(IncidentFilter {
                family,
                rule,
                severity,
                state,
                page,
                per_page: 50,
            })
        },
    );
    view! {
        <section class="incidents" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Incidents"</h1>
                <p class="muted">"Alerts from every defender, one incident per family, rule and container within 24 hours of its first alert, until resolved."</p>
            </header>
            <IncidentFilters filters/>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || list.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
                    Ok(list) => view! { <IncidentTable list page=filters.page/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn IncidentFilters(filters: Filters) -> impl IntoView {
    let rules = Resource::new(|| (), |_| list_rules());
    let Filters {
        family,
        rule,
        severity,
        state,
        page,
    } = filters;
    let reset = move || page.set(1);
    view! {
        <div class="filters">
            <input type="search" data-testid="incident-family" placeholder="family"
                prop:value=move || family.get() on:input=move |ev| { family.set(event_target_value(&ev)); reset(); }/>
            <label>"Rule "
                <select data-testid="incident-rule" prop:value=move || rule.get() on:change=move |ev| { rule.set(event_target_value(&ev)); reset(); }>
                    <option value="">"all"</option>
                    <Transition fallback=|| ()>
                        {move || rules.get().and_then(Result::ok).map(|list| list.rules.into_iter().map(|r| view! {
                            <option value=r.id.clone()>{r.name}</option>
                        }).collect_view())}
                    </Transition>
                </select>
            </label>
            <label>"Severity "
                <select data-testid="incident-severity" prop:value=move || severity.get() on:change=move |ev| { severity.set(event_target_value(&ev)); reset(); }>
                    <option value="">"all"</option>
                    <option value="critical">"critical"</option>
                    <option value="high">"high"</option>
                    <option value="medium">"medium"</option>
                    <option value="low">"low"</option>
                </select>
            </label>
            <label>"State "
                <select data-testid="incident-state" prop:value=move || state.get() on:change=move |ev| { state.set(event_target_value(&ev)); reset(); }>
                    <option value="">"all"</option>
                    <option value="open">"open"</option>
                    <option value="acknowledged">"acknowledged"</option>
                    <option value="resolved">"resolved"</option>
                </select>
            </label>
        </div>
    }
}

#[component]
fn IncidentTable(list: IncidentList, page: RwSignal<u32>) -> impl IntoView {
    let now = list.now_ms;
    let per_page = i64::from(list.per_page.max(1));
    let pages = ((list.total + per_page - 1) / per_page).max(1);
    let total = list.total;
    view! {
        <div class="counts">
            <span class="count disconnected" data-testid="count-open"><b>{list.counts.open}</b>" open"</span>
            <span class="count"><b>{list.counts.acknowledged}</b>" acknowledged"</span>
            <span class="count"><b>{list.counts.open_alerts}</b>" alerts in open incidents"</span>
        </div>
        {if list.incidents.is_empty() {
            view! { <p class="muted" data-testid="no-incidents">"No incident matches. Defenders report alerts once their family's policy is in force (alert or prevent mode)."</p> }.into_any()
        } else {
            view! {
                <table class="grid" data-testid="incidents">
                    <thead><tr>
                        <th>"Severity"</th><th>"Rule"</th><th>"Family"</th><th>"Container"</th><th>"Alerts"</th>
                        <th>"Tasks"</th><th>"First seen"</th><th>"Last seen"</th><th>"State"</th><th>"Last alert"</th>
                    </tr></thead>
                    <tbody>
                        {list.incidents.into_iter().map(|incident| view! {
                            <tr class=format!("incident severity-{} state-{}", incident.severity, incident.state) data-testid="incident-row">
                                <td><span class=format!("badge severity-{}", incident.severity)>{incident.severity.clone()}</span></td>
                                <td><a href=format!("/incidents/{}", incident.id)>{incident.rule_name.clone()}</a></td>
                                <td><a href=format!("/models/{}", incident.family)>{incident.family.clone()}</a></td>
                                <td>{incident.container.clone().unwrap_or_else(|| "-".into())}</td>
                                <td data-testid="incident-alerts">{incident.alert_count}</td>
                                <td>{tasks_line(&incident)}</td>
                                <td>{ago(now, incident.first_seen_ms)}</td>
                                <td>{ago(now, incident.last_seen_ms)}</td>
                                <td data-testid="incident-state-cell">{state_line(&incident, now)}</td>
                                <td class="mono what">{incident.summary.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <div class="pager">
            <button disabled={move || page.get() <= 1} on:click=move |_| page.update(|p| *p -= 1)>"Previous"</button>
            <span class="muted">{move || format!("page {} of {pages} ({total} incidents)", page.get())}</span>
            <button disabled={move || i64::from(page.get()) >= pages} on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
        </div>
    }
}

#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        })
    };
    let set_state = ServerAction::<SetIncidentState>::new();
    let normal = ServerAction::<MarkNormal>::new();
    let detail = Resource::new(
        move || (id(), set_state.version().get(), normal.version().get()),
        |(id, ..)| get_incident(id),
    );
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <section class="incident" data-hydrated=move || hydrated.get().to_string()>
            <p><a href="/incidents">"← Incidents"</a></p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || detail.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
                    Ok(detail) => view! { <IncidentWhole detail set_state normal/> }.into_any(),
                })}
            </Transition>
            {move || set_state.value().get().and_then(Result::err).map(|error| view! {
                <p class="error" role="alert" data-testid="incident-error">{error_text(&error)}</p>
            })}
            {move || normal.value().get().map(|result| match result {
                Ok(_) => view! { <p class="ok" data-testid="normal-done">"Added to the model: the family's defenders have the new revision."</p> }.into_any(),
                Err(error) => view! { <p class="error" role="alert" data-testid="normal-error">{error_text(&error)}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn IncidentWhole(
    detail: IncidentDetail,
    set_state: ServerAction<SetIncidentState>,
    normal: ServerAction<MarkNormal>,
) -> impl IntoView {
    let me = expect_context::<MeResource>();
    let operator = move || may(me, Role::Operator);
    let incident = detail.incident.clone();
    let now = detail.now_ms;
    let id = incident.id;
    let open = incident.state == "open";
    let unresolved = incident.state != "resolved";
    let family = incident.family.clone();
    view! {
        <header class="page-header">
            <h1>{incident.rule_name.clone()}" "
                <span class=format!("badge severity-{}", incident.severity) data-testid="incident-severity-badge">{incident.severity.clone()}</span>" "
                <span class="badge" data-testid="incident-state">{incident.state.clone()}</span>
            </h1>
            <p class="muted">{detail.explanation.clone()}</p>
        </header>
        <dl class="identity">
            <dt>"Family"</dt><dd><a href=format!("/models/{}", incident.family)>{incident.family.clone()}</a></dd>
            <dt>"Container"</dt><dd>{incident.container.clone().unwrap_or_else(|| "-".into())}</dd>
            <dt>"Alerts"</dt><dd data-testid="incident-count">{format!("{} ({} kept whole)", incident.alert_count, incident.stored_alerts)}</dd>
            <dt>"Tasks"</dt><dd>{tasks_line(&incident)}</dd>
            <dt>"First seen"</dt><dd>{ago(now, incident.first_seen_ms)}</dd>
            <dt>"Last seen"</dt><dd>{ago(now, incident.last_seen_ms)}</dd>
            <dt>"State"</dt><dd>{state_line(&incident, now)}</dd>
        </dl>
        <Show when=move || operator() && unresolved>
            <div class="actions">
                {open.then(|| view! {
                    <button data-testid="incident-acknowledge" on:click=move |_| { set_state.dispatch(SetIncidentState { id, state: "acknowledged".into() }); }>"Acknowledge"</button>
                })}
                <button data-testid="incident-resolve" on:click=move |_| { set_state.dispatch(SetIncidentState { id, state: "resolved".into() }); }>"Resolve"</button>
            </div>
        </Show>
        <h2>"Tasks"</h2>
        <ul class="recent-list">
            {detail.tasks.iter().map(|task| view! {
                <li><a class="mono" href=format!("/defenders/{}", task.defender_id)>{task.task_arn.clone()}</a>
                    <span class="muted">{format!(" {} alerts, last {}", task.alerts, ago(now, task.last_seen_ms))}</span></li>
            }).collect_view()}
        </ul>
        <h2>"Alerts"</h2>
        {detail.alerts.into_iter().map(|alert| view! {
            <AlertCard alert incident_id=id family=family.clone() now normal operator=Signal::derive(operator)/>
        }).collect_view()}
    }
}

#[component]
fn AlertCard(
    alert: AlertView,
    incident_id: i64,
    family: String,
    now: i64,
    normal: ServerAction<MarkNormal>,
    operator: Signal<bool>,
) -> impl IntoView {
    let alert_id = alert.id;
    let can_add = alert
        .process
        .as_ref()
        .is_some_and(|p| p.container.is_some())
        || alert.port.as_ref().is_some_and(|p| p.container.is_some());
    let timeline = format!("/defenders/{}#event-{}", alert.defender_id, alert.seq);
    let mark = move |_| {
        normal.dispatch(MarkNormal {
            family: family.clone(),
            change: NormalChange {
                incident_id: Some(incident_id),
                alert_id: Some(alert_id),
                ..NormalChange::default()
            },
        });
    };
    view! {
        <article class="alert-card" data-testid="alert">
            <p><b>{alert.message.clone()}</b>" "<span class="muted">{ago(now, alert.received_at_ms)}</span></p>
            <p class="muted">{format!("action {}{}; policy revision {}", alert.action,
                alert.outcome.clone().map(|o| format!(": {o}")).unwrap_or_default(), alert.policy_revision)}</p>
            {alert.process.clone().map(|p| view! {
                <pre class="output command" data-testid="alert-command">{p.command_line.clone()}</pre>
                <p class="muted">{format!("pid {}, parent {}, {}, container {}", p.pid, p.ppid, p.user, p.container.unwrap_or_else(|| "-".into()))}</p>
            })}
            {alert.port.clone().map(|p| view! { <p class="mono">{format!("{} port {}", p.protocol.unwrap_or_default(), p.port)}</p> })}
            {(!alert.tree.is_empty()).then(|| view! { <ProcessTree nodes=alert.tree.clone()/> })}
            {alert.tree_note.clone().map(|note| view! { <p class="muted">{note}</p> })}
            <div class="actions">
                {(alert.seq > 0).then(|| view! { <a href=timeline>"Open the defender's timeline"</a> })}
                <Show when=move || operator.get() && can_add>
                    <button data-testid="this-is-normal" on:click=mark.clone()>"This is normal"</button>
                </Show>
            </div>
        </article>
    }
}

/// The processes around an alert: parents (farthest first), the alert's, siblings and children.
#[component]
fn ProcessTree(nodes: Vec<TreeNodeView>) -> impl IntoView {
    let parents = nodes
        .iter()
        .filter(|node| node.relation == "ancestor")
        .count();
    view! {
        <ul class="tree" data-testid="process-tree">
            {nodes.into_iter().enumerate().map(|(index, node)| {
                let depth = match node.relation.as_str() {
                    "ancestor" => index,
                    "alert" | "sibling" => parents,
                    _ => parents + 1,
                };
                let label = match node.relation.as_str() {
                    "alert" => "▶ ",
                    "sibling" => "· ",
                    "child" => "└ ",
                    _ => "",
                };
                view! {
                    <li class=format!("tree-node {} depth-{}", node.relation, depth.min(8))>
                        <span class="mono">{format!("{label}{} ", node.process.pid)}</span>
                        <span class="mono">{node.process.command_line.clone()}</span>
                        <span class="muted">{format!(" ({})", node.process.user)}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
