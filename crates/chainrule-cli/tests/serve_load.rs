//! A bounded load test of `chainrule serve` on loopback: many concurrent
//! explorer requests while a training run streams to many clients;
//! nothing may be dropped or fail: 1,000 requests and 50 streams, with the
//! other tests; with `--nocapture` it prints latency percentiles:
//! `cargo test --release -p chainrule-cli --test serve_load -- --nocapture`.

mod serve_support;

use serde_json::Value;
use serve_support::Server;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.0 GET: the status and the body.
async fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).await?;
    Ok(serve_support::parse_response(&bytes))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn load(requests: usize, streams: usize, epochs: usize) {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let addr = server.addr.clone();
    // A training run, and `streams` clients following it from its start.
    let (status, body) = server.request(
        "POST",
        "/api/train",
        &format!("data=digits&epochs={epochs}&hidden=32"),
    );
    assert_eq!(status, 200, "{body}");
    let name = serde_json::from_str::<Value>(&body).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let followers: Vec<_> = (0..streams)
        .map(|_| {
            let (addr, name) = (addr.clone(), name.clone());
            tokio::spawn(async move {
                let (status, body) = get(&addr, &format!("/api/runs/{name}/events"))
                    .await
                    .unwrap();
                assert_eq!(status, 200);
                body.lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Meanwhile, `requests` explorer requests at once.
    let paths = [
        "/api/explore?example=2",
        "/api/explore?example=1",
        "/api/explore?expr=sin(x)*exp(y)&at=x=1,y=2",
        "/api/explore?layers=3,4,2&activation=tanh",
    ];
    let started = Instant::now();
    let tasks: Vec<_> = (0..requests)
        .map(|i| {
            let addr = addr.clone();
            let path = paths[i % paths.len()];
            tokio::spawn(async move {
                let t = Instant::now();
                let (status, body) = get(&addr, path).await.expect("no request is dropped");
                assert_eq!(status, 200, "{path}: {body}");
                t.elapsed()
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    let wall = started.elapsed();
    times.sort();
    // Every follower saw the whole run, in order, to its end.
    let mut counts = Vec::new();
    for f in followers {
        let events = f.await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"end"));
        assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), epochs);
        assert!(kinds.contains(&"finish"), "{kinds:?}");
        counts.push(events.len());
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "streams differ: {counts:?}"
    );
    println!(
        "{requests} concurrent explorer requests in {:.2} s ({:.0}/s): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         {streams} streams of a {epochs}-epoch digits run, {} events each, none dropped",
        wall.as_secs_f64(),
        requests as f64 / wall.as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        counts.first().copied().unwrap_or(0),
    );
}

/// The full load test, in every test run (about 2 s in a debug build):
/// `cargo test -p chainrule-cli --release --test serve_load -- --nocapture`
/// prints its figures.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_requests_and_fifty_streams_all_succeed() {
    load(1000, 50, 3).await;
}
