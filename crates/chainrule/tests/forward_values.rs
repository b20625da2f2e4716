//! Forward values of the operations whose results are masks or
//! selections (leaky_relu, clamp and its mask, sign, step_mask,
//! gather_rows) against closed forms worked out by hand, in f32 and f64:
//! the gradient table (`op_gradients.rs`) checks derivatives, which a wrong
//! forward value with a matching wrong derivative would pass.

use chainrule::{Graph, Tensor};

/// `got` equals `want` element by element to 2 ulps of `F` (relative).
fn forward_is<F: chainrule::Float>(got: &[F], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let ulp = F::epsilon().as_f64();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = g.as_f64();
        assert!(
            (g - w).abs() <= 2.0 * ulp * w.abs(),
            "{what} ({}) [{i}]: got {g:e}, want {w:e}",
            F::NAME
        );
    }
}

fn forward_values_of_masks_and_selections<F: chainrule::Float>() {
    let g = Graph::<F>::new();
    let v = |x: &[f64]| g.input(&Tensor::from_f64(x, &[x.len()]).unwrap());
    // leaky_relu(x) = x for x > 0, else 0.1·x.
    forward_is(
        &v(&[-2.0, -0.5, 0.0, 0.5, 3.0]).leaky_relu(0.1).to_vec(),
        &[-0.2, -0.05, 0.0, 0.5, 3.0],
        "leaky_relu",
    );
    // clamp to [−1, 0.5], and its mask 1 on [lo, hi] (ends included).
    let x = [-3.0, -1.0, 0.2, 0.5, 7.0];
    forward_is(
        &v(&x).clamp(-1.0, 0.5).to_vec(),
        &[-1.0, -1.0, 0.2, 0.5, 0.5],
        "clamp",
    );
    forward_is(
        &v(&x).clamp_mask(-1.0, 0.5).to_vec(),
        &[0.0, 1.0, 1.0, 1.0, 0.0],
        "clamp_mask",
    );
    // sign ∈ {−1, 0, 1}; sign(±0) = 0; the smallest positive normal is 1.
    let tiny = F::min_positive_value().as_f64();
    forward_is(
        &v(&[-3.0, -0.0, 0.0, tiny, 5.0]).sign().to_vec(),
        &[-1.0, 0.0, 0.0, 1.0, 1.0],
        "sign",
    );
    // step_mask(0.1): 1 where x > 0, else 0.1 (0 itself takes the slope).
    forward_is(
        &v(&[-2.0, 0.0, tiny, 4.0]).step_mask(0.1).to_vec(),
        &[0.1, 0.1, 1.0, 1.0],
        "step_mask",
    );
    // gather_rows: out[i] = x[i, labels[i]]; ∂ is 1 at [i, labels[i]].
    let x = g.variable(&Tensor::from_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    let picked = x.gather_rows(&[2, 0]).unwrap();
    forward_is(&picked.to_vec(), &[3.0, 4.0], "gather_rows");
    picked.sum().backward().unwrap();
    forward_is(
        x.grad().unwrap().data(),
        &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        "gather_rows'",
    );
    assert!(x.gather_rows(&[3, 0]).is_err(), "a label past the classes");
}

#[test]
fn forward_values_of_leaky_relu_clamp_sign_step_mask_and_gather_rows() {
    forward_values_of_masks_and_selections::<f64>();
    forward_values_of_masks_and_selections::<f32>();
}
