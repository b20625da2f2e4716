//! The JSON parts of a checkpoint's metadata: the training config, the
//! history, and a fingerprint of the data. Readers return a message naming
//! the field at fault; the caller adds the file and the metadata key.

use crate::activation::Activation;
use crate::data::{Dataset, Targets};
use crate::init::Init;
use crate::loss::LossKind;
use crate::optim::Schedule;
use crate::trainer::{EpochRecord, History, OptimizerKind, StepRecord, TrainConfig};
use serde_json::{json, Map, Value};

/// What a reader of these parts returns: the value, or what is wrong.
pub(crate) type Parsed<T> = std::result::Result<T, String>;

/// A float as JSON: a number when finite, else its name (`inf`, `-inf`,
/// `NaN`), so that every value survives the round trip bit for bit (JSON
/// numbers print the shortest decimal that reads back to the same f64).
pub(crate) fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(v.to_string())
    }
}

fn as_num(v: &Value, what: &str) -> Parsed<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().filter(|x| !x.is_finite()),
        _ => None,
    }
    .ok_or_else(|| format!("{what} is not a number: {v}"))
}

fn field<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Parsed<&'a Value> {
    o.get(key)
        .ok_or_else(|| format!("{what} has no field '{key}'"))
}

fn object<'a>(v: &'a Value, what: &str) -> Parsed<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not a JSON object"))
}

fn f64_of(o: &Map<String, Value>, key: &str) -> Parsed<f64> {
    as_num(field(o, key, "the config")?, key)
}

fn u64_of(o: &Map<String, Value>, key: &str, what: &str) -> Parsed<u64> {
    field(o, key, what)?
        .as_u64()
        .ok_or_else(|| format!("{key} of {what} is not a non-negative integer"))
}

pub(crate) fn usize_of(o: &Map<String, Value>, key: &str, what: &str) -> Parsed<usize> {
    let v = u64_of(o, key, what)?;
    usize::try_from(v).map_err(|_| format!("{key} of {what} is too large: {v}"))
}

fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Parsed<&'a str> {
    field(o, key, "the config")?
        .as_str()
        .ok_or_else(|| format!("{key} of the config is not a string"))
}

fn bool_of(o: &Map<String, Value>, key: &str) -> Parsed<bool> {
    field(o, key, "the config")?
        .as_bool()
        .ok_or_else(|| format!("{key} of the config is not true or false"))
}

fn optimizer_name(k: OptimizerKind) -> &'static str {
    match k {
        OptimizerKind::Sgd => "sgd",
        OptimizerKind::Adam => "adam",
        OptimizerKind::AdamW => "adamw",
    }
}

/// The name [`Init::parse`] reads back.
fn init_name(i: Init) -> String {
    match i {
        Init::XavierUniform => "xavier-uniform".into(),
        Init::XavierNormal => "xavier-normal".into(),
        Init::KaimingUniform => "kaiming-uniform".into(),
        Init::KaimingNormal => "kaiming-normal".into(),
        Init::Zeros => "zeros".into(),
        Init::Constant(c) => format!("constant:{c}"),
    }
}

fn schedule_json(s: Schedule) -> Value {
    match s {
        Schedule::Constant => json!({"kind": "constant"}),
        Schedule::Step { step_size, gamma } => {
            json!({"kind": "step", "step_size": step_size, "gamma": num(gamma)})
        }
        Schedule::Cosine { total, min_lr } => {
            json!({"kind": "cosine", "total": total, "min_lr": num(min_lr)})
        }
    }
}

fn schedule_from(v: &Value) -> Parsed<Schedule> {
    let o = object(v, "the schedule")?;
    let what = "the schedule";
    let kind = field(o, "kind", what)?.as_str().unwrap_or_default();
    match kind {
        "constant" => Ok(Schedule::Constant),
        "step" => Ok(Schedule::Step {
            step_size: usize_of(o, "step_size", what)?,
            gamma: as_num(field(o, "gamma", what)?, "gamma")?,
        }),
        "cosine" => Ok(Schedule::Cosine {
            total: usize_of(o, "total", what)?,
            min_lr: as_num(field(o, "min_lr", what)?, "min_lr")?,
        }),
        other => Err(format!("unknown schedule kind '{other}'")),
    }
}

/// Every field of `c`.
pub(crate) fn config_to_json(c: &TrainConfig) -> Value {
    json!({
        "hidden": c.hidden,
        "activation": c.activation.name(),
        "loss": c.loss.map(|l| l.name()),
        "optimizer": optimizer_name(c.optimizer),
        "lr": num(c.lr),
        "momentum": num(c.momentum),
        "weight_decay": num(c.weight_decay),
        "epochs": c.epochs,
        "batch_size": c.batch_size,
        "seed": c.seed,
        "shuffle": c.shuffle,
        "init": init_name(c.init),
        "schedule": schedule_json(c.schedule),
        "clip_norm": c.clip_norm.map(num),
        "detect_anomaly": c.detect_anomaly,
    })
}

/// The config that [`config_to_json`] wrote.
pub(crate) fn config_from_json(v: &Value) -> Parsed<TrainConfig> {
    let o = object(v, "the config")?;
    let what = "the config";
    let hidden = field(o, "hidden", what)?
        .as_array()
        .ok_or("hidden of the config is not a list")?
        .iter()
        .map(|h| {
            h.as_u64()
                .and_then(|h| usize::try_from(h).ok())
                .ok_or_else(|| format!("hidden size {h} is not a size"))
        })
        .collect::<Parsed<Vec<usize>>>()?;
    let named = |e: crate::Error| e.to_string();
    let loss = match field(o, "loss", what)? {
        Value::Null => None,
        Value::String(s) => Some(LossKind::parse(s).map_err(named)?),
        other => return Err(format!("loss of the config is not a name: {other}")),
    };
    let clip_norm = match field(o, "clip_norm", what)? {
        Value::Null => None,
        v => Some(as_num(v, "clip_norm")?),
    };
    Ok(TrainConfig {
        hidden,
        activation: Activation::parse(str_of(o, "activation")?).map_err(named)?,
        loss,
        optimizer: OptimizerKind::parse(str_of(o, "optimizer")?).map_err(named)?,
        lr: f64_of(o, "lr")?,
        momentum: f64_of(o, "momentum")?,
        weight_decay: f64_of(o, "weight_decay")?,
        epochs: usize_of(o, "epochs", what)?,
        batch_size: usize_of(o, "batch_size", what)?,
        seed: u64_of(o, "seed", what)?,
        shuffle: bool_of(o, "shuffle")?,
        init: Init::parse(str_of(o, "init")?).map_err(named)?,
        schedule: schedule_from(field(o, "schedule", what)?)?,
        clip_norm,
        detect_anomaly: bool_of(o, "detect_anomaly")?,
    })
}

/// Steps as `[epoch, step, loss]` triples (compact: a run has many), epochs
/// as objects.
pub(crate) fn history_to_json(h: &History) -> Value {
    let steps: Vec<Value> = h
        .steps
        .iter()
        .map(|s| json!([s.epoch, s.step, num(s.loss)]))
        .collect();
    let epochs: Vec<Value> = h
        .epochs
        .iter()
        .map(|e| {
            json!({
                "epoch": e.epoch,
                "train_loss": num(e.train_loss),
                "test_loss": e.test_loss.map(num),
                "test_accuracy": e.test_accuracy.map(num),
            })
        })
        .collect();
    json!({"steps": steps, "epochs": epochs})
}

/// The history that [`history_to_json`] wrote.
pub(crate) fn history_from_json(v: &Value) -> Parsed<History> {
    let o = object(v, "the history")?;
    let list = |key: &str| {
        field(o, key, "the history")?
            .as_array()
            .ok_or_else(|| format!("{key} of the history is not a list"))
    };
    let mut history = History::default();
    for (i, s) in list("steps")?.iter().enumerate() {
        let bad = || format!("step record {i} is not [epoch, step, loss]: {s}");
        let [e, st, l] = s.as_array().map(Vec::as_slice).ok_or_else(bad)? else {
            return Err(bad());
        };
        let int = |v: &Value| v.as_u64().and_then(|v| usize::try_from(v).ok());
        history.steps.push(StepRecord {
            epoch: int(e).ok_or_else(bad)?,
            step: int(st).ok_or_else(bad)?,
            loss: as_num(l, "a step's loss")?,
        });
    }
    for (i, e) in list("epochs")?.iter().enumerate() {
        let what = format!("epoch record {i}");
        let r = object(e, &what)?;
        let optional = |key: &str| match field(r, key, &what)? {
            Value::Null => Ok(None),
            v => as_num(v, key).map(Some),
        };
        history.epochs.push(EpochRecord {
            epoch: usize_of(r, "epoch", &what)?,
            train_loss: as_num(field(r, "train_loss", &what)?, "train_loss")?,
            test_loss: optional("test_loss")?,
            test_accuracy: optional("test_accuracy")?,
        });
    }
    Ok(history)
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Rows, features and a hash of every value and target of the training set
/// and the test set: resuming on other data is refused.
pub(crate) fn fingerprint(train: &Dataset, test: Option<&Dataset>) -> Value {
    let describe = |d: &Dataset| {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.u64(d.n as u64);
        h.u64(d.d as u64);
        d.features.iter().for_each(|v| h.u64(v.to_bits()));
        match &d.targets {
            Targets::Classes { labels, classes } => {
                h.u64(*classes as u64);
                labels.iter().for_each(|&l| h.u64(l as u64));
            }
            Targets::Real(values) => values.iter().for_each(|v| h.u64(v.to_bits())),
        }
        json!({"rows": d.n, "features": d.d, "hash": format!("{:016x}", h.0)})
    };
    json!({"train": describe(train), "test": test.map(describe)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_history_round_trip_exactly() {
        let c = TrainConfig {
            hidden: vec![7, 3],
            activation: Activation::LeakyRelu(0.125),
            loss: Some(LossKind::Bce),
            optimizer: OptimizerKind::AdamW,
            lr: 0.1 + 0.2,
            seed: u64::MAX,
            init: Init::Constant(-0.3),
            schedule: Schedule::Cosine {
                total: 9,
                min_lr: 1e-300,
            },
            clip_norm: Some(2.5),
            ..TrainConfig::default()
        };
        let text = config_to_json(&c).to_string();
        let back = config_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.lr.to_bits(), (0.1f64 + 0.2).to_bits());
        let h = History {
            steps: vec![
                StepRecord {
                    epoch: 1,
                    step: 1,
                    loss: f64::INFINITY,
                },
                // An f32 loss widened: serde_json's default parser reads
                // this back 1 ulp off; float_roundtrip reads it exactly.
                StepRecord {
                    epoch: 1,
                    step: 2,
                    loss: f64::from(1.549_434_9_f32),
                },
            ],
            epochs: vec![EpochRecord {
                epoch: 1,
                train_loss: 1.0 / 3.0,
                test_loss: None,
                test_accuracy: Some(0.7),
            }],
        };
        let text = history_to_json(&h).to_string();
        assert_eq!(
            history_from_json(&serde_json::from_str(&text).unwrap()).unwrap(),
            h
        );
        let err = config_from_json(&json!({"hidden": [1]})).unwrap_err();
        assert!(err.contains("no field 'loss'"), "{err}");
    }
}
