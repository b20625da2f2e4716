//! `chainrule serve` in a real browser: headless chromium through
//! chromedriver. `.ci/run` installs Debian's chromium and chromium-driver
//! when missing (`.ci/install-browser`) before `cargo test --workspace`;
//! the tests fail, never skip, when the browser cannot run.

mod serve_support;

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::Value;
use serve_support::{Browser, Server};

/// Every number in a `data-` attribute (a number or nested JSON arrays).
fn numbers(text: &str) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Number(n) => out.push(n.as_f64().unwrap()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&serde_json::from_str(text).unwrap_or(Value::Null), &mut out);
    out
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-8, "{what}: {got:?} vs {want:?}");
    }
}

/// The step shown now: phase, and the current node's name, value and gradient.
async fn current(b: &Browser) -> (String, String, String, String) {
    let v = b
        .js("const c = document.querySelector('.node.current'); \
             return [document.getElementById('phase').className, c ? c.dataset.node : '', \
                     c ? (c.dataset.value || '') : '', c ? (c.dataset.grad || '') : ''];")
        .await;
    let s = |k: usize| v[k].as_str().unwrap_or("").to_string();
    (
        s(0).replace("phase", "").trim().to_string(),
        s(1),
        s(2),
        s(3),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shared_node_example_at_its_last_step_shows_every_number() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!(
        "{}/explore?expr=(x+y)*(x-1)&at=x=3,y=2&step=last",
        server.base
    ))
    .await;
    let attr = |node: &str, a: &str| {
        format!("return document.querySelector('[data-node=\"{node}\"]').getAttribute('{a}');")
    };
    assert_eq!(b.js(&attr("f", "data-value")).await, "10");
    assert_eq!(b.js(&attr("x", "data-grad")).await, "7");
    assert_eq!(b.js(&attr("y", "data-grad")).await, "2");
    assert_eq!(b.js(&attr("x", "data-value")).await, "3");
    let text = b.text(Locator::Css("body")).await;
    for want in ["f = 10", "∂f/∂x = 7", "∂f/∂y = 2", "5 + 2"] {
        assert!(
            text.contains(want),
            "the page does not show {want:?}:\n{text}"
        );
    }
    // The two paths into x are listed at its step.
    assert!(text.contains("path 1") && text.contains("path 2"), "{text}");
    // The check switch: numerical beside analytical, with the verdict.
    b.click(Locator::Id("check")).await;
    let checks = b.text(Locator::Id("checks")).await;
    assert!(
        checks.contains("correct") && checks.contains("7.0000000"),
        "{checks}"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stepping_through_worked_example_1_shows_the_lessons_numbers_in_order() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!("{}/explore?example=1", server.base)).await;
    let total: usize = b
        .js("return +document.body.dataset.steps;")
        .await
        .as_u64()
        .unwrap() as usize;
    assert!(total > 20, "{total} steps");
    let next = b.client.find(Locator::Id("next")).await.unwrap();
    let mut seen: Vec<(String, String, String, String)> = Vec::new();
    for _ in 0..total {
        next.click().await.unwrap();
        seen.push(current(&b).await);
    }
    assert!(
        next.attr("disabled").await.unwrap().is_some(),
        "Next stays enabled at the end"
    );
    // The lesson's numbers (`chainrule example`), in the order they appear.
    let forward = [
        ("z1", vec![0.3775, 0.3925]),
        ("h1", vec![0.593269992107187, 0.596884378259767]),
        ("z2", vec![1.10590596705977]),
        ("ŷ", vec![0.7513650695523157]),
        ("L", vec![0.06181932863872479]),
    ];
    let backward = [
        ("ŷ", vec![-0.4972698608953685]),
        ("z2", vec![-0.09289776832462583]),
        ("h1", vec![-0.03715910732985033, -0.041803995746081624]),
        ("z1", vec![-0.008966518928607968, -0.010058602271136488]),
    ];
    let params = [
        ("W2", vec![-0.05511345828072607, -0.05544922668816417]),
        ("b2", vec![-0.09289776832462583]),
        (
            "W1",
            vec![
                -0.0004483259464303984,
                -0.0008966518928607968,
                -0.0005029301135568244,
                -0.0010058602271136488,
            ],
        ),
        ("b1", vec![-0.008966518928607968, -0.010058602271136488]),
    ];
    let position = |phase: &str, node: &str| {
        seen.iter()
            .position(|s| s.0 == phase && s.1 == node)
            .unwrap_or_else(|| panic!("no {phase} step of {node}: {seen:?}"))
    };
    let mut last = 0;
    for (node, want) in &forward {
        let k = position("forward", node);
        assert!(k >= last, "{node} out of order");
        close(&numbers(&seen[k].2), want, node);
        last = k;
    }
    for (node, want) in &backward {
        let k = position("backward", node);
        assert!(k > last, "∂L/∂{node} out of order: {seen:?}");
        close(&numbers(&seen[k].3), want, node);
        last = k;
    }
    for (node, want) in &params {
        let k = position("backward", node);
        close(&numbers(&seen[k].3), want, node);
    }
    // Then one gradient-descent step, and the loss after it.
    let k = position("update", "W1");
    assert!(k > last);
    let text = b.text(Locator::Css("body")).await;
    assert!(
        text.contains("0.150224") && text.contains("0.0547188"),
        "{text}"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_arrow_keys_step_forward_and_back() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!("{}/explore?example=2", server.base)).await;
    let counter = || async {
        b.js("return document.getElementById('counter').textContent;")
            .await
    };
    assert_eq!(counter().await, "step 0 of 10");
    for _ in 0..5 {
        b.press(Key::Right.into()).await;
    }
    assert_eq!(counter().await, "step 5 of 10");
    let (phase, node, value, _) = current(&b).await;
    assert_eq!(
        (phase.as_str(), node.as_str(), value.as_str()),
        ("forward", "f", "10")
    );
    b.press(Key::Right.into()).await;
    assert_eq!(current(&b).await.0, "backward");
    b.press(Key::Left.into()).await;
    b.press(Key::Left.into()).await;
    assert_eq!(counter().await, "step 4 of 10");
    // f's value is hidden again once we step back before it.
    assert_eq!(
        b.js("return document.querySelector('[data-node=\"f\"]').hasAttribute('data-value');")
            .await,
        false
    );
    b.press(Key::End.into()).await;
    assert_eq!(counter().await, "step 10 of 10");
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("step=last"));
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_subject_shows_the_servers_error() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!("{}/explore?layers=2,300,1", server.base))
        .await;
    let text = b.text(Locator::Id("error")).await;
    assert!(text.contains("layers") && text.contains("16"), "{text}");
    // The 400 of the API call is the only console message, and an expected one.
    let errors = b.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digits_run_started_from_the_train_page_reaches_epoch_3() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.client
        .goto(&format!("{}/train", server.base))
        .await
        .unwrap();
    for (field, value) in [("epochs", "3"), ("hidden", "32")] {
        let input = b
            .client
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    b.click(Locator::Id("start")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let v = b
            .js("return [location.pathname, (document.getElementById('epoch') || {}).textContent || '', \
                 (document.getElementById('accuracy') || {}).textContent || '', document.body.dataset.state || ''];")
            .await;
        let (path, epoch, accuracy, state) = (
            v[0].as_str().unwrap(),
            v[1].as_str().unwrap(),
            v[2].as_str().unwrap(),
            v[3].as_str().unwrap(),
        );
        if epoch == "epoch 3 of 3" && state == "finished" {
            assert!(path.starts_with("/runs/digits-served-"), "{path}");
            assert!(
                accuracy.starts_with("test accuracy ") && accuracy.ends_with('%'),
                "{accuracy}"
            );
            break;
        }
        assert!(state != "failed", "the run failed: {v}");
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached epoch 3: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Every step's loss was drawn, and the gradient-flow bars of the last epoch.
    assert_eq!(
        b.js("return document.querySelectorAll('#epochs tbody tr').length;")
            .await,
        3
    );
    let bars = b
        .js("return document.querySelectorAll('.flow-row').length;")
        .await;
    assert_eq!(bars, 2, "one bar per weight layer of 64-32-10");
    assert_eq!(
        b.js("return !!document.querySelector('#curve polyline');")
            .await,
        true
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vanishing_gradient_page_updates_when_a_cure_is_chosen() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!(
        "{}/vanishing?depth=12&activation=sigmoid",
        server.base
    ))
    .await;
    let first = || async {
        b.js(
            "const r = document.querySelector('.flow-row[data-layer=\"1\"]'); \
              return r ? [r.dataset.cumulative, r.className] : null;",
        )
        .await
    };
    assert_eq!(
        b.js("return document.querySelectorAll('.flow-row').length;")
            .await,
        12
    );
    let plain = first().await;
    // 0.09 per sigmoid unit at output 0.9: 0.09^12 reaches the first unit.
    let g: f64 = plain[0].as_str().unwrap().parse().unwrap();
    assert!((g / 0.09f64.powi(12) - 1.0).abs() < 1e-6, "{g}");
    assert!(plain[1].as_str().unwrap().contains("vanishing"), "{plain}");
    b.click(Locator::Css("select[name=kind] option[value=residual]"))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let cured = loop {
        let now = first().await;
        if now != plain {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bars never changed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(!cured[1].as_str().unwrap().contains("vanishing"), "{cured}");
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("kind=residual"));
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}
