//! The left navigation rail.

use crate::api::defenders::{list_defenders, DefenderFilter};
use leptos::prelude::*;
use leptos_router::components::A;
use std::time::Duration;

/// Navigation between the console's pages; only pages that exist are listed.
#[component]
pub fn NavRail() -> impl IntoView {
    view! {
        <nav class="rail" aria-label="Main">
            <div class="brand">"Palisade"</div>
            <ConsoleHealth/>
            <A href="/">"Protect"</A>
            <A href="/defenders">"Defenders"</A>
            <A href="/revisions">"Revisions"</A>
            <A href="/settings">"Settings"</A>
        </nav>
    }
}

/// "3 / 4 defenders connected", always in sight, refreshed every 5 s.
#[component]
fn ConsoleHealth() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    crate::components::every(Duration::from_secs(5), move || {
        refresh.update(|n| *n = n.wrapping_add(1))
    });
    let counts = Resource::new(
        move || refresh.get(),
        |_| {
            list_defenders(DefenderFilter {
                per_page: 1,
                ..DefenderFilter::default()
            })
        },
    );
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
