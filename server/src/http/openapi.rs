//! The REST API's OpenAPI 3.1 document (`GET /api/v1/openapi.json`): what the whole API shares
//! (title, the bearer scheme, the error body). The paths are not listed here: each route's
//! `#[utoipa::path]` adds its own as the route is registered (`Routes::add` in `http/mod.rs`). A
//! test holds the document to the access table both ways and schemathesis checks a live console
//! against it.

use super::error::ErrorBody;
use axum::{Extension, Json};
use std::sync::Arc;
use utoipa::openapi::path::PathItem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// `Authorization: Bearer <pipeline token>` (or the session cookie of a signed-in browser).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document before any route is added.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palisade console",
        description = "Protect ECS task definitions, register them, manage defenders, tokens, people and settings. Every route but /api/v1/health needs a pipeline token (Authorization: Bearer plt_...) or a signed-in session."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The methods a path item has operations for, as the access table writes them.
pub fn methods(item: &PathItem) -> impl Iterator<Item = &'static str> + '_ {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("OPTIONS", &item.options),
        ("HEAD", &item.head),
        ("PATCH", &item.patch),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter(|(_, operation)| operation.is_some())
    .map(|(method, _)| method)
}

/// The document itself: built once, from the routes, when the router is.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses(
        // The OpenAPI 3.1 meta-schema is not restated here: a generic object.
        (status = 200, description = "this document", body = Object),
        super::error::Guarded,
    ))]
pub async fn document(
    Extension(document): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(utoipa::openapi::OpenApi::clone(&document))
}
