//! The API's error shape, `{"error": "...", "problems": [...]}` ([`ErrorBody`]), the one place a
//! console error gets its HTTP status, and the error answers routes document (declared once here,
//! named by each route's `#[utoipa::path]`). Internal causes are logged with an id, never sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_console::Error;
use palisade_taskdef::Problem;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// Every error answer: a message in words a user can act on, and for a refused task definition
/// each problem with its JSON pointer or line and column (empty otherwise).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub problems: Vec<Problem>,
}

impl ErrorBody {
    /// An error with a message and no task-definition problems.
    pub fn message(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            problems: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// The request itself is malformed (not JSON, wrong shape, unknown query words, too large).
    Malformed { status: StatusCode, message: String },
    /// What the console answered.
    Console(Error),
}

impl ApiError {
    /// A malformed request: 400 with `message`.
    pub fn malformed(message: impl std::fmt::Display) -> Self {
        ApiError::Malformed {
            status: StatusCode::BAD_REQUEST,
            message: message.to_string(),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed { status, .. } => *status,
            ApiError::Console(error) => StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match &self {
            ApiError::Malformed { message, .. } => ErrorBody::message(message.clone()),
            ApiError::Console(error) => ErrorBody {
                error: error.public_message(),
                problems: error.problems().to_vec(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Console(Error::Busy { retry_after, .. }) = &self {
            if let Ok(value) = retry_after.as_secs().max(1).to_string().parse() {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Console(error)
    }
}

impl From<palisade_console::auth::UnknownRole> for ApiError {
    fn from(unknown: palisade_console::auth::UnknownRole) -> Self {
        ApiError::Console(unknown.into())
    }
}

impl From<palisade_taskdef::Rejected> for ApiError {
    fn from(rejected: palisade_taskdef::Rejected) -> Self {
        ApiError::Console(rejected.into())
    }
}

/// `Json` whose rejections (bad JSON, wrong content type, body too large) use [`ApiError`]'s shape,
/// and which takes only a JSON object: serde would otherwise fill a request struct from an array
/// (`[null, null]` read as both fields unset), which no client means.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError::Malformed {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: "the body must be a JSON object".into(),
            });
        }
        serde_path_to_error::deserialize(value)
            .map(AppJson)
            .map_err(|error| ApiError::Malformed {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!(
                    "the body does not fit the request at {}: {}",
                    json_pointer(error.path()),
                    error.inner()
                ),
            })
    }
}

/// serde's path to a refused value as a JSON pointer (`/options/profile/collector`).
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } => pointer.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => pointer.push_str(variant),
            Segment::Unknown => pointer.push('?'),
        }
    }
    if pointer.is_empty() {
        pointer.push('/');
    }
    pointer
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::Malformed {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

/// `Query` whose rejections use [`ApiError`]'s shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `Path` whose rejections (a segment that is not the number the route takes) use [`ApiError`]'s
/// shape: JSON like every other answer of the API, not axum's plain text.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Malformed {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Malformed {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

// The error answers as routes document them: each route's `responses(...)` names the ones it can
// give, so a description is written once here, not pasted into every route. Only documentation:
// the answers themselves are written by `ApiError` (and the guard), always as an `ErrorBody`.

/// 401 and 403: what the guard answers before any handler of a route that needs a role runs.
#[derive(IntoResponses)]
pub enum Guarded {
    #[response(status = 401, description = "no valid pipeline token or session")]
    SignInFirst(ErrorBody),
    #[response(status = 403, description = "the caller's role may not do this")]
    NotAllowed(ErrorBody),
}

/// A route that takes a JSON body: what `AppJson` answers when the body is not that JSON, and the
/// console's refusal of what it says.
#[derive(IntoResponses)]
pub enum BodyRefused {
    #[response(
        status = 400,
        description = "the body is not the JSON this route takes"
    )]
    Malformed(ErrorBody),
    #[response(status = 415, description = "the body is not sent as application/json")]
    NotJson(ErrorBody),
    #[response(
        status = 422,
        description = "refused: the message (and problems) say how to fix it"
    )]
    Refused(ErrorBody),
}

/// A path segment or query parameter that is not one the route takes.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "the path or query is not one this route takes"
)]
pub struct BadRequest(pub ErrorBody);

#[derive(IntoResponses)]
#[response(status = 404, description = "no such item")]
pub struct NotFound(pub ErrorBody);

/// What a route without a body refuses (a path naming something that cannot exist).
#[derive(IntoResponses)]
#[response(status = 422, description = "refused: the message says how to fix it")]
pub struct Refused(pub ErrorBody);

#[derive(IntoResponses)]
#[response(status = 409, description = "conflicts with the current state")]
pub struct Conflict(pub ErrorBody);

#[derive(IntoResponses)]
#[response(
    status = 502,
    description = "an upstream (AWS, a registry) refused or could not be reached"
)]
pub struct Upstream(pub ErrorBody);
