//! Higher-order gradients: the backward pass recorded and differentiated
//! again, checked against closed forms and against finite differences of
//! the gradient.

use chainrule::{Graph, Tensor};

#[test]
fn second_and_third_derivative_of_x_cubed() {
    for x0 in [-1.5, 0.5, 2.0] {
        let g = Graph::<f64>::new();
        let x = g.scalar_variable(x0);
        let y = x.pow(3.0);
        let dy = g.gradients(y, &[x], true).unwrap()[0];
        let d2y = g.gradients(dy, &[x], true).unwrap()[0];
        let d3y = g.gradients(d2y, &[x], false).unwrap()[0];
        assert!((dy.item().unwrap() - 3.0 * x0 * x0).abs() < 1e-12);
        assert!(
            (d2y.item().unwrap() - 6.0 * x0).abs() < 1e-12,
            "d²/dx² x³ = 6x"
        );
        assert!((d3y.item().unwrap() - 6.0).abs() < 1e-12, "d³/dx³ x³ = 6");
    }
}

#[test]
fn backward_create_graph_then_grad_of_grad() {
    // f(x) = sin(x) · x: f' = cos x · x + sin x, f'' = 2 cos x − x sin x.
    let g = Graph::<f64>::new();
    let x0 = 0.7f64;
    let x = g.scalar_variable(x0);
    let f = x.sin().mul(x).unwrap();
    f.backward_create_graph().unwrap();
    let df = x.grad_var().unwrap();
    assert!((df.item().unwrap() - (x0.cos() * x0 + x0.sin())).abs() < 1e-12);
    let d2f = g.gradients(df, &[x], false).unwrap()[0];
    assert!((d2f.item().unwrap() - (2.0 * x0.cos() - x0 * x0.sin())).abs() < 1e-12);
}

/// The loss of a 3-4-2 tanh/sigmoid MLP with softmax cross-entropy on a
/// batch of 5, as a function of its four parameter tensors.
fn mlp_loss<'g>(g: &'g Graph<f64>, p: &[chainrule::Var<'g, f64>]) -> chainrule::Var<'g, f64> {
    let x = g.input(&Tensor::uniform(&[5, 3], -1.0, 1.0, 1).unwrap());
    let h = x
        .matmul_t(p[0], false, true)
        .unwrap()
        .add(p[1])
        .unwrap()
        .tanh();
    let logits = h
        .matmul_t(p[2], false, true)
        .unwrap()
        .add(p[3])
        .unwrap()
        .sigmoid();
    let labels = [0, 1, 1, 0, 1];
    logits
        .log_softmax(1)
        .unwrap()
        .gather_rows(&labels)
        .unwrap()
        .mean()
        .neg()
}

fn params() -> Vec<Tensor<f64>> {
    vec![
        Tensor::normal(&[4, 3], 0.0, 0.8, 2).unwrap(),
        Tensor::normal(&[4], 0.0, 0.3, 3).unwrap(),
        Tensor::normal(&[2, 4], 0.0, 0.8, 4).unwrap(),
        Tensor::normal(&[2], 0.0, 0.3, 5).unwrap(),
    ]
}

/// The gradient of the loss at the given parameters (first order only).
fn gradient(p: &[Tensor<f64>]) -> Vec<f64> {
    let g = Graph::new();
    let vars: Vec<_> = p.iter().map(|t| g.variable(t)).collect();
    let loss = mlp_loss(&g, &vars);
    g.gradients(loss, &vars, false)
        .unwrap()
        .iter()
        .flat_map(|v| v.to_vec())
        .collect()
}

#[test]
fn hessian_vector_product_of_an_mlp_matches_finite_differences() {
    let p = params();
    let v: Vec<Tensor<f64>> = p
        .iter()
        .enumerate()
        .map(|(k, t)| Tensor::uniform(t.dims(), -1.0, 1.0, 50 + k as u64).unwrap())
        .collect();

    // Analytical: H v = ∇(∇L · v), differentiating the recorded backward pass.
    let g = Graph::new();
    let vars: Vec<_> = p.iter().map(|t| g.variable(t)).collect();
    let loss = mlp_loss(&g, &vars);
    let grads = g.gradients(loss, &vars, true).unwrap();
    let mut dot = g.scalar(0.0);
    for (gr, vk) in grads.iter().zip(&v) {
        dot = dot.add(gr.mul(g.input(vk)).unwrap().sum()).unwrap();
    }
    let hv: Vec<f64> = g
        .gradients(dot, &vars, false)
        .unwrap()
        .iter()
        .flat_map(|t| t.to_vec())
        .collect();

    // Numerical: (∇L(θ + εv) − ∇L(θ − εv)) / 2ε.
    let eps = 1e-5;
    let shifted = |sign: f64| -> Vec<Tensor<f64>> {
        p.iter()
            .zip(&v)
            .map(|(t, vk)| {
                let data: Vec<f64> = t
                    .data()
                    .iter()
                    .zip(vk.data())
                    .map(|(a, b)| a + sign * eps * b)
                    .collect();
                Tensor::from_vec(data, t.dims()).unwrap()
            })
            .collect()
    };
    let (plus, minus) = (gradient(&shifted(1.0)), gradient(&shifted(-1.0)));
    assert_eq!(hv.len(), plus.len());
    let mut max_err = 0.0f64;
    for i in 0..hv.len() {
        let numeric = (plus[i] - minus[i]) / (2.0 * eps);
        max_err = max_err.max((hv[i] - numeric).abs());
        assert!(
            (hv[i] - numeric).abs() < 1e-7 + 1e-5 * numeric.abs(),
            "element {i}: {} vs {numeric}",
            hv[i]
        );
    }
    assert!(
        hv.iter().any(|h| h.abs() > 1e-3),
        "the product must not be trivially zero"
    );
    eprintln!("HVP max abs error vs finite differences: {max_err:e}");
}

#[test]
fn backward_with_a_seed_is_a_vector_jacobian_product() {
    // y = x² elementwise; with seed v the gradient is vᵀ J = 2 x ⊙ v.
    let g = Graph::<f64>::new();
    let x = g.variable(&Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).unwrap());
    let y = x.square();
    y.backward_with(&Tensor::from_vec(vec![1.0, 0.5, -1.0], &[3]).unwrap())
        .unwrap();
    assert_eq!(x.grad().unwrap().into_vec(), vec![2.0, -2.0, -6.0]);
    // A second backward pass accumulates into the leaf (as PyTorch).
    y.backward_with(&Tensor::from_vec(vec![1.0, 1.0, 1.0], &[3]).unwrap())
        .unwrap();
    assert_eq!(x.grad().unwrap().into_vec(), vec![4.0, -6.0, 0.0]);
}

#[test]
fn no_grad_and_detach_stop_gradients() {
    let g = Graph::<f64>::new();
    let x = g.scalar_variable(2.0);
    // d/dx [x · detach(x)] = detach(x) = 2, not 2x = 4.
    let y = x.mul(x.detach()).unwrap();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().item().unwrap(), 2.0);
    let z = {
        let _off = g.no_grad();
        x.mul(x).unwrap()
    };
    assert!(!z.requires_grad());
    assert!(z.backward().is_err());
    assert!(g.is_grad_enabled(), "the guard restores recording");
}
