//! `chainrule serve`'s JSON API over loopback: the same numbers as
//! `chainrule explain --format json`, and 4xx JSON errors for what it
//! refuses.

mod common;
mod serve_support;

use serde_json::Value;
use serve_support::Server;

#[test]
fn the_api_gives_the_numbers_of_explain_json() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    for (query, args) in [
        (
            "expr=(x+y)*(x-1)&at=x=3,y=2",
            vec!["--expr", "(x+y)*(x-1)", "--at", "x=3,y=2"],
        ),
        ("example=1", vec![]),
        (
            "layers=2,3,1&activation=tanh&seed=4&input=0.5,-1&target=0.25",
            vec![
                "--layers",
                "2,3,1",
                "--activation",
                "tanh",
                "--seed",
                "4",
                "--input",
                "0.5,-1",
                "--target",
                "0.25",
            ],
        ),
    ] {
        let (status, api) = server.json(&format!("/api/explore?{query}"));
        assert_eq!(status, 200, "{query}: {api}");
        let mut cli_args = vec!["explain", "--format", "json", "--full"];
        cli_args.extend(args);
        let out = common::chainrule(&cli_args);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let cli: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
        assert_eq!(api["explain"], cli, "{query}");
        assert!(api["layout"]["svg"].as_str().unwrap().starts_with("<svg"));
        assert_eq!(
            api["layout"]["nodes"].as_array().unwrap().len(),
            cli["nodes"].as_array().unwrap().len()
        );
        for c in api["check"].as_array().unwrap() {
            assert_eq!(c["verdict"], "correct", "{query}: {c}");
        }
    }
}

#[test]
fn bad_requests_get_4xx_json_naming_the_problem() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let long = format!("expr={}", "x+".repeat(300) + "x");
    let deep = format!("expr={}x{}", "(".repeat(40), ")".repeat(40));
    let big_query = format!("expr=x&at=x={}", "1".repeat(5000));
    for (query, status, setting) in [
        ("expr=(x+", 400, "expr"),
        (long.as_str(), 400, "expr"),
        (deep.as_str(), 400, "expr"),
        ("layers=2,100,1", 400, "layers"),
        ("layers=2,3,3,3,3,3,3,1", 400, "layers"),
        ("expr=x&layers=2,1", 400, "layers"),
        ("example=3", 400, "example"),
        ("model=../../etc", 400, "run"),
        ("model=nothere", 404, "run"),
        ("wat=1", 400, "wat"),
        ("expr=x&expr=y", 400, "expr"),
        (big_query.as_str(), 400, "query"),
        ("lr=-1", 400, "lr"),
    ] {
        let (got, body) = server.json(&format!("/api/explore?{query}"));
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["setting"], setting, "{query}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    for (query, setting) in [
        ("depth=0", "depth"),
        ("depth=1000", "depth"),
        ("kind=deep", "kind"),
        ("activation=nope", "activation"),
    ] {
        let (got, body) = server.json(&format!("/api/vanishing?{query}"));
        assert_eq!(
            (got, &body["setting"]),
            (400, &Value::from(setting)),
            "{query}: {body}"
        );
    }
    let (status, body) = server.json("/api/nothing");
    assert_eq!(status, 404, "{body}");
    // A body over the 16 KiB limit is refused as JSON (and the server
    // keeps serving).
    let (status, body) = server.request("POST", "/api/train", &"x".repeat(64 * 1024));
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], 413, "{v}");
    // So is a method a route does not take.
    let (status, body) = server.request("POST", "/api/explore", "");
    assert_eq!(status, 405, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(v["error"].as_str().unwrap().contains("method"), "{v}");
    assert_eq!(server.json("/api/explore?example=2").0, 200);
}

/// Another site cannot make the user's browser start or stop runs, and a
/// page that rebinds its own name to 127.0.0.1 cannot read the server.
#[test]
fn requests_from_another_site_or_to_another_host_are_refused() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let host = format!("Host: {}", server.addr);
    let (status, body) = server.request_with(
        "POST",
        "/api/train",
        &[&host, "Origin: http://evil.example"],
        "data=iris&epochs=1&hidden=4",
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("another site (http://evil.example)"),
        "{body}"
    );
    let (status, body) = server.request_with(
        "POST",
        "/api/live/injected",
        &[&host, "Origin: http://evil.example"],
        "{\"type\":\"step\"}\n",
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.request_with("GET", "/api/runs", &["Host: evil.example:8080"], "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not to 'evil.example:8080'"), "{body}");
    // The page's own origin is fine, and so is localhost.
    let origin = format!("Origin: http://{}", server.addr);
    let (status, body) = server.request_with("POST", "/api/runs/none/stop", &[&host, &origin], "");
    assert_eq!(status, 409, "{body}");
    let port = server.addr.rsplit(':').next().unwrap();
    let (status, _) = server.request_with(
        "GET",
        "/api/runs",
        &[&format!("Host: localhost:{port}")],
        "",
    );
    assert_eq!(status, 200);
}

#[test]
fn the_pages_are_embedded_and_load_nothing_from_the_internet() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    for path in ["/explore", "/assets/explore.js", "/assets/style.css"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} links outside"
        );
    }
}

#[test]
fn a_run_started_with_train_serve_streams_to_the_server() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let run = out_dir.path().join("cli-run");
    let out = common::chainrule(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--quiet",
        "--serve",
        &port,
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    // The run appears in the list (live, ended) with its epochs ...
    let (_, list) = server.json("/api/runs");
    let entry = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cli-run")
        .cloned();
    let entry = entry.unwrap_or_else(|| panic!("{list}"));
    assert_eq!(entry["epochs_done"], 2, "{entry}");
    // ... and its events replay from the first to the end.
    let (status, body) = server.get("/api/runs/cli-run/events");
    assert_eq!(status, 200);
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2);
    assert!(kinds.iter().filter(|k| **k == "step").count() >= 2);
    assert_eq!(&kinds[kinds.len() - 2..], ["finish", "end"]);
    // Stopping is for runs this server started.
    let (status, _) = server.request("POST", "/api/runs/cli-run/stop", "");
    assert_eq!(status, 409);
}

#[test]
fn a_train_request_is_checked_before_anything_starts() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    for (body, setting) in [
        ("data=/etc/passwd", "data"),
        ("hidden=100000", "hidden"),
        ("epochs=0", "epochs"),
        ("lr=abc", "lr"),
        ("activation=bogus", "activation"),
    ] {
        let (status, text) = server.request("POST", "/api/train", body);
        assert_eq!(status, 400, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["setting"], setting, "{body}: {v}");
    }
    assert_eq!(std::fs::read_dir(runs.path()).unwrap().count(), 0);
    let (status, _) = server.get("/api/runs/..%2Fetc");
    assert!((400..500).contains(&status));
}

#[test]
fn a_run_started_here_can_be_stopped_and_explored() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let (status, body) = server.request("POST", "/api/train", "data=digits&epochs=200&hidden=16");
    assert_eq!(status, 200, "{body}");
    let name = serde_json::from_str::<Value>(&body).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server.json(&format!("/api/runs/{name}")).1["stoppable"],
        true
    );
    // A client that leaves mid-stream ends only its own stream.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
        write!(s, "GET /api/runs/{name}/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut first = [0u8; 64];
        assert!(s.read(&mut first).unwrap() > 0);
    }
    let (_, info) = server.json(&format!("/api/runs/{name}"));
    assert_eq!(
        (&info["stoppable"], &info["streaming"]),
        (&Value::from(true), &Value::from(true)),
        "{info}"
    );
    let (status, body) = server.request("POST", &format!("/api/runs/{name}/stop"), "");
    assert_eq!(status, 200, "{body}");
    // The stream ends, saying why.
    let (_, events) = server.get(&format!("/api/runs/{name}/events"));
    assert!(events.contains("\"stopped\""), "{events}");
    assert!(events.trim_end().ends_with("}"), "{events}");
    assert!(events.contains("\"end\""), "{events}");
    // A finished run's model opens in the explorer, named by its run.
    let out_dir = runs.path().join("iris-run");
    let out = common::chainrule(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let (status, v) = server.json("/api/explore?model=iris-run&row=5");
    assert_eq!(status, 200, "{v}");
    let title = v["title"].as_str().unwrap();
    assert!(
        title.contains("of run iris-run") && !title.contains(runs.path().to_str().unwrap()),
        "{title}"
    );
}
