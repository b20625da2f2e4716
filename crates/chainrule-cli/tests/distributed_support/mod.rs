//! What the distributed tests compare: a run's per-step losses and its
//! final weights, read from its folder, against another run's.

use chainrule_nn::model_io::load_model;
use std::path::Path;

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn losses(dir: &Path) -> Vec<f64> {
    json_file(&dir.join("metrics.json"))["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["loss"].as_f64().unwrap())
        .collect()
}

/// Every parameter of the model in `dir`, by name, in order.
pub fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let m = load_model::<f32>(&dir.join("model.safetensors"), None).unwrap();
    m.network
        .parameters()
        .into_iter()
        .map(|(name, p)| (name, m.graph.param_value(p).unwrap().into_vec()))
        .collect()
}

pub fn assert_close(a: &Path, b: &Path, rel: f64) {
    let (la, lb) = (losses(a), losses(b));
    assert_eq!(la.len(), lb.len());
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        assert!(
            (x - y).abs() <= rel * x.abs().max(1e-12),
            "step {}: loss {x} against {y}",
            i + 1
        );
    }
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    let scale = wa
        .iter()
        .flat_map(|(_, v)| v.iter())
        .fold(0f32, |m, v| m.max(v.abs()));
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        for (x, y) in va.iter().zip(vb) {
            // Relative to the tensor's scale: weights near 0 differ by the
            // rounding of their larger neighbours.
            let tol = rel as f32 * x.abs().max(y.abs()).max(1e-2 * scale);
            assert!((x - y).abs() <= tol, "{na}: {x} against {y}");
        }
    }
}
