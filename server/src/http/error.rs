//! The API's error shape: `{"error": "...", "problems": [...]}` with a fitting status. Internal
//! causes are logged, never sent.

use axum::extract::rejection::JsonRejection;
use axum::extract::FromRequest;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_taskdef::{Problem, Rejected};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The task definition (or the options) cannot be protected: 422 with every problem.
    #[error("the task definition was not protected")]
    Rejected(Rejected),
    /// The request itself is malformed (not JSON, wrong shape, too large).
    #[error("{message}")]
    BadRequest { status: StatusCode, message: String },
    #[error("not found")]
    NotFound,
    /// Anything else: logged, answered with a generic 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { status, .. } => *status,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let problems: Vec<Problem> = match &self {
            ApiError::Rejected(rejected) => rejected.problems.clone(),
            _ => Vec::new(),
        };
        let message = match &self {
            ApiError::Internal(error) => {
                tracing::error!(error = ?error, "request failed");
                "internal error; see the console's log".to_owned()
            }
            other => other.to_string(),
        };
        (
            status,
            Json(json!({ "error": message, "problems": problems })),
        )
            .into_response()
    }
}

impl From<Rejected> for ApiError {
    fn from(rejected: Rejected) -> Self {
        ApiError::Rejected(rejected)
    }
}

/// `Json` whose rejections (bad JSON, wrong content type, body too large) use [`ApiError`]'s shape.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadRequest {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}
