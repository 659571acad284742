//! The server functions and the plain data they exchange with the browser, one module per page.
//! The view types are strings, numbers and small enums, so the wasm bundle needs neither the
//! console crate nor the task-definition crate; those the REST API and the CLI share live in
//! `palisade-types` (re-exported here), and the console converts its domain types into them
//! (`palisade_console::views`). Server functions are thin: they call the console and map its error in
//! one place ([`server_error`]). Their URLs are fixed (`endpoint = ...`), the same in every build.

pub mod admin;
pub mod defenders;
pub mod incidents;
pub mod models;
pub mod protect;
pub mod revisions;
pub mod session;
pub mod settings;

use leptos::prelude::*;

/// A server function's error as the user should read it: the server's own message, without the
/// "error running server function" prefix.
pub fn error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The console, from the server functions' context.
#[cfg(feature = "ssr")]
fn console() -> Result<palisade_console::Console, ServerFnError> {
    use_context::<palisade_console::Console>()
        .ok_or_else(|| ServerFnError::new("the server functions run without a console"))
}

/// Who is behind the request being served (the server's middleware put them in its extensions).
#[cfg(feature = "ssr")]
pub(crate) fn principal() -> Option<palisade_console::auth::Principal> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<palisade_console::auth::Principal>()
        .cloned()
}

/// How much of what operators wrote the caller may see (viewers: no secrets).
#[cfg(feature = "ssr")]
pub(crate) fn disclosure() -> palisade_console::redact::Disclosure {
    palisade_console::redact::Disclosure::for_principal(principal().as_ref())
}

/// The client's address, for the audit log.
#[cfg(feature = "ssr")]
pub(crate) fn client_address() -> String {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<palisade_console::auth::ClientAddress>()
                .cloned()
        })
        .map(|address| address.0)
        .unwrap_or_default()
}

/// The console for server function `F`, once its caller is allowed to call it by the access table
/// (`crate::access`). Every server function starts here: a page rendered on the server calls its
/// server functions in-process, past the HTTP middleware.
#[cfg(feature = "ssr")]
pub(crate) fn console_for<F: leptos::server_fn::ServerFn>(
) -> Result<palisade_console::Console, ServerFnError> {
    crate::access::check(principal().as_ref(), "POST", F::PATH)
        .map_err(|refusal| ServerFnError::new(refusal.to_string()))?;
    console()
}

/// Who is calling the server function being served, and from where: what the console's
/// use-cases take (and audit).
#[cfg(feature = "ssr")]
pub(crate) fn actor() -> palisade_console::Actor {
    palisade_console::Actor::remote(principal(), client_address())
}

/// The one place a console error becomes a server function's error: the caller's to fix errors
/// say what to do, with the status the REST API would answer (a refusal is a 4xx, not a 500); an
/// internal one is logged with an id and answered without its detail.
#[cfg(feature = "ssr")]
pub(crate) fn server_error(error: palisade_console::Error) -> ServerFnError {
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(error.http_status()),
    ) {
        response.set_status(status);
    }
    ServerFnError::new(error.public_message())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use leptos::server_fn::ServerFn;

    #[test]
    fn server_functions_have_fixed_urls() {
        // Fixed URLs keep a page built by one checkout talking to a server built by another.
        let paths = [
            <session::Whoami as ServerFn>::PATH,
            <session::SignInOptionsFn as ServerFn>::PATH,
            <admin::ListApiTokens as ServerFn>::PATH,
            <admin::CreateApiToken as ServerFn>::PATH,
            <admin::RevokeApiToken as ServerFn>::PATH,
            <admin::ListUsers as ServerFn>::PATH,
            <admin::AddUser as ServerFn>::PATH,
            <admin::RemoveUser as ServerFn>::PATH,
            <admin::ListAudit as ServerFn>::PATH,
            <protect::Generate as ServerFn>::PATH,
            <protect::RecentGenerations as ServerFn>::PATH,
            <protect::TokenDefault as ServerFn>::PATH,
            <protect::LoadGeneration as ServerFn>::PATH,
            <revisions::RegisterGeneration as ServerFn>::PATH,
            <revisions::ListRegistrations as ServerFn>::PATH,
            <revisions::EcsFamilies as ServerFn>::PATH,
            <revisions::EcsRevisions as ServerFn>::PATH,
            <revisions::EcsImport as ServerFn>::PATH,
            <settings::GetEcsSettings as ServerFn>::PATH,
            <settings::SaveEcsSettings as ServerFn>::PATH,
            <settings::ListRegistries as ServerFn>::PATH,
            <settings::SaveRegistry as ServerFn>::PATH,
            <settings::RemoveRegistry as ServerFn>::PATH,
            <settings::ListTokens as ServerFn>::PATH,
            <settings::CreateToken as ServerFn>::PATH,
            <settings::RevokeToken as ServerFn>::PATH,
            <defenders::ListDefenders as ServerFn>::PATH,
            <defenders::GetDefender as ServerFn>::PATH,
            <incidents::ListIncidents as ServerFn>::PATH,
            <incidents::GetIncident as ServerFn>::PATH,
            <incidents::IncidentCounts as ServerFn>::PATH,
            <incidents::SetIncidentState as ServerFn>::PATH,
            <incidents::MarkNormal as ServerFn>::PATH,
            <incidents::ListRules as ServerFn>::PATH,
            <models::ListFamilies as ServerFn>::PATH,
            <models::GetFamily as ServerFn>::PATH,
            <models::SavePolicy as ServerFn>::PATH,
            <models::RelearnModel as ServerFn>::PATH,
            <models::ExtendLearning as ServerFn>::PATH,
        ];
        for path in paths {
            let name = path.strip_prefix("/api/").unwrap_or(path);
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{path} is not a fixed, readable URL"
            );
            assert!(
                crate::access::access("POST", path).is_some(),
                "{path} has no access rule"
            );
        }
        let mut unique = paths.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            paths.len(),
            "two server functions share a URL"
        );
    }
}
