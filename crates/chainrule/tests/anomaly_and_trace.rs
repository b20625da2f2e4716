//! Anomaly mode names the first operation that produced a NaN or an
//! infinity, forward or backward; a backward trace lists every gradient
//! contribution (the lesson's shared-node example, by hand).

use chainrule::{ErrorKind, Graph, Op, Phase, Tensor};

fn t(v: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

#[test]
fn log_of_zero_in_the_forward_pass() {
    let g = Graph::<f64>::new();
    g.set_detect_anomaly(true);
    let x = g.variable(&t(&[1.0, 0.0]));
    let loss = x.log().sum();
    let a = g.anomaly().expect("log(0) = -inf is caught");
    assert_eq!(a.op, Op::Log);
    assert_eq!(a.phase, Phase::Forward);
    assert_eq!(a.cause, "log of 0");
    assert_eq!(a.inputs[0].zeros, 1);
    let err = loss.backward().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Anomaly(_)));
    let text = err.to_string();
    assert!(
        text.contains("log (node") && text.contains("forward pass") && text.contains("Hint"),
        "{text}"
    );
}

#[test]
fn sqrt_at_zero_blows_up_in_the_backward_pass() {
    // √x at 0 is finite, but its derivative 0.5/√x is not.
    let g = Graph::<f64>::new();
    g.set_detect_anomaly(true);
    let x = g.variable(&t(&[4.0, 0.0]));
    let loss = x.sqrt().sum();
    assert!(g.anomaly().is_none());
    let err = loss.backward().unwrap_err().to_string();
    let a = g.anomaly().unwrap();
    assert_eq!(a.op, Op::Div);
    assert!(
        matches!(
            a.phase,
            Phase::Backward {
                of_op: Op::Sqrt,
                ..
            }
        ),
        "{:?}",
        a.phase
    );
    assert_eq!(a.cause, "division by zero");
    assert!(err.contains("while differentiating sqrt"), "{err}");
}

#[test]
fn fused_bias_of_opposite_infinities() {
    // z = [+inf, 1] plus the bias row [−inf, 1]: inf − inf = NaN in the
    // first column, named at the fused op with the addition's cause (the
    // infinite inputs were recorded before anomaly mode was switched on).
    let g = Graph::<f64>::new();
    let z = g.input(&Tensor::from_vec(vec![f64::INFINITY, 1.0], &[1, 2]).unwrap());
    let b = g.input(&t(&[f64::NEG_INFINITY, 1.0]));
    g.set_detect_anomaly(true);
    let y = z.bias_act(b, chainrule::BiasAct::Relu).unwrap();
    assert!(y.to_vec()[0].is_nan());
    let a = g.anomaly().expect("inf − inf is caught");
    assert_eq!(a.op, Op::BiasAct(chainrule::BiasAct::Relu));
    assert_eq!(a.cause, "inf − inf");
}

#[test]
fn exp_overflow_and_zero_over_zero() {
    let g = Graph::<f32>::new();
    g.set_detect_anomaly(true);
    let x = g.variable(&Tensor::from_vec(vec![100.0f32], &[1]).unwrap());
    let _ = x.exp();
    assert!(
        g.anomaly().unwrap().cause.starts_with("exp overflow"),
        "{}",
        g.anomaly().unwrap().cause
    );

    let g = Graph::<f64>::new();
    g.set_detect_anomaly(true);
    let z = g.input(&t(&[0.0]));
    let _ = z.div(z).unwrap();
    assert_eq!(g.anomaly().unwrap().cause, "0/0");
}

#[test]
fn without_anomaly_mode_nothing_is_checked() {
    let g = Graph::<f64>::new();
    let x = g.variable(&t(&[0.0]));
    let loss = x.log().sum();
    assert!(g.anomaly().is_none());
    assert!(loss.backward().is_ok());
    assert_eq!(x.grad().unwrap().into_vec(), vec![f64::INFINITY]);
}

#[test]
fn backward_trace_shows_both_paths_into_a_shared_node() {
    // f = (x + y)(x − 1) at (3, 2): x receives 5 through (x − 1)'s path
    // (∂f/∂(x−1) = x + y) and 2 through (x + y)'s path (∂f/∂(x+y) = x − 1).
    let g = Graph::<f64>::new();
    let x = g.scalar_variable(3.0);
    let y = g.scalar_variable(2.0);
    let f = x.add(y).unwrap().mul(x.add_scalar(-1.0)).unwrap();
    let trace = g.backward_trace(f).unwrap();
    let into_x: Vec<f64> = trace
        .contributions
        .iter()
        .filter(|c| c.input == x.id())
        .map(|c| g.var(c.grad).unwrap().item().unwrap())
        .collect();
    let mut sorted = into_x.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, vec![2.0, 5.0]);
    let total = trace.grads[x.id()].unwrap();
    assert_eq!(g.var(total).unwrap().item().unwrap(), 7.0);
    assert_eq!(
        g.var(trace.grads[y.id()].unwrap()).unwrap().item().unwrap(),
        2.0
    );
    // Tracing stores nothing on the leaves.
    assert!(x.grad().is_err());
}
