//! `chainrule serve`: a local web server with the explorer (`/explore`),
//! which steps through every forward and backward number of an expression
//! or a small network in the browser, and its JSON API (`/api/explore`).
//!
//! axum on a tokio runtime: the page and its assets are embedded in the
//! binary ([`page`]); the numbers come from the same trace as `chainrule
//! explain --format json` ([`explore`]); requests are bounded ([`limits`]);
//! every bad request is a 4xx JSON error ([`error`]). See `docs/serve.md`.

mod check;
mod error;
mod explore;
mod guard;
mod limits;
mod live;
mod page;
mod query;
mod replay;
mod runs;
mod train_form;
mod training;
mod vanishing;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use chainrule_nn::{Error, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// The port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to bind: 127.0.0.1 (this machine only) unless you mean
    /// to let other machines in.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The runs folder the server may read (and start runs in).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

/// Everything a request handler may need.
#[derive(Clone)]
pub struct AppState {
    /// The runs folder, canonical; no URL reaches outside it.
    pub runs: PathBuf,
    /// The port this server listens on (runs it starts stream to it).
    pub port: u16,
    /// Runs streaming to this server.
    pub live: Arc<live::Live>,
    /// Runs this server started.
    pub jobs: Arc<training::Jobs>,
    /// Whether the server listens on loopback only, and so answers only
    /// requests addressed to a loopback name ([`guard::same_origin`]).
    pub loopback_only: bool,
}

impl AppState {
    /// The state of a server on `port` with the runs folder `runs` (canonical).
    pub fn new(runs: PathBuf, port: u16) -> AppState {
        AppState {
            runs,
            port,
            live: Arc::default(),
            jobs: Arc::default(),
            loopback_only: true,
        }
    }
}

/// The routes of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(page::routes())
        .route("/api/explore", get(explore::api))
        .route("/api/vanishing", get(vanishing::api))
        .route("/api/train", post(training::start))
        .route("/api/runs", get(training::list))
        .route("/api/runs/{name}", get(training::one))
        .route("/api/runs/{name}/stop", post(training::stop))
        .route("/api/runs/{name}/events", get(live::events))
        .route("/api/live/{name}", post(live::ingest))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(limits::MAX_BODY))
        .layer(axum::middleware::from_fn(guard::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin,
        ))
        .with_state(state)
}

pub fn run(args: &Args) -> Result<()> {
    let runs = args.runs.clone();
    std::fs::create_dir_all(&runs).map_err(|e| {
        Error::config(
            "runs",
            format!("cannot create the runs folder {}: {e}", runs.display()),
        )
    })?;
    let runs = runs
        .canonicalize()
        .map_err(|e| Error::config("runs", format!("cannot open {}: {e}", args.runs.display())))?;
    if !args.host.is_loopback() {
        eprintln!(
            "warning: listening on {}: other machines can reach this server (it has no \
             authentication); use --host 127.0.0.1 to keep it to this machine",
            args.host
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::config("serve", format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let addr = SocketAddr::new(args.host, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::config("port", format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::config("port", e.to_string()))?;
        let host = match local.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        println!("chainrule serve: http://{host}:{}/explore", local.port());
        println!("  runs folder {}", runs.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut state = AppState::new(runs, local.port());
        state.loopback_only = args.host.is_loopback();
        let app = router(state);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Error::config("serve", e.to_string()))
    })
}
