//! `Var::backward_notify`: each parameter's gradient is reported once,
//! during the reverse loop, right after the backward rule of its
//! lowest-index consumer, and the reported gradient is already final.
//! The order and the values are worked out by hand; the finality check
//! compares with the gradients a plain `backward` leaves.

use chainrule::{Graph, ParamId, Tensor, Var};

fn t(data: &[f64], dims: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), dims).unwrap()
}

/// w = 2, u = 3, v = 5 (parameters 0, 1, 2), then
/// n3 = w·u, n4 = n3·v, n5 = n4 + w, L = n6 = n5·u = (w·u·v + w)·u.
/// By hand: ∂L/∂w = u²v + u = 48, ∂L/∂u = 2wuv + w = 62, ∂L/∂v = wu² = 18.
/// w feeds n3 and n5, u feeds n3 and n6: their lowest consumer is n3, so
/// both become final only after n3's rule, v after n4's. The reverse loop
/// runs n6, n5, n4 (v ready), n3 (u, then w: the last parameter first).
#[test]
fn parameters_become_ready_after_their_lowest_consumer_in_reverse_order() {
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&t(&[2.0], &[1]));
    let u = g.parameter(&t(&[3.0], &[1]));
    let v = g.parameter(&t(&[5.0], &[1]));
    let (pw, pu, pv) = (
        g.param(w).unwrap(),
        g.param(u).unwrap(),
        g.param(v).unwrap(),
    );
    let n3 = pw.mul(pu).unwrap();
    let n4 = n3.mul(pv).unwrap();
    let n5 = n4.add(pw).unwrap();
    let n6 = n5.mul(pu).unwrap().sum();
    assert_eq!((n3.id(), n4.id(), n5.id()), (3, 4, 5));
    let mut seen: Vec<(usize, Vec<f64>)> = Vec::new();
    n6.backward_notify(&mut |p: ParamId, grad: &[f64]| seen.push((p.index(), grad.to_vec())))
        .unwrap();
    assert_eq!(
        seen,
        vec![(2, vec![18.0]), (1, vec![62.0]), (0, vec![48.0])]
    );
    // The stored gradients are the same numbers.
    assert_eq!(g.param_grad(w).unwrap().into_vec(), vec![48.0]);
    assert_eq!(g.param_grad(u).unwrap().into_vec(), vec![62.0]);
    assert_eq!(g.param_grad(v).unwrap().into_vec(), vec![18.0]);
}

/// A parameter the loss does not depend on, and one frozen out of the
/// computation by `no_grad`, are not reported; the others are, once each.
#[test]
fn parameters_without_a_gradient_are_not_reported() {
    let mut g = Graph::<f64>::new();
    let a = g.parameter(&t(&[1.0, 2.0], &[2]));
    let unused = g.parameter(&t(&[7.0], &[1]));
    let b = g.parameter(&t(&[3.0, 4.0], &[2]));
    let frozen = g.parameter(&t(&[0.5, 0.5], &[2]));
    let _ = g.param(unused).unwrap();
    let fixed = {
        let _off = g.no_grad();
        g.param(frozen).unwrap().mul(g.scalar(2.0)).unwrap()
    };
    // L = Σ a·b·fixed: ∂L/∂a = b·1 = [3, 4], ∂L/∂b = a·1 = [1, 2].
    let ab = g.param(a).unwrap().mul(g.param(b).unwrap()).unwrap();
    let loss = ab.mul(fixed).unwrap().sum();
    let mut seen: Vec<(usize, Vec<f64>)> = Vec::new();
    loss.backward_notify(&mut |p, grad| seen.push((p.index(), grad.to_vec())))
        .unwrap();
    assert_eq!(seen, vec![(2, vec![1.0, 2.0]), (0, vec![3.0, 4.0])]);
}

/// A two-layer network where the first layer's weight feeds two paths (a
/// skip connection): every reported gradient equals the gradient a plain
/// backward pass leaves, bit for bit, and each parameter is reported once,
/// later layers first.
#[test]
fn every_reported_gradient_is_already_final() {
    let mut g = Graph::<f64>::new();
    let w1 = g.parameter(&Tensor::uniform(&[3, 4], -1.0, 1.0, 1).unwrap());
    let b1 = g.parameter(&Tensor::uniform(&[4], -1.0, 1.0, 2).unwrap());
    let w2 = g.parameter(&Tensor::uniform(&[4, 3], -1.0, 1.0, 3).unwrap());
    let x = Tensor::uniform(&[5, 3], -1.0, 1.0, 4).unwrap();
    skip_net(&g, [w1, b1, w2], &x).backward().unwrap();
    let plain: Vec<Vec<f64>> = [w1, b1, w2]
        .iter()
        .map(|&p| g.param_grad(p).unwrap().into_vec())
        .collect();
    g.zero_grad();
    g.clear();
    let mut seen: Vec<(usize, Vec<f64>)> = Vec::new();
    skip_net(&g, [w1, b1, w2], &x)
        .backward_notify(&mut |p, grad| seen.push((p.index(), grad.to_vec())))
        .unwrap();
    let order: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(order, vec![2, 1, 0]);
    for (p, grad) in &seen {
        assert_eq!(grad, &plain[*p], "parameter {p}");
    }
}

/// relu(x·w1 + b1)·w2, squared and summed, plus Σ x·w1 (a skip path that
/// uses w1 again after w2).
fn skip_net<'g>(g: &'g Graph<f64>, [w1, b1, w2]: [ParamId; 3], x: &Tensor<f64>) -> Var<'g, f64> {
    let x = g.input(x);
    let h = x
        .matmul(g.param(w1).unwrap())
        .unwrap()
        .add(g.param(b1).unwrap())
        .unwrap()
        .relu();
    let y = h.matmul(g.param(w2).unwrap()).unwrap();
    let skip = x.matmul(g.param(w1).unwrap()).unwrap().sum();
    y.mul(y).unwrap().sum().add(skip).unwrap()
}
