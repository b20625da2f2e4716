//! `Var::backward_sgd`: one step of plain gradient descent fused into the
//! backward pass. Every parameter after the step must equal θ − lr·∂L/∂θ
//! with ∂L/∂θ from central finite differences of a forward pass this test
//! writes out with plain loops in f64 (not the engine's), on every path
//! of the fused product: a tiny product (loop), a batch of one row (outer
//! product), a large product (GEMM), a weight used as is and transposed,
//! and a weight used twice (not fused, stepped after the loop).

use chainrule::{Graph, ParamId, Tensor};

/// A two-layer network `y = tanh(x·W1 + b1)·W2ᵀ + b2`, W1 `[i, h]` used as
/// is, W2 `[o, h]` used transposed (chainrule-nn's Linear), MSE against `t`.
struct Net {
    x: Vec<f64>,
    t: Vec<f64>,
    rows: usize,
    dims: (usize, usize, usize),
    /// W1, b1, W2, b2 flattened row-major.
    params: [Vec<f64>; 4],
}

fn values(len: usize, seed: u64, scale: f64) -> Vec<f64> {
    (0..len as u64)
        .map(|i| {
            let z = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

impl Net {
    fn new(rows: usize, i: usize, h: usize, o: usize) -> Net {
        Net {
            x: values(rows * i, 1, 1.0),
            t: values(rows * o, 2, 1.0),
            rows,
            dims: (i, h, o),
            params: [
                values(i * h, 3, (1.0 / i as f64).sqrt()),
                values(h, 4, 0.1),
                values(o * h, 5, (1.0 / h as f64).sqrt()),
                values(o, 6, 0.1),
            ],
        }
    }

    /// The loss by plain loops.
    fn loss(&self, p: &[Vec<f64>; 4]) -> f64 {
        let (i_n, h_n, o_n) = self.dims;
        let mut total = 0.0;
        for r in 0..self.rows {
            let hidden: Vec<f64> = (0..h_n)
                .map(|j| {
                    let z: f64 = (0..i_n)
                        .map(|i| self.x[r * i_n + i] * p[0][i * h_n + j])
                        .sum();
                    (z + p[1][j]).tanh()
                })
                .collect();
            for o in 0..o_n {
                let y: f64 = (0..h_n).map(|j| hidden[j] * p[2][o * h_n + j]).sum::<f64>() + p[3][o];
                total += (y - self.t[r * o_n + o]).powi(2);
            }
        }
        total / (self.rows * o_n) as f64
    }

    /// θ − lr·∂L/∂θ for every parameter, ∂L/∂θ by central differences.
    fn expected_step(&self, lr: f64) -> [Vec<f64>; 4] {
        let mut out = self.params.clone();
        let h = 1e-6;
        for k in 0..4 {
            for e in 0..self.params[k].len() {
                let mut p = self.params.clone();
                p[k][e] += h;
                let up = self.loss(&p);
                p[k][e] -= 2.0 * h;
                let down = self.loss(&p);
                out[k][e] -= lr * (up - down) / (2.0 * h);
            }
        }
        out
    }

    /// The engine's fused step; returns the parameters after it and which
    /// of them were fused.
    fn fused_step(&self, lr: f64) -> ([Vec<f64>; 4], [bool; 4]) {
        let (i_n, h_n, o_n) = self.dims;
        let mut g = Graph::<f64>::new();
        let ids: Vec<ParamId> = [vec![i_n, h_n], vec![h_n], vec![o_n, h_n], vec![o_n]]
            .iter()
            .zip(&self.params)
            .map(|(dims, v)| g.parameter(&Tensor::from_vec(v.clone(), dims).unwrap()))
            .collect();
        let x = g.input(&Tensor::from_vec(self.x.clone(), &[self.rows, i_n]).unwrap());
        let t = g.input(&Tensor::from_vec(self.t.clone(), &[self.rows, o_n]).unwrap());
        let p = |k: usize| g.param(ids[k]).unwrap();
        let hidden = x.matmul(p(0)).unwrap().add(p(1)).unwrap().tanh();
        let y = hidden
            .matmul_t(p(2), false, true)
            .unwrap()
            .add(p(3))
            .unwrap();
        let d = y.sub(t).unwrap();
        let loss = d.mul(d).unwrap().mean();
        let fused = [0, 1, 2, 3].map(|k| g.fuses_update(loss, ids[k]));
        loss.backward_sgd(lr).unwrap();
        let after = [0, 1, 2, 3].map(|k| g.param_value(ids[k]).unwrap().into_vec());
        (after, fused)
    }
}

fn assert_close(got: &[Vec<f64>; 4], want: &[Vec<f64>; 4], what: &str) {
    for k in 0..4 {
        for (e, (&a, &b)) in got[k].iter().zip(&want[k]).enumerate() {
            assert!(
                (a - b).abs() < 1e-8,
                "{what}: parameter {k} element {e}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn a_fused_step_is_gradient_descent_on_every_product_path() {
    // (rows, in, hidden, out): tiny products (plain loop); one row (outer
    // product: W1's 64·70 ≥ 4,096 multiply-adds); products for the GEMM
    // (W1's gradient 24×8·8×40 = 7,680). Splitting over threads is
    // checked in kernels::matmul_add's own tests.
    for &(rows, i, h, o) in &[(3, 4, 5, 2), (1, 64, 70, 3), (8, 24, 40, 4)] {
        let net = Net::new(rows, i, h, o);
        let (after, fused) = net.fused_step(0.1);
        assert_eq!(
            fused,
            [true, false, true, false],
            "weights fused, biases not"
        );
        assert_close(
            &after,
            &net.expected_step(0.1),
            &format!("{rows}x{i}-{h}-{o}"),
        );
    }
}

#[test]
fn a_weight_used_twice_is_not_fused_and_still_stepped() {
    // L = mean((x·W·W)²) with W [n, n] used by two products.
    let n = 20;
    let (x0, w0) = (values(2 * n, 7, 1.0), values(n * n, 8, 0.2));
    let loss_of = |w: &[f64]| {
        let mut total = 0.0;
        for r in 0..2 {
            let first: Vec<f64> = (0..n)
                .map(|j| (0..n).map(|i| x0[r * n + i] * w[i * n + j]).sum())
                .collect();
            for j in 0..n {
                let v: f64 = (0..n).map(|i| first[i] * w[i * n + j]).sum();
                total += v * v;
            }
        }
        total / (2 * n) as f64
    };
    let mut g = Graph::<f64>::new();
    let id = g.parameter(&Tensor::from_vec(w0.clone(), &[n, n]).unwrap());
    let x = g.input(&Tensor::from_vec(x0.clone(), &[2, n]).unwrap());
    let w = g.param(id).unwrap();
    let y = x.matmul(w).unwrap().matmul(w).unwrap();
    let loss = y.mul(y).unwrap().mean();
    assert!(!g.fuses_update(loss, id));
    loss.backward_sgd(0.05).unwrap();
    let after = g.param_value(id).unwrap().into_vec();
    for e in 0..n * n {
        let (mut up, mut down) = (w0.clone(), w0.clone());
        up[e] += 1e-6;
        down[e] -= 1e-6;
        let want = w0[e] - 0.05 * (loss_of(&up) - loss_of(&down)) / 2e-6;
        assert!(
            (after[e] - want).abs() < 1e-8,
            "element {e}: {} vs {want}",
            after[e]
        );
    }
}

#[test]
fn a_fused_step_refuses_gradients_left_from_an_earlier_pass() {
    let mut g = Graph::<f64>::new();
    let id = g.parameter(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap());
    let x = g.input(&Tensor::from_vec(vec![1.0, 1.0], &[1, 2]).unwrap());
    let loss = x.matmul(g.param(id).unwrap()).unwrap().sum();
    loss.backward().unwrap();
    let err = loss.backward_sgd(0.1).unwrap_err().to_string();
    assert!(
        err.contains("backward_sgd: parameter 0 already holds a gradient"),
        "{err}"
    );
    assert!(err.contains("call zero_grad first"), "{err}");
    // Nothing was stepped: W is as it was.
    assert_eq!(
        g.param_value(id).unwrap().into_vec(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn with_anomaly_detection_nothing_is_fused_and_the_step_is_the_same() {
    let net = Net::new(3, 4, 5, 2);
    let (i_n, h_n, o_n) = net.dims;
    let mut g = Graph::<f64>::new();
    g.set_detect_anomaly(true);
    let ids: Vec<ParamId> = [vec![i_n, h_n], vec![h_n], vec![o_n, h_n], vec![o_n]]
        .iter()
        .zip(&net.params)
        .map(|(dims, v)| g.parameter(&Tensor::from_vec(v.clone(), dims).unwrap()))
        .collect();
    let x = g.input(&Tensor::from_vec(net.x.clone(), &[3, i_n]).unwrap());
    let t = g.input(&Tensor::from_vec(net.t.clone(), &[3, o_n]).unwrap());
    let p = |k: usize| g.param(ids[k]).unwrap();
    let hidden = x.matmul(p(0)).unwrap().add(p(1)).unwrap().tanh();
    let y = hidden
        .matmul_t(p(2), false, true)
        .unwrap()
        .add(p(3))
        .unwrap();
    let d = y.sub(t).unwrap();
    d.mul(d).unwrap().mean().backward_sgd(0.1).unwrap();
    let after = [0, 1, 2, 3].map(|k| g.param_value(ids[k]).unwrap().into_vec());
    assert_close(&after, &net.expected_step(0.1), "anomaly detection on");
    // Every parameter went through the ordinary gradient: all are stored.
    assert!(ids.iter().all(|&id| g.param_grad(id).is_ok()));
}

#[test]
fn a_weight_times_a_transposed_input_or_a_parameter_view_is_stepped_right() {
    // L = mean((Xᵀ·W)²) with X [r, c] used transposed (ta), W [r, o] a
    // parameter: W is fused. Then L' = mean((v·W2)²) with v = reshape of a
    // parameter vector: the view shares the parameter's storage, so W2 is
    // not fused (and nothing panics); both steps are checked against
    // finite differences.
    let (r, c, o) = (6, 9, 70);
    let (x0, w0) = (values(r * c, 9, 1.0), values(r * o, 10, 0.3));
    let loss_of = |w: &[f64]| {
        let mut total = 0.0;
        for i in 0..c {
            for j in 0..o {
                let v: f64 = (0..r).map(|p| x0[p * c + i] * w[p * o + j]).sum();
                total += v * v;
            }
        }
        total / (c * o) as f64
    };
    let mut g = Graph::<f64>::new();
    let id = g.parameter(&Tensor::from_vec(w0.clone(), &[r, o]).unwrap());
    let x = g.input(&Tensor::from_vec(x0.clone(), &[r, c]).unwrap());
    let y = x.matmul_t(g.param(id).unwrap(), true, false).unwrap();
    let loss = y.mul(y).unwrap().mean();
    assert!(g.fuses_update(loss, id));
    loss.backward_sgd(0.1).unwrap();
    let after = g.param_value(id).unwrap().into_vec();
    for e in 0..r * o {
        let (mut up, mut down) = (w0.clone(), w0.clone());
        up[e] += 1e-6;
        down[e] -= 1e-6;
        let want = w0[e] - 0.1 * (loss_of(&up) - loss_of(&down)) / 2e-6;
        assert!(
            (after[e] - want).abs() < 1e-8,
            "ta: element {e}: {} vs {want}",
            after[e]
        );
    }

    // v [1, 4] a view of the parameter u [4]; W2 [4, 3].
    let mut g = Graph::<f64>::new();
    let (u0, w20) = (vec![0.5, -1.0, 2.0, 0.25], values(12, 11, 1.0));
    let u = g.parameter(&Tensor::from_vec(u0.clone(), &[4]).unwrap());
    let w2 = g.parameter(&Tensor::from_vec(w20.clone(), &[4, 3]).unwrap());
    let v = g.param(u).unwrap().reshape(&[1, 4]).unwrap();
    let y = v.matmul(g.param(w2).unwrap()).unwrap();
    let loss = y.mul(y).unwrap().mean();
    assert!(!g.fuses_update(loss, w2));
    loss.backward_sgd(0.1).unwrap();
    // By hand: y_j = Σ_i u_i W_ij, L = Σ_j y_j² / 3, ∂L/∂W_ij = 2 u_i y_j / 3,
    // ∂L/∂u_i = Σ_j 2 y_j W_ij / 3.
    let y0: Vec<f64> = (0..3)
        .map(|j| (0..4).map(|i| u0[i] * w20[i * 3 + j]).sum())
        .collect();
    let w_after = g.param_value(w2).unwrap().into_vec();
    let u_after = g.param_value(u).unwrap().into_vec();
    for i in 0..4 {
        for j in 0..3 {
            let want = w20[i * 3 + j] - 0.1 * 2.0 * u0[i] * y0[j] / 3.0;
            assert!((w_after[i * 3 + j] - want).abs() < 1e-12);
        }
        let du: f64 = (0..3).map(|j| 2.0 * y0[j] * w20[i * 3 + j] / 3.0).sum();
        assert!((u_after[i] - (u0[i] - 0.1 * du)).abs() < 1e-12);
    }
}
