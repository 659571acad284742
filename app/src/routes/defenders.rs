//! The Defenders pages: charts of the last 24 hours, coverage of the account's services, every
//! defender the console knows, live (asked again when the console pushes a change, "connected
//! for" ticking every second between them), and one defender with its process timeline.

use crate::api::defenders::{
    get_defender, list_defenders, DefenderFilter, DefenderList, DefenderView,
};
use crate::format::{ago, human_duration};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use std::time::Duration;

/// Milliseconds since the data was fetched, advancing every second in the browser: the console's
/// `now_ms` plus this is "now" without trusting the browser's clock.
fn ticking_clock() -> (RwSignal<u32>, RwSignal<i64>) {
    let since_fetch = RwSignal::new(0i64);
    crate::components::every(Duration::from_secs(1), move || {
        since_fetch.update(|ms| *ms += 1000)
    });
    (crate::components::defender_changes(), since_fetch)
}

/// The CSV export of what the filters select (the same words as the list's query).
fn export_link(status: &str, search: &str, sort: &str) -> String {
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "/api/v1/defenders.csv?status={}&q={}&sort={}",
        encode(status),
        encode(search),
        encode(sort)
    )
}

fn status_cell(defender: &DefenderView, now: i64) -> String {
    match defender.disconnected_at_ms {
        None => format!(
            "connected for {}",
            human_duration(now - defender.connected_since_ms)
        ),
        Some(at) => format!("disconnected {} ago", human_duration(now - at)),
    }
}

/// Every ECS service of the account: the revision it runs, protected or not, and how many of its
/// running tasks have a connected defender; unprotected first, each with a way to protect it.
#[component]
fn Coverage() -> impl IntoView {
    use crate::api::defenders::service_coverage;
    let refreshes = RwSignal::new(0u32);
    let coverage = Resource::new(move || refreshes.get(), |asked| service_coverage(asked > 0));
    view! {
        <h2>"Coverage "
            <button data-testid="coverage-refresh" title="Ask ECS again" on:click=move |_| refreshes.update(|n| *n += 1)>"Refresh"</button>
        </h2>
        <Transition fallback=|| view! { <p class="muted">"Asking ECS…"</p> }>
            {move || coverage.get().map(|result| match result {
                Err(error) => view! {
                    <p class="muted" data-testid="coverage-error">{format!("Coverage needs ECS: {} (the region and credentials are set in Settings).", crate::api::error_text(&error))}</p>
                }.into_any(),
                Ok(coverage) if coverage.services.is_empty() => view! {
                    <p class="muted" data-testid="coverage-empty">{format!("No ECS service found. {}", coverage.notes.join("; "))}</p>
                }.into_any(),
                Ok(coverage) => {
                    let unprotected = coverage.services.iter().filter(|s| s.protected == Some(false)).count();
                    view! {
                        <p class="counts" data-testid="coverage-summary">
                            <span class="count disconnected"><b>{unprotected}</b>" unprotected services"</span>
                            <span class="count connected"><b>{coverage.services.len() - unprotected}</b>" protected or unknown"</span>
                            {(!coverage.notes.is_empty()).then(|| view! { <span class="muted">{coverage.notes.join("; ")}</span> })}
                        </p>
                        <table class="grid" data-testid="coverage">
                            <thead><tr><th>"Cluster"</th><th>"Service"</th><th>"Revision"</th><th>"Protected"</th><th>"Running tasks with a defender"</th><th></th></tr></thead>
                            <tbody>
                                {coverage.services.into_iter().map(|service| {
                                    let link = format!("/?import={}", service.task_definition);
                                    let (label, class) = match service.protected {
                                        Some(true) => ("protected", "ok"),
                                        Some(false) => ("unprotected", "error"),
                                        None => ("unknown", "muted"),
                                    };
                                    view! {
                                        <tr data-testid="coverage-row">
                                            <td>{service.cluster}</td>
                                            <td>{service.service}</td>
                                            <td class="mono">{service.task_definition.clone()}</td>
                                            <td class=class>{label}</td>
                                            <td>{format!("{} / {}", service.with_defender, service.running)}</td>
                                            <td>{(service.protected == Some(false)).then(|| view! {
                                                <a class="button" data-testid="coverage-protect" href=link>"Protect"</a>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// Connected defenders by family and events per minute over the last 24 hours (the console
/// samples once a minute; asked again every minute).
#[component]
fn Charts() -> impl IntoView {
    use crate::api::defenders::defender_history;
    use crate::components::chart::{Series, StackedChart};
    let minutes = RwSignal::new(0u32);
    crate::components::every(Duration::from_secs(60), move || {
        minutes.update(|n| *n = n.wrapping_add(1))
    });
    let history = Resource::new(move || minutes.get(), |_| defender_history());
    view! {
        <Transition fallback=|| ()>
            {move || history.get().map(|result| match result {
                Err(error) => view! { <p class="error" role="alert">{crate::api::error_text(&error)}</p> }.into_any(),
                Ok(history) if history.families.is_empty() && history.events_per_minute.iter().all(|n| *n == 0.0) => view! {
                    <p class="muted" data-testid="charts-empty">"No history yet: the console counts connected defenders and their events once a minute, and draws the last 24 hours here."</p>
                }.into_any(),
                Ok(history) => {
                    let (buckets, hours) = (history.buckets(), history.hours());
                    let families = history.families.into_iter().map(|series| Series {
                        name: series.family.unwrap_or_else(|| "other families".to_owned()),
                        values: series.connected.into_iter().map(|n| n as f64).collect(),
                    }).collect();
                    let events = vec![Series { name: "events per minute".to_owned(), values: history.events_per_minute }];
                    view! {
                        <div class="charts">
                            <StackedChart title="Connected defenders by family, last 24 hours".to_owned() series=families
                                buckets=buckets hours=hours test_id="chart-connected"/>
                            <StackedChart title="Events per minute, last 24 hours".to_owned() series=events
                                buckets=buckets hours=hours test_id="chart-events"/>
                        </div>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// What the list shows, each a signal: the filters, the sort and the page.
#[derive(Clone, Copy)]
struct ListQuery {
    status: RwSignal<String>,
    search: RwSignal<String>,
    sort: RwSignal<String>,
    page: RwSignal<u32>,
}

impl ListQuery {
    fn new() -> Self {
        ListQuery {
            status: RwSignal::new(String::new()),
            search: RwSignal::new(String::new()),
            sort: RwSignal::new(String::new()),
            page: RwSignal::new(1),
        }
    }
}

#[component]
pub fn DefendersPage() -> impl IntoView {
    let query = ListQuery::new();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let (refresh, since_fetch) = ticking_clock();
    let list = Resource::new(
        move || {
            (
                query.status.get(),
                query.search.get(),
                query.sort.get(),
                query.page.get(),
                refresh.get(),
            )
        },
        move |(status, q, sort, page, _)| async move {
            let result = list_defenders(DefenderFilter {
                status,
                q,
                sort,
                page,
                per_page: 50,
            })
            .await;
            since_fetch.set(0);
            result
        },
    );
    view! {
        <section class="defenders" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Defenders"</h1>
                <p class="muted">"Every task running the Palisade defender, live."</p>
            </header>
            <Charts/>
            <Coverage/>
            <Filters query/>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || list.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{crate::api::error_text(&error)}</p> }.into_any(),
                    Ok(list) => view! { <DefenderTable list since_fetch page=query.page/> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Status, sort and search (a new filter starts again at page 1), and the CSV of what they select.
#[component]
fn Filters(query: ListQuery) -> impl IntoView {
    let ListQuery {
        status,
        search,
        sort,
        page,
    } = query;
    let reset_page = move || page.set(1);
    view! {
        <div class="filters">
            <label>"Status "
                <select data-testid="status-filter" prop:value=move || status.get() on:change=move |ev| { status.set(event_target_value(&ev)); reset_page(); }>
                    <option value="">"all"</option>
                    <option value="connected">"connected"</option>
                    <option value="disconnected">"disconnected"</option>
                </select>
            </label>
            <label>"Sort "
                <select data-testid="sort" prop:value=move || sort.get() on:change=move |ev| sort.set(event_target_value(&ev))>
                    <option value="">"status"</option>
                    <option value="family">"family"</option>
                    <option value="cluster">"cluster"</option>
                    <option value="connected_since">"longest connected"</option>
                    <option value="last_seen">"last seen"</option>
                    <option value="processes">"processes"</option>
                </select>
            </label>
            <input type="search" data-testid="search" placeholder="family, cluster, task, AZ, image…"
                prop:value=move || search.get() on:input=move |ev| { search.set(event_target_value(&ev)); reset_page(); }/>
            <a class="button" data-testid="export-csv" download="palisade-defenders.csv" title="Every defender these filters select, as CSV"
                href=move || export_link(&status.get(), &search.get(), &sort.get())>"Export CSV"</a>
        </div>
    }
}

/// One page of the list: the counts, a row per defender ("connected for" ticking), the pager.
#[component]
fn DefenderTable(
    list: DefenderList,
    since_fetch: RwSignal<i64>,
    page: RwSignal<u32>,
) -> impl IntoView {
    let now_ms = list.now_ms;
    let now = move || now_ms + since_fetch.get();
    let per_page = i64::from(list.per_page);
    let pages = ((list.total + per_page - 1) / per_page).max(1);
    let total = list.total;
    view! {
        <div class="counts">
            <span class="count connected" data-testid="count-connected"><b>{list.connected}</b>" connected"</span>
            <span class="count disconnected" data-testid="count-disconnected"><b>{list.disconnected}</b>" disconnected"</span>
            <span class="count"><b>{list.protected_families}</b>" protected families"</span>
        </div>
        {if list.defenders.is_empty() {
            view! { <p class="muted" data-testid="no-defenders">"No defender matches. A protected task's defender appears here once it connects (it needs PALISADE_CONSOLE_URL and a token from Settings)."</p> }.into_any()
        } else {
            view! {
                <table class="grid" data-testid="defenders">
                    <thead><tr>
                        <th>"Status"</th><th>"Last seen"</th><th>"Cluster"</th><th>"Family:revision"</th><th>"Task"</th>
                        <th>"AZ"</th><th>"Version"</th><th>"Containers"</th><th>"Processes"</th>
                    </tr></thead>
                    <tbody>
                        {list.defenders.into_iter().map(|defender| defender_row(defender, now)).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <div class="pager">
            // Braced: inside `view!` an unbraced `>=` ends the tag (the button
            // once rendered this code as its label and had no handler).
            <button data-testid="page-previous" disabled={move || page.get() <= 1} on:click=move |_| page.update(|p| *p -= 1)>"Previous"</button>
            <span class="muted" data-testid="page-label">{move || format!("page {} of {pages} ({} defenders)", page.get(), total)}</span>
            <button data-testid="page-next" disabled={move || i64::from(page.get()) >= pages} on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
        </div>
    }
}

/// A defender's row, its times counted from `now`.
fn defender_row(
    defender: DefenderView,
    now: impl Fn() -> i64 + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let row = defender.clone();
    let containers = defender
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let images = defender
        .containers
        .iter()
        .map(|c| format!("{}: {}", c.name, c.image))
        .collect::<Vec<_>>()
        .join("\n");
    view! {
        <tr class=format!("defender status-{}", defender.status.as_str()) data-testid="defender-row">
            <td><span class="dot"></span>" "<span data-testid="since">{move || status_cell(&row, now())}</span></td>
            <td>{move || ago(now(), defender.last_seen_ms)}</td>
            <td>{defender.cluster_name().to_owned()}</td>
            <td><a href=format!("/defenders/{}", defender.id)>{format!("{}:{}", defender.family, defender.revision)}</a></td>
            <td class="mono">{defender.task_id().to_owned()}</td>
            <td>{defender.availability_zone.clone()}</td>
            <td>{defender.version.clone()}</td>
            <td title=images>{containers}</td>
            <td data-testid="processes">{defender.process_count}</td>
        </tr>
    }
}

#[component]
pub fn DefenderPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        })
    };
    let (refresh, since_fetch) = ticking_clock();
    let detail = Resource::new(
        move || (id(), refresh.get()),
        move |(id, _)| async move {
            let result = get_defender(id).await;
            since_fetch.set(0);
            result
        },
    );
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <section class="defender" data-hydrated=move || hydrated.get().to_string()>
            <p><a href="/defenders">"← Defenders"</a></p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || detail.get().map(|result| match result {
                    Err(error) => view! { <p class="error" role="alert">{crate::api::error_text(&error)}</p> }.into_any(),
                    Ok(detail) => {
                        let now = move || detail.now_ms + since_fetch.get();
                        let defender = detail.defender.clone();
                        let status = defender.clone();
                        view! {
                            <header class="page-header">
                                <h1>{format!("{}:{}", defender.family, defender.revision)}" "<span class=format!("badge status-{}", defender.status.as_str())>{defender.status.as_str()}</span></h1>
                                <p class="muted" data-testid="since">{move || status_cell(&status, now())}</p>
                            </header>
                            <dl class="identity">
                                <dt>"Task"</dt><dd class="mono">{defender.task_arn.clone()}</dd>
                                <dt>"Cluster"</dt><dd>{defender.cluster.clone()}</dd>
                                <dt>"Availability zone"</dt><dd>{defender.availability_zone.clone()}</dd>
                                <dt>"Launch type"</dt><dd>{defender.launch_type.clone()}</dd>
                                <dt>"Defender"</dt><dd>{format!("{} ({} mode)", defender.version, defender.mode)}</dd>
                                <dt>"First seen"</dt><dd>{move || ago(now(), defender.first_seen_ms)}</dd>
                                <dt>"Last seen"</dt><dd>{move || ago(now(), defender.last_seen_ms)}</dd>
                                <dt>"Processes"</dt><dd data-testid="processes">{defender.process_count}</dd>
                                {(defender.dropped_events > 0).then(|| view! {
                                    <dt>"Events lost"</dt><dd class="error">{format!("{} (the console was away longer than the defender's buffer)", defender.dropped_events)}</dd>
                                })}
                            </dl>
                            <h2>"Containers"</h2>
                            <table class="grid">
                                <thead><tr><th>"Name"</th><th>"Image"</th></tr></thead>
                                <tbody>
                                    {defender.containers.iter().map(|c| view! { <tr><td>{c.name.clone()}</td><td class="mono">{c.image.clone()}</td></tr> }).collect_view()}
                                </tbody>
                            </table>
                            <h2>"Process timeline"</h2>
                            <Timeline events=detail.events.clone() family=defender.family.clone() now/>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

/// How many alerts the timeline shows, with the way to the family's incidents.
#[component]
fn TimelineAlerts(
    events: Vec<crate::api::defenders::DefenderEventView>,
    family: String,
) -> impl IntoView {
    let alerts = events.iter().filter(|event| event.kind == "alert").count();
    (alerts > 0).then(|| {
        view! {
            <p class="warning" data-testid="timeline-alerts">
                {format!("{alerts} alerts on this timeline (marked below): ")}
                <a href=format!("/incidents?family={family}")>"see the family's incidents"</a>
            </p>
        }
    })
}

/// The process timeline, newest first, each row anchored (`#event-SEQ`) and alerts marked.
#[component]
fn Timeline(
    events: Vec<crate::api::defenders::DefenderEventView>,
    family: String,
    now: impl Fn() -> i64 + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let incidents = format!("/incidents?family={family}");
    view! {
        <TimelineAlerts events=events.clone() family/>
        <table class="grid timeline" data-testid="timeline">
            <thead><tr><th class="when">"When"</th><th class="container">"Container"</th><th class="pid">"PID"</th><th>"What"</th></tr></thead>
            <tbody>
                {events.into_iter().map(|event| {
                    let at = event.at_ms;
                    let alert = event.kind == "alert";
                    let incidents = incidents.clone();
                    view! {
                        <tr class=format!("event {}", event.kind) id=format!("event-{}", event.seq)>
                            <td>{move || ago(now(), at)}</td>
                            <td>{event.container.clone().unwrap_or_default()}</td>
                            <td class="mono">{event.pid.map(|pid| pid.to_string()).unwrap_or_default()}</td>
                            <td class="mono what">
                                {alert.then(|| view! { <a class="badge alert-mark" data-testid="alert-mark" href=incidents title="this family's incidents">"alert"</a>" " })}
                                {event.summary.clone()}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
