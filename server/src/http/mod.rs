//! The HTTP side, on two listeners. The people's listener (`PALISADE_ADDR`): the pages and server
//! functions (Leptos), the REST API (`api`, `defenders`, `runtime`, `admin`, `session`), each request through
//! the checks in `guard` and with security headers. The defenders' listener
//! (`PALISADE_DEFENDER_ADDR`): the defender channel (`channel`) and nothing else. Either may
//! speak TLS (`tls`).

pub mod admin;
pub mod api;
pub mod channel;
pub mod defenders;
pub mod error;
pub mod guard;
pub mod listen;
pub mod oidc;
pub mod openapi;
pub mod runtime;
pub mod session;
pub mod tls;

use crate::Config;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts};
use axum::handler::Handler;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::routing::{on, MethodFilter};
use axum::{Extension, Router};
use guard::Guard;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use palisade_app::api::session::SignInOptions;
use palisade_app::{shell, App, OUTPUT_NAME};
use palisade_console::auth::{ClientAddress, Principal};
use palisade_console::defenders::DefenderSettings;
use palisade_console::{Actor, Console};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// The longest a request's body may take to arrive.
const REQUEST_BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub console: Console,
    pub defenders: DefenderSettings,
    pub live: channel::Live,
    /// The defenders' writes (events, heartbeats, disconnections), batched.
    pub recorder: palisade_console::defenders::recorder::Recorder,
    pub guard: Arc<Guard>,
    /// Single sign-on, when configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    pub stopping: Stopping,
    /// The dashboards' open change streams, bounded per caller and in all.
    pub streams: Arc<defenders::OpenStreams>,
    /// What every defender socket's unfinished messages may hold together.
    pub message_bytes: Arc<listen::BytePool>,
}

/// Becomes true when the console starts stopping: long-lived answers (the dashboards' event
/// streams) end then, or the graceful shutdown would wait on them forever.
#[derive(Clone)]
pub struct Stopping(pub tokio::sync::watch::Receiver<bool>);

/// Who is calling a REST handler, and from where: the [`Actor`] the console's use-cases take.
pub struct Caller(pub Actor);

impl std::ops::Deref for Caller {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned();
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .map(|address| address.0.clone())
            .unwrap_or_default();
        Ok(Caller(Actor::remote(principal, address)))
    }
}

/// The REST routes, each added once with `routes!(handler)`: its method and path come from the
/// handler's `#[utoipa::path]`, which also makes its entry in the OpenAPI document, so the router
/// and the document cannot disagree. Each is checked against the access table as it is added: a
/// route without a rule stops the console at start (and every test with it), instead of being
/// open or silently refused.
pub struct Routes(OpenApiRouter<AppState>);

impl Routes {
    fn new() -> Self {
        Routes(OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()))
    }

    /// A documented REST route (`routes!(handler)`).
    pub fn route(self, route: UtoipaMethodRouter<AppState>) -> Self {
        for (path, item) in &route.1.paths {
            for method in openapi::methods(item) {
                assert_has_rule(method, path);
            }
        }
        Routes(self.0.routes(route))
    }

    /// A route outside the REST API (the sign-in page's plain forms, single sign-on's redirects):
    /// not in the document, but under the same access table.
    fn route_undocumented<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert_has_rule(method.as_str(), path);
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} is not a routable method"));
        Routes(self.0.route(path, on(filter, handler)))
    }

    /// The router, and the document it serves at `GET /api/v1/openapi.json`.
    fn into_router(self) -> Router<AppState> {
        let (router, document) = self.0.split_for_parts();
        router.layer(Extension(Arc::new(document)))
    }
}

fn assert_has_rule(method: &str, path: &str) {
    assert!(
        palisade_app::access::access(method, path).is_some(),
        "{method} {path} has no rule in palisade_app::access::RULES"
    );
}

/// What every handler can reach, for a console serving people at `addr`.
fn app_state(
    config: &Config,
    console: Console,
    addr: std::net::SocketAddr,
    jobs: &palisade_console::jobs::Jobs,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<AppState> {
    let leptos_options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    Ok(AppState {
        leptos_options,
        guard: guard_of(config, &console),
        oidc: single_sign_on(config)?,
        console,
        defenders: config.defenders.clone(),
        live: channel::Live::default(),
        recorder: jobs.recorder().clone(),
        stopping: Stopping(stopped),
        streams: Arc::default(),
        message_bytes: listen::BytePool::new(channel::ALL_MESSAGE_BYTES),
    })
}

/// The checks every request of the people's listener goes through, as `config` sets them.
fn guard_of(config: &Config, console: &Console) -> Arc<Guard> {
    let public_url = config.public_url.as_ref();
    Arc::new(Guard {
        console: console.clone(),
        sessions: config.sessions,
        public_host: public_url.and_then(|url| url.host_str().map(str::to_ascii_lowercase)),
        public_origin: public_url.map(|url| url.origin().ascii_serialization()),
        https: config.https(),
        trusted_proxies: config.trusted_proxies.clone(),
    })
}

/// Single sign-on, when configured (it needs the public URL the provider sends people back to).
fn single_sign_on(config: &Config) -> anyhow::Result<Option<Arc<oidc::Oidc>>> {
    match (&config.oidc, config.public_url.as_ref()) {
        (Some(settings), Some(public_url)) => Ok(Some(Arc::new(oidc::Oidc::new(
            settings.clone(),
            public_url,
        )?))),
        (Some(_), None) => anyhow::bail!("single sign-on needs PALISADE_PUBLIC_URL"),
        (None, _) => Ok(None),
    }
}

/// The people's listener: REST API, sign-in, server functions, pages and static files.
pub fn people_router(state: AppState, sign_in: SignInOptions) -> Router {
    let routes = generate_route_list(App);
    every_page_and_server_function_has_a_rule(&routes);
    let rest = [
        api::routes,
        defenders::routes,
        runtime::routes,
        admin::routes,
        session::routes,
    ]
    .into_iter()
    .fold(Routes::new(), |routes, add| add(routes))
    .route(routes!(openapi::document))
    .route_undocumented(Method::POST, "/auth/sign-in", session::form_sign_in)
    .route_undocumented(Method::POST, "/auth/sign-out", session::form_sign_out)
    .route_undocumented(Method::GET, "/auth/oidc/start", oidc::start)
    .route_undocumented(Method::GET, "/auth/oidc/callback", oidc::callback);
    let console = state.console.clone();
    let leptos_options = state.leptos_options.clone();
    let guard = state.guard.clone();
    let https = guard.https;
    let router = rest
        .into_router()
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(console.clone());
                provide_context(sign_in);
            },
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .route_layer(axum::middleware::from_fn(guard::authorize))
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        // A body trickled a byte at a time keeps a connection busy, not idle: it gets this long
        // in all (a megabyte takes well under a second on any link a person uses).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            REQUEST_BODY_DEADLINE,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            guard::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            guard::check_host,
        ));
    with_security_headers(router, https)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A page or server function without a rule in the access table stops the console at start
/// (and every test with it), instead of being open or silently refused.
fn every_page_and_server_function_has_a_rule(routes: &[leptos_axum::AxumRouteListing]) {
    for page in routes {
        assert!(
            palisade_app::access::access("GET", page.path()).is_some(),
            "page {} has no rule in palisade_app::access::RULES",
            page.path()
        );
    }
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        assert!(
            palisade_app::access::access("POST", path).is_some(),
            "server function {path} has no rule in palisade_app::access::RULES"
        );
    }
}

/// The headers every answer of the people's listener carries: a content security policy (a
/// page's own, else the default), no sniffing, no framing, same-origin referrers, and HSTS
/// under HTTPS.
fn with_security_headers(router: Router<AppState>, https: bool) -> Router<AppState> {
    let default_policy =
        HeaderValue::from_str(&palisade_app::security::content_security_policy(None))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            default_policy,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            STRICT_TRANSPORT_SECURITY,
            https.then(|| HeaderValue::from_static("max-age=31536000")),
        ))
}

/// The defenders' listener: the channel, and 404 for everything else.
pub fn defender_router(state: AppState) -> Router {
    Router::new()
        .route(
            palisade_protocol::CONNECT_PATH,
            axum::routing::get(channel::connect),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The two listeners the console serves on, bound by the caller (tests bind `127.0.0.1:0`).
pub struct Listeners {
    pub people: TcpListener,
    pub defenders: TcpListener,
}

/// Serves the console on both listeners until `shutdown` completes.
pub async fn serve(
    listeners: Listeners,
    config: &Config,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let console = console.with_deployment(config.deployment.clone());
    let addr = listeners.people.local_addr()?;
    let defender_addr = listeners.defenders.local_addr()?;
    let tls = match &config.tls {
        Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let jobs = console.start_jobs(palisade_console::jobs::JobSettings {
        defenders: config.defenders.clone(),
        generation_retention: config.generation_retention,
    });
    // One shutdown signal for both listeners and the event streams.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let state = app_state(config, console, addr, &jobs, stopped.clone())?;
    let sign_in = SignInOptions {
        sso: config.oidc.is_some(),
    };
    let revocations = tokio::spawn(channel::close_revoked_forever(state.clone()));
    let live = state.live.clone();
    let console = state.console.clone();
    let people = people_router(state.clone(), sign_in);
    let defenders = defender_router(state);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, "people and pipelines reach the console at {scheme}://{addr}");
    tracing::info!(%defender_addr, "defenders connect to {scheme}://{defender_addr}");
    let people = listen::serve(
        listeners.people,
        tls.clone(),
        people,
        config.people_limits.clone(),
        stopped.clone(),
    );
    let defenders = listen::serve(
        listeners.defenders,
        tls,
        defenders,
        config.defender_limits(),
        stopped,
    );
    let both = async { tokio::try_join!(people, defenders) };
    tokio::pin!(both);
    tokio::select! {
        result = &mut both => { result?; }
        () = shutdown => {
            // In-flight requests finish (graceful shutdown); defenders are told the console is
            // going away, with a close frame, and reconnect to the next one.
            let _ = stop.send(true);
            // CPU work on requests stops now: graceful shutdown never waits on it.
            console.heavy_work().stop();
            live.close_all("the console is stopping");
            // Upgraded sockets outlive the listeners: the process waits (a few seconds at most)
            // until each has sent its close frame, or defenders would see a cut connection.
            let (served, ()) = tokio::join!(&mut both, live.drained(std::time::Duration::from_secs(5)));
            served?;
        }
    }
    // The last heartbeats and disconnections reach the database before the process ends, and
    // when credentials were last used.
    jobs.stop().await;
    revocations.abort();
    Ok(())
}
