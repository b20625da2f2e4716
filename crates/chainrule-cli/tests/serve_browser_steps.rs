//! `chainrule serve` in a real browser (headless chromium through
//! chromedriver, never skipped): a click on a finished run's loss curve
//! opens the explorer on that step's weights, the run page says "epoch N of
//! M", and the `/train` page starts a network given as an architecture.

mod serve_support;

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::Value;
use serve_support::steps::{metrics, train, Mlp};
use serve_support::{Browser, Server};
use std::time::{Duration, Instant};

/// The JSON in attribute `data-KEY` of the graph node named `name`.
async fn data(b: &Browser, name: &str, key: &str) -> Value {
    let v = b
        .js(&format!(
            "const n = document.querySelector('[data-node=\"{name}\"]'); return n ? (n.dataset.{key} || '') : '';"
        ))
        .await;
    serde_json::from_str(v.as_str().unwrap())
        .unwrap_or_else(|e| panic!("data-{key} of {name}: {e}: {v}"))
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn flat(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clicking_the_loss_curve_opens_the_explorer_on_that_steps_weights() {
    let runs = tempfile::tempdir().unwrap();
    {
        let streamed_to = Server::start(runs.path());
        let args = [
            "--data",
            "iris",
            "--hidden",
            "3",
            "--epochs",
            "3",
            "--batch-size",
            "1",
            "--seed",
            "3",
            "--lr",
            "0.01",
        ];
        train(runs.path(), "iris-click", Some(&streamed_to), &args);
    }
    // A metrics.json written before the planned epochs were recorded.
    let mut old = metrics(runs.path(), "iris-click");
    old.as_object_mut().unwrap().remove("epochs_planned");
    std::fs::create_dir(runs.path().join("iris-old")).unwrap();
    std::fs::write(runs.path().join("iris-old/metrics.json"), old.to_string()).unwrap();
    // A server that did not see the run live: the pages read metrics.json.
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.open(&format!("{}/runs/iris-old", server.base)).await;
    assert_eq!(b.text(Locator::Id("epoch")).await, "epoch 3");
    b.open(&format!("{}/runs/iris-click", server.base)).await;
    assert_eq!(b.text(Locator::Id("epoch")).await, "epoch 3 of 3");
    assert_eq!(
        b.js("return document.body.dataset.state;").await,
        "finished"
    );
    // A click in the middle of the curve: the step under it.
    b.click(Locator::Css("#curve rect.hit")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = b
            .js("return location.pathname === '/explore' && document.body.dataset.ready === '1';")
            .await;
        if ready == Value::Bool(true) {
            break;
        }
        assert!(Instant::now() < deadline, "the explorer never opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = b
        .js("return document.getElementById('error').hidden;")
        .await;
    assert_eq!(
        error,
        Value::Bool(true),
        "{}",
        b.text(Locator::Id("error")).await
    );
    let step: usize = b
        .js("return new URLSearchParams(location.search).get('train_step');")
        .await
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (100..260).contains(&step),
        "the middle of 360 steps: {step}"
    );
    let context = b.text(Locator::Id("context")).await;
    assert!(
        context.contains(&format!("weights before step {step}'s update")),
        "{context}"
    );
    b.press(Key::End.into()).await;
    // The loss the explorer computes is the one the trainer recorded for
    // that step (batches of one row).
    let recorded = metrics(runs.path(), "iris-click")["steps"][step - 1]["loss"]
        .as_f64()
        .unwrap();
    let loss = data(&b, "L", "value").await.as_f64().unwrap();
    assert!(
        (loss - recorded).abs() <= 1e-5 * recorded.abs().max(1.0),
        "step {step}: page {loss}, trainer {recorded}"
    );
    // Its gradient of W1 is that of the forward pass written out here.
    let mut net = Mlp {
        w1: rows(&data(&b, "W1", "value").await),
        b1: flat(&data(&b, "b1", "value").await),
        w2: rows(&data(&b, "W2", "value").await),
        b2: flat(&data(&b, "b2", "value").await),
    };
    let x = rows(&data(&b, "x", "value").await).remove(0);
    let class = metrics_class(&b).await;
    assert!((net.loss(&x, class) - loss).abs() < 1e-12);
    let want = net.w1_gradient(&x, class);
    let got = rows(&data(&b, "W1", "grad").await);
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-6, "∂L/∂W1 {got:?} vs {want:?}");
    }
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}

/// The class of the explained row, as the page's report states it.
async fn metrics_class(b: &Browser) -> usize {
    let title = b.text(Locator::Id("title")).await;
    let at = title.rfind("class ").expect("the title names the class");
    title[at + 6..].trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_train_page_starts_a_network_given_as_an_architecture() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let b = Browser::start(1280, 800).await;
    b.client
        .goto(&format!("{}/train", server.base))
        .await
        .unwrap();
    b.click(Locator::Css("input[name=network][value=arch]"))
        .await;
    let set = |arch: &str| {
        format!(
            "document.querySelector('input[name=arch]').value = '{arch}'; \
             document.querySelector('input[name=epochs]').value = '1'; \
             document.querySelector('input[name=lr]').value = '0.01'; return true;"
        )
    };
    b.js(&set("conv2d(4,3),relu,maxpool(2),flatten,linear(10)"))
        .await;
    b.click(Locator::Id("start")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while b
        .js("return document.getElementById('error').hidden;")
        .await
        == Value::Bool(true)
    {
        assert!(Instant::now() < deadline, "no error shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = b.text(Locator::Id("error")).await;
    assert!(
        error.starts_with("arch: unknown layer 'maxpool' at character 17"),
        "{error}"
    );
    b.js(&set(
        "conv2d(4,3,pad=1),relu,maxpool2d(2),flatten,linear(10)",
    ))
    .await;
    b.click(Locator::Id("start")).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = b
            .js("return [location.pathname, (document.getElementById('epoch') || {}).textContent || '', \
                 document.body.dataset.state || '', (document.getElementById('title') || {}).textContent || ''];")
            .await;
        if v[1] == "epoch 1 of 1" && v[2] == "finished" {
            assert!(v[3].as_str().unwrap().contains("conv2d(4,3,pad=1)"), "{v}");
            break;
        }
        assert!(v[2] != "failed", "the run failed: {v}");
        assert!(Instant::now() < deadline, "the run never finished: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        b.js("return document.querySelectorAll('#epochs tbody tr').length;")
            .await,
        1
    );
    let errors = b.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:?}");
    b.close().await;
}
