//! `train --serve PORT`: every step and epoch streamed to `chainrule
//! serve` on this machine, one JSON object per line in one chunked HTTP
//! POST to `/api/live/RUN`. A background thread does the writing, so
//! training never waits on the network, and a server that cannot be
//! reached costs one warning: the run goes on.

use super::args::Args;
use super::console::report_rows;
use chainrule_inspect::flow;
use chainrule_nn::data::Dataset;
use chainrule_nn::trainer::{
    EpochRecord, History, Model, RunFiles, RunObserver, RunStart, StepRecord,
};
use chainrule_nn::Result;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

/// The observer that streams a run to the server.
pub struct Live {
    port: u16,
    grad_report: bool,
    seed: u64,
    settings: Value,
    rows: Option<Vec<usize>>,
    tx: Option<Sender<String>>,
    writer: Option<JoinHandle<()>>,
}

impl Live {
    pub fn new(port: u16, args: &Args) -> Live {
        Live {
            port,
            grad_report: args.grad_report,
            seed: args.seed,
            settings: json!({
                "data": args.data, "hidden": args.hidden, "arch": args.arch,
                "activation": args.activation, "loss": args.loss,
                "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
                "batch_size": args.batch_size, "seed": args.seed,
            }),
            rows: None,
            tx: None,
            writer: None,
        }
    }

    fn send(&self, v: Value) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(v.to_string());
        }
    }
}

/// Writes the request line, headers and then each line as one chunk;
/// stops quietly at the first failure (after one warning).
fn write_all(port: u16, name: String, lines: std::sync::mpsc::Receiver<String>) {
    let warn = |e: &dyn std::fmt::Display| {
        eprintln!(
            "warning: cannot stream to chainrule serve on port {port} ({e}); training goes on"
        )
    };
    let mut stream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => {
            warn(&e);
            // Drain the channel so the trainer never blocks on it.
            for _ in lines {}
            return;
        }
    };
    let head = format!(
        "POST /api/live/{name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    let mut ok = stream.write_all(head.as_bytes()).is_ok();
    for line in lines {
        if !ok {
            continue;
        }
        let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
        if let Err(e) = stream.write_all(chunk.as_bytes()) {
            warn(&e);
            ok = false;
        }
    }
    if ok {
        let _ = stream.write_all(b"0\r\n\r\n");
        let _ = stream.flush();
        // Wait for the server's answer so that nothing is cut short.
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = std::io::Read::read(&mut stream, &mut [0u8; 512]);
    }
}

impl RunObserver<f32> for Live {
    fn on_start(&mut self, s: &RunStart<'_, f32>) -> Result<()> {
        let name = s
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let (tx, rx) = channel();
        let port = self.port;
        let thread_name = name.clone();
        self.writer = Some(std::thread::spawn(move || write_all(port, thread_name, rx)));
        self.tx = Some(tx);
        self.send(json!({
            "type": "start", "name": name,
            "epochs": s.config.epochs, "total_steps": s.total_steps,
            "epochs_done": s.epochs_done, "steps_done": s.steps_done,
            "settings": self.settings,
        }));
        Ok(())
    }

    fn on_step(&mut self, s: &StepRecord) {
        self.send(json!({"type": "step", "epoch": s.epoch, "step": s.step, "loss": s.loss}));
    }

    fn on_epoch(
        &mut self,
        e: &EpochRecord,
        model: &mut Model<f32>,
        train: &Dataset,
    ) -> Result<Option<Value>> {
        let report = if self.grad_report {
            let rows = self
                .rows
                .get_or_insert_with(|| report_rows(train.n, self.seed));
            Some(flow::layer_report(model, train, rows)?.layers_json())
        } else {
            None
        };
        self.send(json!({
            "type": "epoch", "epoch": e.epoch, "train_loss": e.train_loss,
            "test_loss": e.test_loss, "test_accuracy": e.test_accuracy,
            "grad_report": report,
        }));
        // The console's report is the one metrics.json keeps.
        Ok(None)
    }

    fn on_finish(&mut self, files: &RunFiles, _history: &History) -> Result<()> {
        self.send(json!({"type": "finish", "model": files.model.display().to_string()}));
        Ok(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
