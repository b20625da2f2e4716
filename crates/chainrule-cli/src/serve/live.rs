//! Runs streaming live: `train --serve PORT` (or a run this server
//! started) POSTs one JSON event per line to `/api/live/RUN`; every page
//! on `/runs/RUN` gets them all, from the first, as server-sent events
//! (`/api/runs/RUN/events`). A page that closes costs nothing to the run;
//! a run that ends (or is stopped) ends every stream with an `end` event.

use super::error::ApiError;
use super::limits::{
    MAX_EVENTS, MAX_EVENT_BYTES, MAX_KEPT_RUNS, MAX_LIVE_RUNS, MAX_RUN_BYTES, MAX_STREAMS,
    MAX_STREAMS_PER_RUN,
};
use super::runs::valid_name;
use super::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One run's events so far; `changed` tells streams how many there are and
/// whether the run has ended.
pub struct LiveRun {
    events: Mutex<Vec<Arc<str>>>,
    /// Bytes of the events kept.
    bytes: Mutex<usize>,
    /// When it was opened, to forget the oldest ended runs first.
    opened: std::time::Instant,
    changed: watch::Sender<(usize, bool)>,
    /// Reserved by a run this server started, its trainer not yet connected.
    waiting: Mutex<bool>,
}

impl LiveRun {
    fn new() -> LiveRun {
        LiveRun {
            events: Mutex::new(Vec::new()),
            bytes: Mutex::new(0),
            opened: std::time::Instant::now(),
            changed: watch::channel((0, false)).0,
            waiting: Mutex::new(false),
        }
    }

    /// Appends `event` (one JSON object) if it is one of the events a run
    /// sends (`start`, `step`, `epoch`, `finish`, `error`, `stopped`,
    /// `end`). Beyond [`MAX_EVENTS`] events or [`MAX_RUN_BYTES`] bytes
    /// steps are dropped; epochs keep coming until a further quarter of
    /// that; the run's last word (`finish`, `error`, `stopped`, `end`) is
    /// always kept.
    pub fn push(&self, event: &Value) {
        let kind = event["type"].as_str().unwrap_or("");
        let last_word = matches!(kind, "finish" | "error" | "stopped" | "end");
        if !last_word && !matches!(kind, "start" | "step" | "epoch") {
            return;
        }
        let text: Arc<str> = Arc::from(event.to_string());
        let mut events = self.events.lock().unwrap();
        let mut bytes = self.bytes.lock().unwrap();
        let after = *bytes + text.len();
        let refused = match kind {
            "step" => events.len() >= MAX_EVENTS || after > MAX_RUN_BYTES,
            "start" | "epoch" => after > MAX_RUN_BYTES + MAX_RUN_BYTES / 4,
            _ => false,
        };
        if refused {
            return;
        }
        *bytes += text.len();
        drop(bytes);
        events.push(text);
        let n = events.len();
        drop(events);
        self.changed.send_modify(|s| s.0 = n);
    }

    /// Marks the run ended (with an `end` event).
    pub fn end(&self, why: &str) {
        if self.changed.borrow().1 {
            return;
        }
        self.push(&json!({"type": "end", "reason": why}));
        self.changed.send_modify(|s| s.1 = true);
    }

    pub fn ended(&self) -> bool {
        self.changed.borrow().1
    }

    /// At most 256 events from `from` on, and whether the run has ended
    /// (a stream sends a long run in batches, never a copy of all of it).
    fn since(&self, from: usize) -> (Vec<Arc<str>>, bool) {
        let ended = self.changed.borrow().1;
        let events = self.events.lock().unwrap();
        let to = events.len().min(from.saturating_add(256));
        (events.get(from..to).unwrap_or_default().to_vec(), ended)
    }

    /// The latest `epoch` event and the event count.
    pub fn summary(&self) -> (Option<Value>, usize) {
        let events = self.events.lock().unwrap();
        let last = events
            .iter()
            .rev()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .find(|e| e["type"] == "epoch");
        (last, events.len())
    }
}

/// Every run seen live since the server started, by name.
#[derive(Default)]
pub struct Live {
    runs: Mutex<HashMap<String, Arc<LiveRun>>>,
}

impl Live {
    pub fn get(&self, name: &str) -> Option<Arc<LiveRun>> {
        self.runs.lock().unwrap().get(name).cloned()
    }

    /// A new live run `name`; refused while one of that name is running,
    /// or when [`MAX_LIVE_RUNS`] are.
    pub fn open(&self, name: &str) -> Result<Arc<LiveRun>, ApiError> {
        let mut runs = self.runs.lock().unwrap();
        if let Some(r) = runs.get(name) {
            let mut waiting = r.waiting.lock().unwrap();
            if *waiting && !r.ended() {
                *waiting = false;
                return Ok(r.clone());
            }
        }
        if runs.get(name).is_some_and(|r| !r.ended()) {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                setting: Some("run".into()),
                message: format!("run '{name}' is already streaming"),
            });
        }
        if runs.values().filter(|r| !r.ended()).count() >= MAX_LIVE_RUNS {
            return Err(ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                setting: Some("run".into()),
                message: format!("{MAX_LIVE_RUNS} runs are streaming already"),
            });
        }
        // Forget the oldest ended runs beyond MAX_KEPT_RUNS (their results
        // stay in their metrics.json).
        while runs.len() >= MAX_KEPT_RUNS {
            let oldest = runs
                .iter()
                .filter(|(_, r)| r.ended())
                .min_by_key(|(_, r)| r.opened)
                .map(|(n, _)| n.clone());
            match oldest {
                Some(n) => runs.remove(&n),
                None => break,
            };
        }
        let run = Arc::new(LiveRun::new());
        runs.insert(name.to_string(), run.clone());
        Ok(run)
    }

    /// Reserves `name` for a run this server starts: pages can follow it
    /// before its trainer connects.
    pub fn reserve(&self, name: &str) -> Result<Arc<LiveRun>, ApiError> {
        let run = self.open(name)?;
        *run.waiting.lock().unwrap() = true;
        Ok(run)
    }

    /// The names of every live run, running or ended.
    pub fn names(&self) -> Vec<String> {
        self.runs.lock().unwrap().keys().cloned().collect()
    }
}

/// `POST /api/live/RUN`: a trainer's events, one JSON object per line,
/// from this machine only.
pub async fn ingest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    if !peer.ip().is_loopback() {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            setting: None,
            message: "runs stream from this machine only".into(),
        });
    }
    if !valid_name(&name) {
        return Err(ApiError::bad("run", format!("'{name}' is not a run name")));
    }
    let run = state.live.open(&name)?;
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut count = 0usize;
    let mut why = "the trainer closed the stream";
    'read: while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            why = "the trainer's connection broke";
            break;
        };
        pending.extend_from_slice(&chunk);
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                if v.is_object() {
                    run.push(&v);
                    count += 1;
                }
            }
        }
        if pending.len() > MAX_EVENT_BYTES {
            why = "an event was too long";
            break 'read;
        }
    }
    run.end(why);
    Ok(Json(json!({"run": name, "events": count})))
}

/// `GET /api/runs/RUN/events`: the run's events from the first, then as
/// they come, as server-sent events (`data:` one JSON object each).
pub async fn events(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let run = state.live.get(&name).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        setting: Some("run".into()),
        message: format!("run '{name}' is not streaming (see /api/runs/{name})"),
    })?;
    let streams: usize = state
        .live
        .runs
        .lock()
        .unwrap()
        .values()
        .map(|r| r.changed.receiver_count())
        .sum();
    if run.changed.receiver_count() >= MAX_STREAMS_PER_RUN || streams >= MAX_STREAMS {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            setting: Some("run".into()),
            message: format!(
                "too many pages follow runs already ({MAX_STREAMS_PER_RUN} per run, {MAX_STREAMS} in all)"
            ),
        });
    }
    let rx = run.changed.subscribe();
    let stream = futures_util::stream::unfold(
        (run, rx, 0usize, false),
        |(run, mut rx, from, done)| async move {
            if done {
                return None;
            }
            loop {
                let (batch, ended) = run.since(from);
                if !batch.is_empty() {
                    let next = from + batch.len();
                    let events: Vec<Result<Event, std::convert::Infallible>> = batch
                        .iter()
                        .enumerate()
                        .map(|(k, e)| Ok(Event::default().id((from + k).to_string()).data(&**e)))
                        .collect();
                    let finished = ended && run.since(next).0.is_empty();
                    return Some((
                        futures_util::stream::iter(events),
                        (run, rx, next, finished),
                    ));
                }
                if ended || rx.changed().await.is_err() {
                    return None;
                }
            }
        },
    )
    .flatten();
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
