//! The JSON parts of a checkpoint's metadata (`config`, `progress`,
//! `history`, `optimizer`, `data`) as serde structs. Their fields are
//! declared in alphabetical order, which is the order the earlier
//! `serde_json::Value` code wrote them in, so the text on disk is unchanged.
//! Readers return a message naming the field at fault; the caller adds the
//! file and the metadata key.

use crate::activation::Activation;
use crate::data::{Dataset, Targets};
use crate::init::Init;
use crate::loss::LossKind;
use crate::optim::Schedule;
use crate::trainer::{EpochRecord, History, OptimizerKind, StepRecord, TrainConfig};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a reader of these parts returns: the value, or what is wrong.
pub(crate) type Parsed<T> = std::result::Result<T, String>;

/// A float as JSON: a number when finite, else its name (`inf`, `-inf`,
/// `NaN`), so that every value survives the round trip bit for bit (JSON
/// numbers print the shortest decimal that reads back to the same f64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(&self.0.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl Visitor<'_> for NumVisitor {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, or inf, -inf or NaN")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| !x.is_finite())
                    .map(Num)
                    .ok_or_else(|| E::custom(format!("'{v}' is not a number")))
            }
        }
        d.deserialize_any(NumVisitor)
    }
}

/// An `Option` field that must be present (`null` for `None`), as the
/// hand-written reader required; serde would otherwise take a missing field
/// for `None`.
fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::deserialize(d)
}

/// The `config` entry: every field of a [`TrainConfig`].
#[derive(Serialize, Deserialize)]
pub(crate) struct ConfigJson {
    activation: String,
    batch_size: usize,
    #[serde(deserialize_with = "required")]
    clip_norm: Option<Num>,
    detect_anomaly: bool,
    epochs: usize,
    hidden: Vec<usize>,
    init: String,
    #[serde(deserialize_with = "required")]
    loss: Option<String>,
    lr: Num,
    momentum: Num,
    optimizer: String,
    schedule: ScheduleJson,
    seed: u64,
    shuffle: bool,
    weight_decay: Num,
}

/// A [`Schedule`]: `{"kind": "constant"}`, `{"gamma", "kind": "step",
/// "step_size"}` or `{"kind": "cosine", "min_lr", "total"}`.
#[derive(Serialize, Deserialize)]
struct ScheduleJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gamma: Option<Num>,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_lr: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<usize>,
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

impl From<Schedule> for ScheduleJson {
    fn from(s: Schedule) -> Self {
        let mut out = ScheduleJson {
            gamma: None,
            kind: String::new(),
            min_lr: None,
            step_size: None,
            total: None,
        };
        match s {
            Schedule::Constant => out.kind = "constant".into(),
            Schedule::Step { step_size, gamma } => {
                out.kind = "step".into();
                out.step_size = Some(step_size);
                out.gamma = Some(Num(gamma));
            }
            Schedule::Cosine { total, min_lr } => {
                out.kind = "cosine".into();
                out.total = Some(total);
                out.min_lr = Some(Num(min_lr));
            }
        }
        out
    }
}

impl ScheduleJson {
    fn to_schedule(&self) -> Parsed<Schedule> {
        let need = |key: &str| format!("the schedule has no field '{key}'");
        match self.kind.as_str() {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step {
                step_size: self.step_size.ok_or_else(|| need("step_size"))?,
                gamma: self.gamma.ok_or_else(|| need("gamma"))?.0,
            }),
            "cosine" => Ok(Schedule::Cosine {
                total: self.total.ok_or_else(|| need("total"))?,
                min_lr: self.min_lr.ok_or_else(|| need("min_lr"))?.0,
            }),
            other => Err(format!("unknown schedule kind '{other}'")),
        }
    }
}

impl From<&TrainConfig> for ConfigJson {
    fn from(c: &TrainConfig) -> Self {
        ConfigJson {
            activation: c.activation.name(),
            batch_size: c.batch_size,
            clip_norm: c.clip_norm.map(Num),
            detect_anomaly: c.detect_anomaly,
            epochs: c.epochs,
            hidden: c.hidden.clone(),
            init: init_name(c.init),
            loss: c.loss.map(|l| l.name().to_string()),
            lr: Num(c.lr),
            momentum: Num(c.momentum),
            optimizer: optimizer_name(c.optimizer).to_string(),
            schedule: c.schedule.into(),
            seed: c.seed,
            shuffle: c.shuffle,
            weight_decay: Num(c.weight_decay),
        }
    }
}

impl ConfigJson {
    /// The config this describes.
    pub(crate) fn to_config(&self) -> Parsed<TrainConfig> {
        let named = |e: crate::Error| e.to_string();
        Ok(TrainConfig {
            hidden: self.hidden.clone(),
            activation: Activation::parse(&self.activation).map_err(named)?,
            loss: match &self.loss {
                None => None,
                Some(s) => Some(LossKind::parse(s).map_err(named)?),
            },
            optimizer: OptimizerKind::parse(&self.optimizer).map_err(named)?,
            lr: self.lr.0,
            momentum: self.momentum.0,
            weight_decay: self.weight_decay.0,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            shuffle: self.shuffle,
            init: Init::parse(&self.init).map_err(named)?,
            schedule: self.schedule.to_schedule()?,
            clip_norm: self.clip_norm.map(|n| n.0),
            detect_anomaly: self.detect_anomaly,
        })
    }
}

/// The `history` entry: steps as `[epoch, step, loss]` triples (compact: a
/// run has many), epochs as objects.
#[derive(Serialize, Deserialize)]
pub(crate) struct HistoryJson {
    epochs: Vec<EpochJson>,
    steps: Vec<(usize, usize, Num)>,
}

#[derive(Serialize, Deserialize)]
struct EpochJson {
    epoch: usize,
    #[serde(deserialize_with = "required")]
    test_accuracy: Option<Num>,
    #[serde(deserialize_with = "required")]
    test_loss: Option<Num>,
    train_loss: Num,
}

impl From<&History> for HistoryJson {
    fn from(h: &History) -> Self {
        HistoryJson {
            epochs: h
                .epochs
                .iter()
                .map(|e| EpochJson {
                    epoch: e.epoch,
                    test_accuracy: e.test_accuracy.map(Num),
                    test_loss: e.test_loss.map(Num),
                    train_loss: Num(e.train_loss),
                })
                .collect(),
            steps: h
                .steps
                .iter()
                .map(|s| (s.epoch, s.step, Num(s.loss)))
                .collect(),
        }
    }
}

impl From<HistoryJson> for History {
    fn from(h: HistoryJson) -> Self {
        History {
            steps: h
                .steps
                .into_iter()
                .map(|(epoch, step, loss)| StepRecord {
                    epoch,
                    step,
                    loss: loss.0,
                })
                .collect(),
            epochs: h
                .epochs
                .into_iter()
                .map(|e| EpochRecord {
                    epoch: e.epoch,
                    train_loss: e.train_loss.0,
                    test_loss: e.test_loss.map(|n| n.0),
                    test_accuracy: e.test_accuracy.map(|n| n.0),
                })
                .collect(),
        }
    }
}

/// The `progress` entry; the learning-rate schedule is a closed form of
/// the epoch, so this is its position too.
#[derive(Serialize, Deserialize)]
pub(crate) struct Progress {
    pub epochs_done: usize,
    pub steps_done: usize,
}

/// The `optimizer` entry: how many parameters each buffer covers, the kind
/// and the step count (Adam's `t`).
#[derive(Serialize, Deserialize)]
pub(crate) struct OptimizerJson {
    pub buffers: BTreeMap<String, u64>,
    pub kind: String,
    pub steps: u64,
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

/// The `data` entry: rows, features and a hash of every value and target of
/// the training set and the test set: resuming on other data is refused.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    #[serde(deserialize_with = "required")]
    test: Option<DataJson>,
    train: DataJson,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct DataJson {
    features: usize,
    hash: String,
    rows: usize,
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

/// The fingerprint of `train` and `test`.
pub(crate) fn fingerprint(train: &Dataset, test: Option<&Dataset>) -> Fingerprint {
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
        DataJson {
            features: d.d,
            hash: format!("{:016x}", h.0),
            rows: d.n,
        }
    };
    Fingerprint {
        test: test.map(describe),
        train: describe(train),
    }
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
        let text = serde_json::to_string(&ConfigJson::from(&c)).unwrap();
        let back: ConfigJson = serde_json::from_str(&text).unwrap();
        let back = back.to_config().unwrap();
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
        let text = serde_json::to_string(&HistoryJson::from(&h)).unwrap();
        assert_eq!(
            text,
            "{\"epochs\":[{\"epoch\":1,\"test_accuracy\":0.7,\"test_loss\":null,\
             \"train_loss\":0.3333333333333333}],\"steps\":[[1,1,\"inf\"],[1,2,1.5494349002838135]]}"
        );
        let back: HistoryJson = serde_json::from_str(&text).unwrap();
        assert_eq!(History::from(back), h);
        let err = serde_json::from_str::<ConfigJson>(r#"{"hidden": [1]}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing field"), "{err}");
        let mut v = serde_json::to_value(ConfigJson::from(&c)).unwrap();
        v.as_object_mut().unwrap().remove("loss");
        let err = serde_json::from_value::<ConfigJson>(v).err().unwrap();
        assert!(err.to_string().contains("missing field `loss`"), "{err}");
    }

    #[test]
    fn config_text_is_what_the_value_code_wrote() {
        // Written by the serde_json::Value code this replaced.
        let old = r#"{"activation":"relu","batch_size":32,"clip_norm":null,"detect_anomaly":false,"epochs":100,"hidden":[16],"init":"kaiming-uniform","loss":null,"lr":0.001,"momentum":0.0,"optimizer":"sgd","schedule":{"gamma":0.5,"kind":"step","step_size":3},"seed":42,"shuffle":true,"weight_decay":0.0}"#;
        let parsed: ConfigJson = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), old);
        let cosine = r#"{"kind":"cosine","min_lr":"-inf","total":9}"#;
        let s: ScheduleJson = serde_json::from_str(cosine).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), cosine);
        assert_eq!(
            s.to_schedule().unwrap(),
            Schedule::Cosine {
                total: 9,
                min_lr: f64::NEG_INFINITY
            }
        );
    }
}
