//! The three worked examples of the forward/backward lesson, with every
//! expected number computed independently (by hand, in f64) and written
//! into the test.

use chainrule::{Graph, Tensor};

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: got {actual}, expected {expected}"
    );
}

fn close_all(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        close(a, e, &format!("{what}[{i}]"));
    }
}

fn t(data: &[f64], dims: &[usize]) -> Tensor<f64> {
    Tensor::from_f64(data, dims).unwrap()
}

/// Example 1: the 2-2-1 sigmoid network with MSE loss.
#[test]
fn two_two_one_network_forward_backward_and_sgd_step() {
    let mut g = Graph::<f64>::new();
    let w1 = g.parameter(&t(&[0.15, 0.20, 0.25, 0.30], &[2, 2]));
    let b1 = g.parameter(&t(&[0.35, 0.35], &[2]));
    let w2 = g.parameter(&t(&[0.40, 0.45], &[1, 2]));
    let b2 = g.parameter(&t(&[0.60], &[1]));
    let x = t(&[0.05, 0.10], &[1, 2]);
    let target = t(&[1.0], &[1, 1]);

    let loss_before = {
        let xv = g.input(&x);
        let z1 = xv
            .matmul_t(g.param(w1).unwrap(), false, true)
            .unwrap()
            .add(g.param(b1).unwrap())
            .unwrap();
        z1.retain_grad();
        let h = z1.sigmoid();
        h.retain_grad();
        let z2 = h
            .matmul_t(g.param(w2).unwrap(), false, true)
            .unwrap()
            .add(g.param(b2).unwrap())
            .unwrap();
        z2.retain_grad();
        let y = z2.sigmoid();
        y.retain_grad();
        let loss = y.sub(g.input(&target)).unwrap().square().mean();
        close_all(&z1.value().to_f64_vec(), &[0.3775, 0.3925], "z1");
        close_all(&h.value().to_f64_vec(), &[0.593270, 0.596884], "h");
        close(z2.item().unwrap(), 1.105906, "z2");
        close(y.item().unwrap(), 0.751365, "y_hat");
        close(loss.item().unwrap(), 0.0618193, "loss");
        loss.backward().unwrap();
        close(y.grad().unwrap().item().unwrap(), -0.497270, "dL/dy_hat");
        close(z2.grad().unwrap().item().unwrap(), -0.0928978, "delta2");
        close_all(
            &z1.grad().unwrap().to_f64_vec(),
            &[-0.00896652, -0.0100586],
            "delta1",
        );
        loss.item().unwrap()
    };
    close_all(
        &g.param_grad(w2).unwrap().to_f64_vec(),
        &[-0.0551135, -0.0554492],
        "dL/dW2",
    );
    close_all(
        &g.param_grad(b2).unwrap().to_f64_vec(),
        &[-0.0928978],
        "dL/db2",
    );
    close_all(
        &g.param_grad(w1).unwrap().to_f64_vec(),
        &[-0.000448326, -0.000896652, -0.000502930, -0.00100586],
        "dL/dW1",
    );
    close_all(
        &g.param_grad(b1).unwrap().to_f64_vec(),
        &[-0.00896652, -0.0100586],
        "dL/db1",
    );

    // One SGD step with learning rate 0.5 lowers the loss.
    g.update_params(|_, value, grad| {
        for (v, d) in value.iter_mut().zip(grad) {
            *v -= 0.5 * d;
        }
    });
    g.zero_grad();
    g.clear();
    let xv = g.input(&x);
    let h = xv
        .matmul_t(g.param(w1).unwrap(), false, true)
        .unwrap()
        .add(g.param(b1).unwrap())
        .unwrap()
        .sigmoid();
    let y = h
        .matmul_t(g.param(w2).unwrap(), false, true)
        .unwrap()
        .add(g.param(b2).unwrap())
        .unwrap()
        .sigmoid();
    let loss_after = y
        .sub(g.input(&target))
        .unwrap()
        .square()
        .mean()
        .item()
        .unwrap();
    assert!(loss_after < loss_before, "{loss_after} !< {loss_before}");
    // The loss after one step, as PyTorch, JAX, candle, burn and micrograd
    // all print it (shared/WORKLOADS.md, W1 after 1 step).
    close(loss_after, 0.0547188, "loss after one step");
}

/// Example 2: a shared node, f(x, y) = (x + y)(x − 1) at (3, 2).
#[test]
fn gradient_accumulates_at_a_shared_node() {
    let g = Graph::<f64>::new();
    let x = g.scalar_variable(3.0);
    let y = g.scalar_variable(2.0);
    let f = x.add(y).unwrap().mul(x.add_scalar(-1.0)).unwrap();
    f.backward().unwrap();
    close(f.item().unwrap(), 10.0, "f");
    close(
        x.grad().unwrap().item().unwrap(),
        7.0,
        "df/dx = (x - 1) + (x + y)",
    );
    close(y.grad().unwrap().item().unwrap(), 2.0, "df/dy = x - 1");
}

/// Example 3: the gradient through a chain of five sigmoids shrinks by
/// σ'(z) = σ(z)(1 − σ(z)) per link.
#[test]
fn vanishing_gradient_through_five_sigmoids() {
    for (output, factor) in [(0.9f64, 0.09f64), (0.5, 0.25)] {
        // Each link is σ(z_k) with z_k chosen so that σ(z_k) = output:
        // z_k = logit(output) + (previous value), built as s_k = σ(s_{k-1} + c_k).
        let logit = (output / (1.0 - output)).ln();
        let g = Graph::<f64>::new();
        let input = g.scalar_variable(0.0);
        let mut s = input;
        let mut previous = 0.0;
        for _ in 0..5 {
            s = s.add_scalar(logit - previous).sigmoid();
            previous = output;
        }
        close(s.item().unwrap(), output, "chain output");
        s.backward().unwrap();
        let expected = factor.powi(5);
        let got = input.grad().unwrap().item().unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }
    // The lesson's figures: 0.09^5 ≈ 5.9e-6 and 0.25^5 ≈ 9.8e-4.
    assert!((0.09f64.powi(5) - 5.9e-6).abs() < 0.05e-6);
    assert!((0.25f64.powi(5) - 9.8e-4).abs() < 0.05e-4);
}
