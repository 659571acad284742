//! The left navigation rail.

use leptos::prelude::*;
use leptos_router::components::A;

/// Navigation between the console's pages; only pages that exist are listed.
#[component]
pub fn NavRail() -> impl IntoView {
    view! {
        <nav class="rail" aria-label="Main">
            <div class="brand">"Palisade"</div>
            <A href="/">"Protect"</A>
            <A href="/revisions">"Revisions"</A>
            <A href="/settings">"Settings"</A>
        </nav>
    }
}
