//! The left navigation rail.

use crate::api::defenders::{list_defenders, DefenderFilter};
use crate::api::session::{MeResource, Role};
use leptos::prelude::*;
use leptos_router::components::A;

/// Navigation between the console's pages (only those the role may open), who is signed in, and
/// sign-out. Before sign-in, only the brand.
#[component]
pub fn NavRail() -> impl IntoView {
    let me = expect_context::<MeResource>();
    // Created here, unconditionally: resources are matched to the server's data in the order they
    // are created, so none may be created later on one side than on the other.
    let health = console_health();
    let incidents = open_incidents();
    view! {
        <nav class="rail" aria-label="Main">
            <div class="brand">"Palisade"</div>
            // Beside, not inside, the signed-in part: one suspense boundary may not hold another.
            <ConsoleHealth counts=health/>
            <OpenIncidents counts=incidents/>
            <Transition fallback=|| ()>
                {move || me.get().and_then(Result::ok).flatten().map(|me| {
                    let admin = me.may(Role::Admin);
                    view! {
                        <A href="/">"Protect"</A>
                        <A href="/defenders">"Defenders"</A>
                        <A href="/incidents">"Incidents"</A>
                        <A href="/models">"Models"</A>
                        <A href="/revisions">"Revisions"</A>
                        {admin.then(|| view! {
                            <A href="/settings">"Settings"</A>
                            <A href="/audit">"Audit"</A>
                        })}
                        <div class="who">
                            <span data-testid="who">{me.name.clone()}</span>
                            " "<span class="muted" data-testid="role">{me.role.as_str()}</span>
                        </div>
                        // A plain form: signing out works before the wasm arrives, and the server
                        // checks its origin like every other state change.
                        <form method="post" action="/auth/sign-out" class="sign-out">
                            <button type="submit" data-testid="sign-out">"Sign out"</button>
                        </form>
                    }
                })}
            </Transition>
        </nav>
    }
}

type Counts = Resource<Result<crate::api::defenders::DefenderList, ServerFnError>>;

/// The defender counts, asked again when the console pushes a change.
fn console_health() -> Counts {
    let refresh = crate::components::defender_changes();
    Resource::new(
        move || refresh.get(),
        |_| {
            list_defenders(DefenderFilter {
                per_page: 1,
                ..DefenderFilter::default()
            })
        },
    )
}

/// "3 / 4 defenders connected", always in sight.
#[component]
fn ConsoleHealth(counts: Counts) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || counts.get().and_then(Result::ok).map(|list| view! {
                <a class="health" href="/defenders" data-testid="console-health" title="defenders connected / known">
                    {format!("{} / {} defenders connected", list.connected, list.connected + list.disconnected)}
                </a>
            })}
        </Transition>
    }
}

type IncidentCounts = Resource<Result<crate::api::incidents::IncidentCountsView, ServerFnError>>;

/// The open incidents, asked again when the console pushes a change.
fn open_incidents() -> IncidentCounts {
    let refresh = crate::components::defender_changes();
    Resource::new(
        move || refresh.get(),
        |_| crate::api::incidents::incident_counts(),
    )
}

/// "2 open incidents (14 alerts)", always in sight.
#[component]
fn OpenIncidents(counts: IncidentCounts) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || counts.get().and_then(Result::ok).map(|counts| view! {
                <a class={if counts.open > 0 { "health alerting" } else { "health" }} href="/incidents?state=open" data-testid="open-incidents" title="open incidents (their alerts)">
                    {format!("{} open incidents ({} alerts)", counts.open, counts.open_alerts)}
                </a>
            })}
        </Transition>
    }
}
