//! The Palisade console UI (Leptos, server-rendered then hydrated): the page shell, the router,
//! pages under `routes/`, shared widgets under `components/`, and the server functions with their
//! view types under `api/`, one module per page. What the console does lives in `palisade-console`.

// Leptos view types nest deeply; the Protect page's exceeds the default limit of 128.
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod access;
pub mod api;
pub mod components;
pub mod format;
pub mod routes;
#[cfg(feature = "ssr")]
pub mod security;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The name the wasm bundle, the script and the stylesheet are served under (`/pkg/palisade.*`).
pub const OUTPUT_NAME: &str = "palisade";

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    security::send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Who is signed in, read once per page load and shared by every component.
    let me: api::session::MeResource = Resource::new(|| (), |_| api::session::whoami());
    provide_context(me);
    components::provide_defender_changes();
    view! {
        <Stylesheet id="palisade" href="/pkg/palisade.css"/>
        <Title text="Palisade"/>
        <Router>
            <div class="layout">
                <components::nav::NavRail/>
                <main class="content">
                    <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                        <Route path=path!("/") view=routes::protect::ProtectPage/>
                        <Route path=path!("/protect") view=routes::protect::ProtectPage/>
                        <Route path=path!("/defenders") view=routes::defenders::DefendersPage/>
                        <Route path=path!("/defenders/:id") view=routes::defenders::DefenderPage/>
                        <Route path=path!("/incidents") view=routes::incidents::IncidentsPage/>
                        <Route path=path!("/incidents/:id") view=routes::incidents::IncidentPage/>
                        <Route path=path!("/models") view=routes::models::ModelsPage/>
                        <Route path=path!("/models/:family") view=routes::models::ModelPage/>
                        <Route path=path!("/revisions") view=routes::revisions::RevisionsPage/>
                        <Route path=path!("/settings") view=routes::settings::SettingsPage/>
                        <Route path=path!("/audit") view=routes::audit::AuditPage/>
                        <Route path=path!("/sign-in") view=routes::sign_in::SignInPage/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// Entry point of the wasm bundle: attaches the app to the server-rendered HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
