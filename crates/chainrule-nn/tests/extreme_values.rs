//! Numerical stability at extreme values, in f32 and f64, through the graph
//! (forward and backward), against values worked out by hand in f64 (the
//! arithmetic is in the comments). What the engine's and the loss module's
//! own tests already cover (the softmax kernels at ±1e4, cross-entropy and
//! BCE on logits in f64, BCE on probabilities in f64, anomaly reports of
//! exp overflow) is not repeated; this file adds the graph-level softmax
//! and log-softmax with their gradients, f32 throughout, sigmoid, tanh and
//! softplus at ±1e4, and exp at the edge of overflow.

use chainrule::{Float, Graph, Tensor};
use chainrule_nn::loss::{bce, bce_with_logits, cross_entropy, Reduction};

/// `got` within `rel` of `want`, relative to `want` itself (a value of
/// 2.4e-7 is checked to 2.4e-7·rel, not to rel), plus `floor` for values
/// that carry no relative precision (results below the smallest normal
/// number, or exact zeros reached by cancellation); infinities exactly.
fn close_with(got: f64, want: f64, rel: f64, floor: f64, what: &str) {
    let ok = if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= rel * want.abs() + floor
    };
    assert!(
        ok,
        "{what}: got {got:e}, want {want:e} (relative error {:.2e}, allowed {rel:e} + {floor:e})",
        (got - want).abs() / want.abs()
    );
}

/// Relative to the value, with the smallest normal number of `F` as the
/// floor (subnormal results have no relative precision to check).
fn close<F: Float>(got: f64, want: f64, rel: f64, what: &str) {
    close_with(got, want, rel, F::min_positive_value().as_f64(), what);
}

fn all_close<F: Float>(got: &[F], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close::<F>(g.as_f64(), *w, rel, &format!("{what} [{i}] ({})", F::NAME));
    }
}

/// Machine precision of `F`, as the tolerance of its results.
fn tol<F: Float>() -> f64 {
    F::epsilon().as_f64() * 4.0
}

fn softmax_and_log_softmax<F: Float>() {
    // Rows: [1e4, 0, −1e4] and equal logits [5, 5, 5]; loss Σ w ⊙ out with
    // w = [1, 2, 3] on each row.
    // softmax: row 1 is [1, 0, 0] (e^−1e4 underflows to exactly 0),
    // row 2 is [1/3, 1/3, 1/3]. Gradient p ⊙ (w − Σ p w):
    // row 1: Σpw = 1 → [0, 0, 0]; row 2: Σpw = 2 → [−1/3, 0, 1/3].
    // log_softmax: row 1 is [0, −1e4, −2e4], row 2 is ln(1/3) = −1.0986122886681098
    // each. Gradient w − p Σw with Σw = 6: row 1 [−5, 2, 3], row 2 [−1, 0, 1].
    let logits = [1e4, 0.0, -1e4, 5.0, 5.0, 5.0];
    let w = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
    let third = 1.0 / 3.0;
    let ln_third = -1.098_612_288_668_109_8;
    for log in [false, true] {
        let g = Graph::<F>::new();
        let z = g.variable(&Tensor::from_f64(&logits, &[2, 3]).unwrap());
        let weights = g.input(&Tensor::from_f64(&w, &[2, 3]).unwrap());
        let out = if log {
            z.log_softmax(1).unwrap()
        } else {
            z.softmax(1).unwrap()
        };
        out.mul(weights).unwrap().sum().backward().unwrap();
        let (values, grads) = if log {
            (
                [0.0, -1e4, -2e4, ln_third, ln_third, ln_third],
                [-5.0, 2.0, 3.0, -1.0, 0.0, 1.0],
            )
        } else {
            (
                [1.0, 0.0, 0.0, third, third, third],
                [0.0, 0.0, 0.0, -third, 0.0, third],
            )
        };
        let name = if log { "log_softmax" } else { "softmax" };
        all_close(&out.to_vec(), &values, tol::<F>(), name);
        // The gradient's zeros in row 2 come from cancelling terms of size
        // Σ p w = 2 (softmax) and Σ w = 6 (log_softmax): they are checked to
        // 4ε of that size, the rest relative to the value.
        for (i, (got, want)) in z.grad().unwrap().data().iter().zip(grads).enumerate() {
            let floor = if want == 0.0 { 6.0 * tol::<F>() } else { 0.0 };
            close_with(
                got.as_f64(),
                want,
                tol::<F>(),
                floor,
                &format!("{name}' [{i}] ({})", F::NAME),
            );
        }
    }
}

#[test]
fn softmax_and_log_softmax_at_plus_minus_1e4_and_equal_logits() {
    softmax_and_log_softmax::<f32>();
    softmax_and_log_softmax::<f64>();
}

#[test]
fn cross_entropy_in_f32_at_plus_minus_1e4() {
    // Row [1e4, 0, −1e4] with label 2: −log_softmax = 2e4; row [5, 5, 5]
    // with label 0: ln 3 = 1.0986122886681098. Sum 20001.09861228867.
    // Gradient p − onehot: [1, 0, −1] and [1/3 − 1, 1/3, 1/3].
    let g = Graph::<f32>::new();
    let z = g.variable(&Tensor::from_f64(&[1e4, 0.0, -1e4, 5.0, 5.0, 5.0], &[2, 3]).unwrap());
    let l = cross_entropy(z, &[2, 0], Reduction::Sum).unwrap();
    close::<f32>(
        l.item().unwrap().as_f64(),
        20_001.098_612_288_67,
        1e-7,
        "cce loss",
    );
    l.backward().unwrap();
    let third = 1.0 / 3.0;
    all_close(
        z.grad().unwrap().data(),
        &[1.0, 0.0, -1.0, third - 1.0, third, third],
        tol::<f32>(),
        "cce gradient",
    );
}

fn activations<F: Float>() {
    // x = [1e4, −1e4, 100, −100, 0]:
    // σ(x) = [1, 0, 1 − 3.7e−44 → 1, 3.7200759760208356e−44, 1/2] with
    // σ' = σ(1 − σ) = [0, 0, 0, 3.7e−44, 1/4]: at x = 100 the true 3.7e−44
    // is lost because σ(100) rounds to 1 in both formats (PyTorch's
    // σ(1 − σ) gives the same 0); 3.7e−44 is subnormal in f32, checked to
    // the smallest normal number there;
    // tanh(x) = [1, −1, 1, −1, 0] with tanh' = 1 − tanh² = [0, 0, 0, 0, 1];
    // softplus(x) = ln(1 + eˣ) = [1e4, 0, 100, 3.7e−44, ln 2] with
    // softplus' = σ(x).
    let x = [1e4, -1e4, 100.0, -100.0, 0.0];
    let tiny = 3.720_075_976_020_835_6e-44;
    let ln2 = std::f64::consts::LN_2;
    let cases: [(&str, [f64; 5], [f64; 5]); 3] = [
        (
            "sigmoid",
            [1.0, 0.0, 1.0, tiny, 0.5],
            [0.0, 0.0, 0.0, tiny, 0.25],
        ),
        (
            "tanh",
            [1.0, -1.0, 1.0, -1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ),
        (
            "softplus",
            [1e4, 0.0, 100.0, tiny, ln2],
            [1.0, 0.0, 1.0, tiny, 0.5],
        ),
    ];
    for (name, values, grads) in cases {
        let g = Graph::<F>::new();
        let v = g.variable(&Tensor::from_f64(&x, &[5]).unwrap());
        let y = match name {
            "sigmoid" => v.sigmoid(),
            "tanh" => v.tanh(),
            _ => v.softplus(),
        };
        y.sum().backward().unwrap();
        let out = y.to_vec();
        let grad = v.grad().unwrap().into_vec();
        assert!(
            out.iter().chain(&grad).all(|t| t.is_finite()),
            "{name} {}: {out:?} {grad:?}",
            F::NAME
        );
        all_close(&out, &values, tol::<F>(), name);
        all_close(&grad, &grads, tol::<F>(), &format!("{name}'"));
    }
}

#[test]
fn sigmoid_tanh_and_softplus_at_plus_minus_1e4() {
    activations::<f32>();
    activations::<f64>();
}

#[test]
fn exp_overflows_to_infinity_only_where_the_format_must() {
    // e^709 = 8.218407461554972e307 fits in f64, e^710 does not; e^88 =
    // 1.6516362549940018e38 fits in f32 (as 1.6516362661361307e38), e^89
    // does not. e^−1e4 underflows to 0 in both, with gradient 0.
    let g = Graph::<f64>::new();
    let x = g.variable(&Tensor::from_f64(&[709.0, 710.0, -1e4], &[3]).unwrap());
    let y = x.exp();
    y.sum().backward().unwrap();
    all_close(
        &y.to_vec(),
        &[8.218_407_461_554_972e307, f64::INFINITY, 0.0],
        1e-15,
        "exp f64",
    );
    all_close(
        &x.grad().unwrap().into_vec(),
        &[8.218_407_461_554_972e307, f64::INFINITY, 0.0],
        1e-15,
        "exp' f64",
    );
    let g = Graph::<f32>::new();
    let x = g.variable(&Tensor::from_f64(&[88.0, 89.0, -1e4], &[3]).unwrap());
    let y = x.exp();
    y.sum().backward().unwrap();
    all_close(
        &y.to_vec(),
        &[1.651_636_266_136_130_7e38, f64::INFINITY, 0.0],
        1e-6,
        "exp f32",
    );
    all_close(
        &x.grad().unwrap().into_vec(),
        &[1.651_636_266_136_130_7e38, f64::INFINITY, 0.0],
        1e-6,
        "exp' f32",
    );
}

#[test]
fn bce_on_probabilities_zero_and_one_in_f32() {
    // p = [0, 1] against y = [1, 0]: both clamped to ε = 2⁻²³ from the wrong
    // end, loss −2 ln ε = 2 · 15.942385152878742 = 31.884770305757484.
    // p = [0, 1] against y = [0, 1]: −2 ln(1 − ε) = 2.384185791015625e−7 (≈ 2ε).
    let g = Graph::<f32>::new();
    let p = g.variable(&Tensor::from_f64(&[0.0, 1.0], &[2]).unwrap());
    let wrong = bce(
        p,
        g.input(&Tensor::from_f64(&[1.0, 0.0], &[2]).unwrap()),
        Reduction::Sum,
    )
    .unwrap();
    close::<f32>(
        wrong.item().unwrap().as_f64(),
        31.884_770_305_757_484,
        1e-6,
        "bce wrong",
    );
    wrong.backward().unwrap();
    // p = 0 and 1 lie outside the clamp: ∂clamp/∂p = 0, the gradient is 0.
    assert_eq!(p.grad().unwrap().data(), [0.0, 0.0]);
    let g = Graph::<f32>::new();
    let p = g.variable(&Tensor::from_f64(&[0.0, 1.0], &[2]).unwrap());
    let right = bce(
        p,
        g.input(&Tensor::from_f64(&[0.0, 1.0], &[2]).unwrap()),
        Reduction::Sum,
    )
    .unwrap();
    // Relative to the value: −2 ln(1 − 2⁻²³) in f32, where ln(1 − 2⁻²³)
    // rounds to −2⁻²³ (its next term, 2⁻⁴⁷, is below the f32 spacing).
    close::<f32>(
        right.item().unwrap().as_f64(),
        2.384_185_791_015_625e-7,
        tol::<f32>(),
        "bce right",
    );
    right.backward().unwrap();
    // Outside the clamp [ε, 1 − ε] the clamp's derivative is 0 (as
    // PyTorch's clamp), so both gradients are exactly 0.
    assert_eq!(p.grad().unwrap().data(), [0.0, 0.0]);
}

/// Equal logits of −1e4 in f32: the answer is ln 2 (cross-entropy) and
/// −ln 2 (log-softmax). Computing `m + ln Σe^(z−m)` first and then
/// subtracting `z` would round ln 2 to the f32 spacing at 1e4 (2⁻¹⁰,
/// giving 0.69336); the engine computes `ln Σ − (z − m)`, which keeps it.
#[test]
fn equal_logits_of_minus_1e4_in_f32_keep_ln_2() {
    let g = Graph::<f32>::new();
    let z = g.variable(&Tensor::from_f64(&[-1e4, -1e4], &[1, 2]).unwrap());
    let l = cross_entropy(z, &[1], Reduction::Mean).unwrap();
    close::<f32>(
        l.item().unwrap().as_f64(),
        std::f64::consts::LN_2,
        tol::<f32>(),
        "cce ln 2",
    );
    l.backward().unwrap();
    all_close(z.grad().unwrap().data(), &[0.5, -0.5], tol::<f32>(), "±1/2");
    let lp = z.log_softmax(1).unwrap().to_vec();
    all_close(
        &lp,
        &[-std::f64::consts::LN_2; 2],
        tol::<f32>(),
        "log_softmax",
    );
}

#[test]
fn bce_gradients_at_the_clamp_edges_in_f32() {
    // p = [ε, 1 − ε] (ε = 2⁻²³, inside the clamp, ends included) against
    // y = [1, 0]: ∂/∂p = (p − y) / (p(1 − p)) = −1/ε and 1/ε = ∓2²³ =
    // ∓8388608, exact in f32 (1 − (1 − 2⁻²³) is exactly 2⁻²³). The loss is
    // −2 ln ε = 2 · 23 ln 2 = 31.884770305757484.
    let eps = 2f64.powi(-23);
    let g = Graph::<f32>::new();
    let p = g.variable(&Tensor::from_f64(&[eps, 1.0 - eps], &[2]).unwrap());
    let y = g.input(&Tensor::from_f64(&[1.0, 0.0], &[2]).unwrap());
    let l = bce(p, y, Reduction::Sum).unwrap();
    close::<f32>(
        l.item().unwrap().as_f64(),
        31.884_770_305_757_484,
        1e-6,
        "bce edge",
    );
    l.backward().unwrap();
    all_close(
        p.grad().unwrap().data(),
        &[-8_388_608.0, 8_388_608.0],
        tol::<f32>(),
        "bce edge'",
    );
}

#[test]
fn bce_with_logits_gradients_at_plus_minus_1e4_in_f32() {
    // z = [1e4, −1e4, 0, 2], y = [0, 1, 1, 0], mean over n = 4:
    // loss softplus(z) − y z = [1e4, 1e4, ln 2, ln(1 + e²)], mean
    // (2e4 + ln 2 + 2.1269280110429727) / 4 = 5000.705161...;
    // ∂/∂z = (σ(z) − y) / n = [1/4, −1/4, −1/8, σ(2)/4] with
    // σ(2) = 0.8807970779778823.
    let g = Graph::<f32>::new();
    let z = g.variable(&Tensor::from_f64(&[1e4, -1e4, 0.0, 2.0], &[4]).unwrap());
    let y = g.input(&Tensor::from_f64(&[0.0, 1.0, 1.0, 0.0], &[4]).unwrap());
    let l = bce_with_logits(z, y, Reduction::Mean).unwrap();
    let want = (2e4 + std::f64::consts::LN_2 + 2.126_928_011_042_972_7) / 4.0;
    close::<f32>(l.item().unwrap().as_f64(), want, tol::<f32>(), "bce logits");
    l.backward().unwrap();
    all_close(
        z.grad().unwrap().data(),
        &[0.25, -0.25, -0.125, 0.880_797_077_977_882_3 / 4.0],
        tol::<f32>(),
        "bce logits'",
    );
}
