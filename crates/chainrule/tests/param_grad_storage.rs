//! Where parameter gradients live: delivered without a copy, they must
//! still behave like stored values: survive `clear`, add up over several
//! backward passes, and be scaled once each even when two parameters share
//! one gradient node. Every expected number is worked out by hand.

use chainrule::{Graph, Tensor};

fn t(data: &[f64], dims: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), dims).unwrap()
}

/// L = Σ (p · x) with x = [2, 3]: ∂L/∂p = x.
fn backward_once(g: &Graph<f64>, p: chainrule::ParamId, x: &Tensor<f64>) {
    let loss = g.param(p).unwrap().mul(g.input(x)).unwrap().sum();
    loss.backward().unwrap();
}

#[test]
fn gradients_survive_clear_and_add_up_over_passes() {
    let mut g = Graph::<f64>::new();
    let p = g.parameter(&t(&[1.0, 1.0], &[2]));
    let x = t(&[2.0, 3.0], &[2]);
    backward_once(&g, p, &x);
    g.clear();
    // Still there after the arena was reset, and a fresh tape that writes
    // over the old values does not change it.
    let _ = g.input(&t(&[9.0, 9.0, 9.0, 9.0], &[4]));
    assert_eq!(g.param_grad(p).unwrap().into_vec(), vec![2.0, 3.0]);
    // A second pass adds: 2·[2, 3] = [4, 6]; a third within one tape too.
    backward_once(&g, p, &x);
    backward_once(&g, p, &x);
    assert_eq!(g.param_grad(p).unwrap().into_vec(), vec![6.0, 9.0]);
    g.zero_grad();
    g.clear();
    assert!(g.param_grad(p).is_err());
}

#[test]
fn sgd_update_reads_the_delivered_gradient() {
    let mut g = Graph::<f64>::new();
    let p = g.parameter(&t(&[1.0, -1.0], &[2]));
    backward_once(&g, p, &t(&[2.0, 3.0], &[2]));
    // θ ← θ − 0.5 ∂L/∂θ = [1 − 1, −1 − 1.5].
    chainrule::worked::sgd_update(&mut g, 0.5);
    g.zero_grad();
    g.clear();
    let v = g.param(p).unwrap().value().into_vec();
    assert_eq!(v, vec![0.0, -2.5]);
}

#[test]
fn a_gradient_node_shared_by_two_parameters_is_scaled_once_for_each() {
    let mut g = Graph::<f64>::new();
    let a = g.parameter(&t(&[1.0, 2.0], &[2]));
    let b = g.parameter(&t(&[3.0, 4.0], &[2]));
    // L = Σ (a + b): both gradients are the same upstream ones.
    let loss = g.param(a).unwrap().add(g.param(b).unwrap()).unwrap().sum();
    loss.backward().unwrap();
    g.update_grads(|_, grad| grad.iter_mut().for_each(|v| *v *= 3.0));
    assert_eq!(g.param_grad(a).unwrap().into_vec(), vec![3.0, 3.0]);
    assert_eq!(g.param_grad(b).unwrap().into_vec(), vec![3.0, 3.0]);
    let mut seen = Vec::new();
    g.for_each_grad(|p, grad| seen.push((p.index(), grad.to_vec())));
    assert_eq!(seen, vec![(0, vec![3.0, 3.0]), (1, vec![3.0, 3.0])]);
}
