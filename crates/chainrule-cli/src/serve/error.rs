//! Errors as JSON: every refused request gets a 4xx status and
//! `{"error": "...", "setting": "..."}` naming the problem.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A request the server refuses, or a failure it reports.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The query parameter (or part of the request) at fault, if any.
    pub setting: Option<String>,
    pub message: String,
}

impl ApiError {
    /// A 400 about `setting`.
    pub fn bad(setting: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            setting: Some(setting.to_string()),
            message: message.into(),
        }
    }
}

impl From<chainrule_nn::Error> for ApiError {
    fn from(e: chainrule_nn::Error) -> ApiError {
        let setting = match &e {
            chainrule_nn::Error::Config { setting, .. } => Some(setting.to_string()),
            _ => None,
        };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            setting,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.message,
            "setting": self.setting,
            "status": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// 404 for any address the server does not serve.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        setting: None,
        message: format!("no page or API at {}", uri.path()),
    }
}
