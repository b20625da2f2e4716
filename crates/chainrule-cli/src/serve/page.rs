//! The pages (`/explore`, `/train`, `/runs`, `/runs/RUN`, `/vanishing`) and their assets, embedded in the binary: plain HTML, CSS and
//! JavaScript with no build step, nothing loaded from the internet.

use super::AppState;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

/// Every page's head and navigation bar, `{{title}}` standing for its title.
const TOP_HTML: &str = include_str!("page/top.html");
const EXPLORE_HTML: &str = include_str!("page/explore.html");
const EXPLORE_JS: &str = include_str!("page/explore.js");
const STYLE_CSS: &str = include_str!("page/style.css");
const TRAIN_HTML: &str = include_str!("page/train.html");
const TRAIN_JS: &str = include_str!("page/train.js");
const RUNS_HTML: &str = include_str!("page/runs.html");
const RUN_HTML: &str = include_str!("page/run.html");
const RUN_JS: &str = include_str!("page/run.js");
const VANISHING_HTML: &str = include_str!("page/vanishing.html");
const VANISHING_JS: &str = include_str!("page/vanishing.js");

/// `/`, `/explore` and `/assets/…`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/explore?example=2") }))
        .route("/explore", get(|| async { page("explorer", EXPLORE_HTML) }))
        .route(
            "/assets/explore.js",
            get(|| async { asset("text/javascript", EXPLORE_JS) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css", STYLE_CSS) }),
        )
        .route("/train", get(|| async { page("train", TRAIN_HTML) }))
        .route("/runs", get(|| async { page("runs", RUNS_HTML) }))
        .route("/runs/{name}", get(|| async { page("run", RUN_HTML) }))
        .route(
            "/assets/train.js",
            get(|| async { asset("text/javascript", TRAIN_JS) }),
        )
        .route(
            "/assets/run.js",
            get(|| async { asset("text/javascript", RUN_JS) }),
        )
        .route(
            "/vanishing",
            get(|| async { page("vanishing gradients", VANISHING_HTML) }),
        )
        .route(
            "/assets/vanishing.js",
            get(|| async { asset("text/javascript", VANISHING_JS) }),
        )
}

/// A page: the shared head and navigation (titled `title`), then `body`
/// (the page's own `<main>` and script).
fn page(title: &str, body: &str) -> Html<String> {
    Html(TOP_HTML.replacen("{{title}}", title, 1) + body)
}

/// An embedded file with its content type.
pub fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
