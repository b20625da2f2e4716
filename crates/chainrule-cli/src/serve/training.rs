//! Training from the browser: `POST /api/train` starts `chainrule train`
//! on a built-in data set as a child process streaming to this server
//! (`--serve PORT`, into the runs folder); `POST /api/runs/RUN/stop` stops
//! it; `/api/runs` and `/api/runs/RUN` list the runs folder and read one
//! run's `metrics.json`. Only built-in data sets: no path in a request.

use super::error::ApiError;
use super::limits::{MAX_METRICS_BYTES, MAX_TRAINING_JOBS};
use super::runs::{run_folder, valid_name};
use super::train_form::{train_flags, TrainForm};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Form, Json};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// The runs this server started and is running, by name: each one's stop signal.
#[derive(Default)]
pub struct Jobs {
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
    started: AtomicUsize,
}

/// `POST /api/train`: starts a run; `{"name", "url"}`.
pub async fn start(
    State(state): State<AppState>,
    Form(form): Form<TrainForm>,
) -> Result<Json<Value>, ApiError> {
    // Checking an architecture loads the data set: off the async threads.
    let checked = tokio::task::spawn_blocking({
        let form = form.clone();
        move || train_flags(&form)
    })
    .await
    .map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        setting: None,
        message: format!("checking the form failed: {e}"),
    })?;
    let flags = checked?;
    let jobs = &state.jobs;
    let n = jobs.started.fetch_add(1, Ordering::Relaxed) + 1;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let data = form.data.as_deref().unwrap_or("digits").trim();
    let name = format!("{data}-served-{secs}-{n}");
    let (stop_tx, stop_rx) = oneshot::channel();
    {
        let mut running = jobs.running.lock().unwrap();
        if running.len() >= MAX_TRAINING_JOBS {
            return Err(ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                setting: None,
                message: format!("{MAX_TRAINING_JOBS} runs are training already: stop one or wait"),
            });
        }
        running.insert(name.clone(), stop_tx);
    }
    // Until the trainer runs, an error gives its slot back.
    let release = |e: ApiError| {
        jobs.running.lock().unwrap().remove(&name);
        e
    };
    let run = state.live.reserve(&name).map_err(release)?;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            run.end("the trainer could not start");
            return Err(release(ApiError::bad("train", e.to_string())));
        }
    };
    let spawned = tokio::process::Command::new(exe)
        .arg("train")
        .args(&flags)
        .arg("--out")
        .arg(state.runs.join(&name))
        .args([
            "--grad-report",
            "--quiet",
            "--serve",
            &state.port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            jobs.running.lock().unwrap().remove(&name);
            run.end("the trainer could not start");
            return Err(ApiError::bad(
                "train",
                format!("cannot start chainrule train: {e}"),
            ));
        }
    };
    let state2 = state.clone();
    let name2 = name.clone();
    tokio::spawn(async move {
        let mut stderr = child.stderr.take();
        let read_err = async {
            let mut text = String::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.take(64 * 1024).read_to_string(&mut text).await;
            }
            text
        };
        let (status, text) = tokio::select! {
            r = async { tokio::join!(child.wait(), read_err) } => (r.0.ok(), r.1),
            _ = stop_rx => {
                run.push(&json!({"type": "stopped"}));
                let _ = child.kill().await;
                (None, String::new())
            }
        };
        if let Some(s) = status.filter(|s| !s.success()) {
            let message = text.trim().lines().last().unwrap_or("").to_string();
            run.push(&json!({"type": "error", "message": message, "status": s.code()}));
        }
        run.end(if status.is_some() {
            "the trainer exited"
        } else {
            "stopped from the page"
        });
        state2.jobs.running.lock().unwrap().remove(&name2);
    });
    Ok(Json(json!({"name": name, "url": format!("/runs/{name}")})))
}

/// `POST /api/runs/RUN/stop`: stops a run this server started.
pub async fn stop(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tx = state.jobs.running.lock().unwrap().remove(&name);
    match tx {
        Some(tx) => {
            let _ = tx.send(());
            Ok(Json(json!({"run": name, "stopping": true})))
        }
        None => Err(ApiError {
            status: StatusCode::CONFLICT,
            setting: Some("run".into()),
            message: format!("run '{name}' is not training in this server (a run started from the command line stops there)"),
        }),
    }
}

/// `metrics.json` of a run folder, if it has one of a sane size.
fn metrics(folder: &std::path::Path) -> Option<Value> {
    let bytes = super::runs::read_plain(folder, "metrics.json", MAX_METRICS_BYTES)?;
    serde_json::from_slice(&bytes).ok()
}

fn summary(name: &str, state: &AppState) -> Value {
    let live = state.live.get(name);
    let streaming = live.as_ref().is_some_and(|r| !r.ended());
    let (epochs, accuracy) = match run_folder(&state.runs, name).ok().and_then(|f| metrics(&f)) {
        Some(m) => {
            let last = m["epochs"].as_array().and_then(|e| e.last()).cloned();
            (
                m["epochs"].as_array().map_or(0, Vec::len),
                last.and_then(|l| l["test_accuracy"].as_f64()),
            )
        }
        None => match live.as_ref().map(|r| r.summary().0) {
            Some(Some(e)) => (
                e["epoch"].as_u64().unwrap_or(0) as usize,
                e["test_accuracy"].as_f64(),
            ),
            _ => (0, None),
        },
    };
    json!({"name": name, "live": streaming, "epochs_done": epochs, "test_accuracy": accuracy,
           "url": format!("/runs/{name}")})
}

/// `GET /api/runs`: the runs folder's runs and the live ones, newest first.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let st = state.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let mut names: Vec<(std::time::SystemTime, String)> = Vec::new();
        if let Ok(dir) = std::fs::read_dir(&st.runs) {
            for e in dir.flatten().take(2000) {
                let name = e.file_name().to_string_lossy().into_owned();
                if valid_name(&name) && run_folder(&state.runs, &name).is_ok() {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    names.push((t, name));
                }
            }
        }
        for name in st.live.names() {
            if !names.iter().any(|(_, n)| *n == name) {
                names.push((std::time::SystemTime::now(), name));
            }
        }
        names.sort_by(|a, b| b.cmp(a));
        names
            .iter()
            .map(|(_, n)| summary(n, &st))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(json!({"runs": runs}))
}

/// `GET /api/runs/RUN`: `{"name", "live", "stoppable", "metrics"}`.
pub async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let live = state.live.get(&name);
    let folder = match run_folder(&state.runs, &name) {
        Ok(f) => Some(f),
        Err(e) if live.is_none() => return Err(e),
        Err(_) => None,
    };
    let m = match folder {
        Some(f) => tokio::task::spawn_blocking(move || metrics(&f))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let stoppable = state.jobs.running.lock().unwrap().contains_key(&name);
    Ok(Json(json!({
        "name": name,
        "live": live.is_some(),
        "streaming": live.is_some_and(|r| !r.ended()),
        "stoppable": stoppable,
        "metrics": m,
    })))
}
