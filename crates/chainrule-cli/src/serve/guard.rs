//! What every request passes through, before and after its handler:
//! - **same origin**: a server on loopback answers only requests addressed
//!   to a loopback name (`Host: 127.0.0.1:PORT`, `localhost:PORT`,
//!   `[::1]:PORT`), so a web page that rebinds its own name to 127.0.0.1
//!   cannot read it; and a request that changes something (any method but
//!   GET and HEAD) sent by a browser from another site (an `Origin` other
//!   than this server's) is refused, so a page the user visits cannot start,
//!   stop or feed runs;
//! - **JSON errors**: a refusal produced by the HTTP layer itself (a method
//!   a route does not take, a body over the limit, a malformed path or form)
//!   is rewritten as the `{"error", "setting", "status"}` object every
//!   handler's refusal is.

use super::error::ApiError;
use super::AppState;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether `host` (a `Host` header) names this machine's loopback on `port`.
fn loopback_host(host: &str, port: u16) -> bool {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host.eq_ignore_ascii_case(&format!("{name}:{port}")))
}

fn forbidden(message: String) -> Response {
    ApiError {
        status: StatusCode::FORBIDDEN,
        setting: None,
        message,
    }
    .into_response()
}

/// Refuses requests addressed to another host (on a loopback server) and
/// cross-site requests that change something.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if state.loopback_only && !loopback_host(&host, state.port) {
        return forbidden(format!(
            "this server answers requests to 127.0.0.1:{} or localhost:{} only, not to '{host}'",
            state.port, state.port
        ));
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    if changes {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                return forbidden(format!(
                    "a request from another site ({origin}) cannot change anything here"
                ));
            }
        }
    }
    next.run(req).await
}

/// Rewrites a 4xx or 5xx answer that is not JSON as the API's JSON error.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match to_bytes(response.into_body(), 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => match status {
            StatusCode::METHOD_NOT_ALLOWED => "this address does not take that method".into(),
            other => other.canonical_reason().unwrap_or("refused").to_string(),
        },
    };
    let mut out = ApiError {
        status,
        setting: None,
        message: text,
    }
    .into_response();
    *out.status_mut() = status;
    out
}
