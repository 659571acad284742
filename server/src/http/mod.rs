//! The HTTP side: one router per area (`api` for the console's REST API, `defenders` for the
//! defenders' REST endpoints and their WebSocket channel, Leptos for pages and server functions),
//! merged here and served on a listener the caller bound.

pub mod api;
pub mod channel;
pub mod defenders;
pub mod error;

use crate::Config;
use axum::extract::FromRef;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use palisade_app::{shell, App, OUTPUT_NAME};
use palisade_console::defenders::DefenderSettings;
use palisade_console::Console;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub console: Console,
    pub defenders: DefenderSettings,
    pub live: channel::Live,
}

/// The whole app: REST API, server functions, pages and static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let console = state.console.clone();
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .nest(
            "/api/v1",
            api::router()
                .merge(defenders::router())
                .merge(channel::router()),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(console.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let leptos_options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let state = AppState {
        leptos_options,
        console,
        defenders: config.defenders.clone(),
        live: channel::Live::default(),
    };
    let sweeper = tokio::spawn(channel::sweep_forever(state.clone()));
    let app = router(state);
    tracing::info!(%addr, "the console listens on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    sweeper.abort();
    Ok(())
}
