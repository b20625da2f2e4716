//! Mismatched shapes and invalid arguments are errors, never panics, and
//! every message names the operation and the shapes involved.

use chainrule::{ErrorKind, Graph, Shape, Tensor, Var};
use std::fmt::Debug;

fn s(dims: &[usize]) -> Shape {
    Shape::new(dims).unwrap()
}

/// The kind of error of a result, if it is one.
fn kind<T>(result: chainrule::Result<T>) -> Option<ErrorKind> {
    result.err().map(|e| e.kind().clone())
}

fn ones(dims: &[usize]) -> Tensor<f64> {
    Tensor::ones(dims).unwrap()
}

/// Asserts an error whose message starts with `op:` and mentions every one
/// of `shapes` (written as the engine prints them, e.g. `[2, 3]`); returns
/// the message.
#[track_caller]
fn expect_err<T: Debug>(result: chainrule::Result<T>, op: &str, shapes: &[&str]) -> String {
    let message = match result {
        Ok(v) => panic!("expected a {op} error, got Ok({v:?})"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.starts_with(&format!("{op}: ")),
        "message does not name {op}: {message}"
    );
    for shape in shapes {
        assert!(
            message.contains(shape),
            "message does not mention {shape}: {message}"
        );
    }
    message
}

// ----- elementwise binary operations ------------------------------------------

type Binary = for<'g> fn(Var<'g, f64>, Var<'g, f64>) -> chainrule::Result<Var<'g, f64>>;

const BINARY: [(&str, Binary); 4] = [
    ("add", |a, b| a.add(b)),
    ("sub", |a, b| a.sub(b)),
    ("mul", |a, b| a.mul(b)),
    ("div", |a, b| a.div(b)),
];

#[test]
fn binary_ops_refuse_shapes_that_do_not_broadcast() {
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[4]),
        (&[4], &[2, 3]),
        (&[2, 3], &[3, 2]),
        (&[2, 3], &[2]),
        (&[2, 1, 3], &[4, 2]),
        (&[5], &[3]),
    ];
    for (name, op) in BINARY {
        for (da, db) in pairs {
            let g = Graph::<f64>::new();
            let a = g.variable(&ones(da));
            let b = g.variable(&ones(db));
            let (sa, sb) = (s(da).to_string(), s(db).to_string());
            let message = expect_err(op(a, b), name, &[&sa, &sb]);
            assert_eq!(
                message,
                format!("{name}: shapes {sa} and {sb} cannot be broadcast together")
            );
            // Constants (no gradient) are checked just the same.
            let (ca, cb) = (g.input(&ones(da)), g.input(&ones(db)));
            expect_err(op(ca, cb), name, &[&sa, &sb]);
        }
    }
}

#[test]
fn add_message_is_exact() {
    let g = Graph::<f64>::new();
    let a = g.variable(&ones(&[2, 3]));
    let b = g.variable(&ones(&[4]));
    assert_eq!(
        a.add(b).unwrap_err().to_string(),
        "add: shapes [2, 3] and [4] cannot be broadcast together"
    );
    assert!(matches!(
        kind(a.add(b)),
        Some(ErrorKind::Broadcast { op: "add", .. })
    ));
}

#[test]
fn fused_backward_ops_require_equal_shapes() {
    let g = Graph::<f64>::new();
    for (da, db) in [
        (&[2, 3][..], &[3][..]),
        (&[2, 3], &[3, 2]),
        (&[1, 3], &[2, 3]),
    ] {
        let a = g.variable(&ones(da));
        let b = g.variable(&ones(db));
        let (sa, sb) = (s(da).to_string(), s(db).to_string());
        expect_err(a.sigmoid_backward_of(b), "sigmoid_backward", &[&sa, &sb]);
        expect_err(a.tanh_backward_of(b), "tanh_backward", &[&sa, &sb]);
    }
}

#[test]
fn concat_requires_the_other_dimensions_to_agree() {
    let g = Graph::<f64>::new();
    let a = g.variable(&ones(&[2, 3]));
    let b = g.variable(&ones(&[3, 4]));
    expect_err(a.concat(b, 0), "concat", &["[2, 3]", "[3, 4]"]);
    expect_err(a.concat(b, 1), "concat", &["[2, 3]", "[3, 4]"]);
    let c = g.variable(&ones(&[3]));
    expect_err(a.concat(c, 0), "concat", &["[2, 3]", "[3]"]);
    let d = g.variable(&ones(&[2, 3, 1]));
    expect_err(a.concat(d, 1), "concat", &["[2, 3]", "[2, 3, 1]"]);
    // An axis beyond the rank.
    expect_err(a.concat(a, 2), "concat", &["[2, 3]"]);
    // concat_all reports the first pair that does not fit.
    expect_err(
        Var::concat_all(&[a, a, b], 0),
        "concat",
        &["[4, 3]", "[3, 4]"],
    );
    assert!(Var::<f64>::concat_all(&[], 0).is_err());
}

// ----- matrix products --------------------------------------------------------

#[test]
fn matmul_message_is_exact() {
    let g = Graph::<f64>::new();
    let a = g.variable(&ones(&[2, 3]));
    let b = g.variable(&ones(&[4, 5]));
    assert_eq!(
        a.matmul(b).unwrap_err().to_string(),
        "matmul: cannot multiply [2, 3] by [4, 5]"
    );
}

#[test]
fn matmul_refuses_inner_dimensions_that_differ_for_every_flag() {
    // Each pair multiplies with some flags (sanity check) but not with the
    // ones tested.
    let cases: [(&[usize], &[usize], bool, bool); 4] = [
        (&[2, 3], &[2, 3], false, false),
        (&[2, 3], &[3, 4], true, false),
        (&[2, 3], &[3, 4], false, true),
        (&[2, 3], &[2, 3], true, true),
    ];
    let g = Graph::<f64>::new();
    for (da, db, ta, tb) in cases {
        let a = g.variable(&ones(da));
        let b = g.variable(&ones(db));
        let message = expect_err(a.matmul_t(b, ta, tb), "matmul", &[]);
        assert_eq!(
            message,
            format!("matmul: cannot multiply {} by {}", s(da), s(db)),
            "flags ta={ta} tb={tb}"
        );
    }
    // The same operands do multiply with other flags.
    let a = g.variable(&ones(&[2, 3]));
    assert!(a.matmul_t(a, false, true).is_ok());
    assert!(a.matmul_t(a, true, false).is_ok());
}

#[test]
fn matmul_refuses_bad_ranks_and_batches() {
    let cases: [(&[usize], &[usize]); 9] = [
        (&[3], &[3, 2]),
        (&[2, 3], &[3]),
        (&[], &[2, 2]),
        (&[1, 2, 3, 3], &[1, 2, 3, 3]),
        (&[2, 3, 4], &[3, 4, 5]),
        (&[2, 3, 4], &[5, 6]),
        (&[3, 5], &[2, 4, 6]),
        (&[2, 3, 4], &[2, 5, 6]),
        (&[2, 3, 4], &[4, 4, 5]),
    ];
    let g = Graph::<f64>::new();
    for (da, db) in cases {
        let a = g.variable(&ones(da));
        let b = g.variable(&ones(db));
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let message = expect_err(a.matmul_t(b, ta, tb), "matmul", &[]);
            assert_eq!(
                message,
                format!("matmul: cannot multiply {} by {}", s(da), s(db)),
                "flags ta={ta} tb={tb}"
            );
        }
    }
}

// ----- axes and arguments -----------------------------------------------------

#[test]
fn reductions_and_softmax_refuse_axes_out_of_range() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    for axis in [2, 5] {
        let message = expect_err(x.sum_axis(axis, false), "sum", &["[2, 3]"]);
        assert_eq!(
            message,
            format!("sum: axis {axis} is out of range for shape [2, 3]")
        );
        expect_err(x.sum_axis(axis, true), "sum", &["[2, 3]"]);
        expect_err(x.mean_axis(axis, false), "mean", &["[2, 3]"]);
        expect_err(x.max_axis(axis, false), "max", &["[2, 3]"]);
        expect_err(x.max_axis(axis, true), "max", &["[2, 3]"]);
        expect_err(x.argmax_mask(axis), "argmax_mask", &["[2, 3]"]);
        expect_err(x.softmax(axis), "softmax", &["[2, 3]"]);
        expect_err(x.log_softmax(axis), "log_softmax", &["[2, 3]"]);
    }
    // A scalar has no axis at all.
    let c = g.scalar_variable(1.0);
    expect_err(c.sum_axis(0, false), "sum", &["[]"]);
    expect_err(c.softmax(0), "softmax", &["[]"]);
}

#[test]
fn slice_refuses_bad_axes_and_ranges() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    expect_err(x.slice(2, 0, 1), "slice", &["[2, 3]"]);
    for (axis, start, end) in [(1, 0, 4), (0, 1, 3), (1, 2, 1), (1, 4, 4)] {
        let message = expect_err(x.slice(axis, start, end), "slice", &["[2, 3]"]);
        assert!(message.contains(&format!("{start}..{end}")), "{message}");
    }
}

#[test]
fn permute_and_transpose_refuse_invalid_axes() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3, 4]));
    for perm in [
        &[0, 1][..],
        &[0, 1, 2, 3],
        &[0, 0, 1],
        &[0, 1, 3],
        &[0, 1, 2, 3, 4, 5, 6, 7],
        &[],
    ] {
        let message = expect_err(x.permute(perm), "permute", &["[2, 3, 4]"]);
        assert!(message.contains(&format!("{perm:?}")), "{message}");
    }
    expect_err(x.transpose(0, 3), "transpose", &["[2, 3, 4]"]);
    expect_err(x.transpose(7, 1), "transpose", &["[2, 3, 4]"]);
}

#[test]
fn reshape_requires_the_same_element_count() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    let message = expect_err(x.reshape(&[4]), "reshape", &["[2, 3]", "[4]"]);
    assert_eq!(
        message,
        "reshape: shapes [2, 3] and [4] do not match (the element counts differ)"
    );
    expect_err(x.reshape(&[]), "reshape", &["[2, 3]", "[]"]);
    expect_err(x.reshape(&[3, 3]), "reshape", &["[2, 3]", "[3, 3]"]);
    // Too many dimensions is refused by the shape itself.
    assert!(matches!(
        kind(x.reshape(&[1, 1, 1, 1, 1, 1, 6])),
        Some(ErrorKind::Rank { .. })
    ));
}

#[test]
fn broadcast_to_and_sum_to_refuse_incompatible_targets() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    for target in [&[3, 3][..], &[3], &[2, 3, 2], &[6]] {
        let st = s(target).to_string();
        let message = expect_err(x.broadcast_to(s(target)), "broadcast_to", &["[2, 3]", &st]);
        assert_eq!(
            message,
            format!("broadcast_to: shapes [2, 3] and {st} cannot be broadcast together")
        );
    }
    for target in [&[4][..], &[2], &[3, 3], &[2, 2, 3], &[6]] {
        let st = s(target).to_string();
        expect_err(x.sum_to(s(target)), "sum_to", &["[2, 3]", &st]);
    }
}

#[test]
fn gather_rows_checks_labels_and_rank() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    let message = expect_err(x.gather_rows(&[0, 1, 2]), "gather_rows", &["[2, 3]"]);
    assert!(
        message.contains("3 labels") && message.contains("2 rows"),
        "{message}"
    );
    expect_err(x.gather_rows(&[0]), "gather_rows", &["[2, 3]"]);
    expect_err(x.gather_rows(&[]), "gather_rows", &["[2, 3]"]);
    let message = expect_err(x.gather_rows(&[0, 3]), "gather_rows", &["[2, 3]"]);
    assert!(
        message.contains("label 3") && message.contains("row 1"),
        "{message}"
    );
    expect_err(x.gather_rows(&[usize::MAX, 0]), "gather_rows", &["[2, 3]"]);
    let cube = g.variable(&ones(&[2, 3, 1]));
    expect_err(cube.gather_rows(&[0, 0]), "gather_rows", &["[2, 3, 1]"]);
    let vector = g.variable(&ones(&[3]));
    expect_err(vector.gather_rows(&[0, 0, 0]), "gather_rows", &["[3]"]);
}

// ----- tensors and shapes -----------------------------------------------------

#[test]
fn tensors_and_shapes_refuse_bad_sizes() {
    let message = expect_err(
        Tensor::<f64>::from_vec(vec![1.0; 5], &[2, 3]),
        "tensor",
        &["[2, 3]"],
    );
    assert_eq!(
        message,
        "tensor: 5 values cannot fill shape [2, 3] (6 elements)"
    );
    expect_err(Tensor::<f64>::from_vec(vec![], &[1]), "tensor", &["[1]"]);
    expect_err(
        Tensor::<f64>::from_vec(vec![1.0; 2], &[]),
        "tensor",
        &["[]"],
    );

    let message = expect_err(Shape::new(&[1; 7]), "shape", &[]);
    assert_eq!(
        message,
        "shape: 7 dimensions requested, at most 6 are supported"
    );
    assert!(matches!(
        kind(Shape::new(&[1; 7])),
        Some(ErrorKind::Rank { rank: 7, .. })
    ));
    assert!(Tensor::<f64>::zeros(&[1; 7]).is_err());
    assert!(matches!(
        kind(Shape::new(&[usize::MAX, 2])),
        Some(ErrorKind::TooLarge { .. })
    ));
}

// ----- gradients --------------------------------------------------------------

#[test]
fn backward_without_a_gradient_to_compute_is_an_error() {
    let g = Graph::<f64>::new();
    let c = g.input(&ones(&[2, 2]));
    let loss = c.square().sum();
    let e = loss.backward().unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::NoGradRequired { .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("backward: "), "{e}");

    // Detached and no_grad values do not require a gradient either.
    let x = g.variable(&ones(&[2, 2]));
    let detached = x.square().detach().sum();
    assert!(matches!(
        kind(detached.backward()),
        Some(ErrorKind::NoGradRequired { .. })
    ));
    let under_no_grad = {
        let _guard = g.no_grad();
        x.square().sum()
    };
    assert!(matches!(
        kind(under_no_grad.backward()),
        Some(ErrorKind::NoGradRequired { .. })
    ));
    assert!(matches!(
        kind(g.gradients(loss, &[c], false)),
        Some(ErrorKind::NoGradRequired { .. })
    ));
}

#[test]
fn backward_from_a_non_scalar_is_an_error() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    let y = x.square();
    let e = y.backward().unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotScalar { shape: s(&[2, 3]) });
    assert!(e.to_string().contains("[2, 3]"), "{e}");
    assert!(matches!(
        kind(g.gradients(y, &[x], false)),
        Some(ErrorKind::NotScalar { .. })
    ));
    // With a seed of the wrong shape.
    let message = expect_err(
        y.backward_with(&ones(&[3, 2])),
        "backward",
        &["[2, 3]", "[3, 2]"],
    );
    assert!(message.contains("seed"), "{message}");
    // A one-element tensor of any rank is a scalar.
    let z = g.variable(&ones(&[1, 1]));
    assert!(z.square().backward().is_ok());
}

#[test]
fn grad_before_backward_is_an_error() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    let e = x.grad().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NoGrad { .. }), "{e:?}");
    assert!(e.to_string().contains("[2, 3]"), "{e}");
    assert!(matches!(kind(x.grad_var()), Some(ErrorKind::NoGrad { .. })));
    // An intermediate value without retain_grad gets none either.
    let y = x.square();
    y.sum().backward().unwrap();
    assert!(x.grad().is_ok());
    assert!(matches!(kind(y.grad()), Some(ErrorKind::NoGrad { .. })));

    let mut h = Graph::<f64>::new();
    let p = h.parameter(&ones(&[2]));
    assert!(matches!(
        kind(h.param_grad(p)),
        Some(ErrorKind::NoGrad { .. })
    ));
    let w = h.param(p).unwrap();
    assert!(matches!(kind(w.grad()), Some(ErrorKind::NoGrad { .. })));
}

#[test]
fn parameter_handles_belong_to_their_graph() {
    let foreign = |k: Option<ErrorKind>| matches!(k, Some(ErrorKind::ForeignHandle { .. }));
    let mut g1 = Graph::<f64>::new();
    let mut g2 = Graph::<f64>::new();
    let p1 = g1.parameter(&ones(&[2, 3]));
    let _p2 = g2.parameter(&ones(&[2, 3]));
    assert!(g1.param(p1).is_ok());
    let e = g2.param(p1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ForeignHandle { .. }), "{e:?}");
    assert!(e.to_string().starts_with("param: "), "{e}");
    assert!(foreign(kind(g2.param_value(p1))));
    assert!(foreign(kind(g2.param_grad(p1))));
    assert!(foreign(kind(g2.set_param(p1, &ones(&[2, 3])))));
    // A graph without parameters refuses it too.
    let g3 = Graph::<f64>::new();
    assert!(foreign(kind(g3.param(p1))));
    // set_param keeps the shape.
    expect_err(
        g1.set_param(p1, &ones(&[3, 2])),
        "set_param",
        &["[2, 3]", "[3, 2]"],
    );
    assert!(g1.var(1_000).is_err());
}

#[test]
fn values_of_two_graphs_do_not_mix() {
    let foreign = |k: Option<ErrorKind>| matches!(k, Some(ErrorKind::ForeignHandle { .. }));
    let g1 = Graph::<f64>::new();
    let g2 = Graph::<f64>::new();
    let a = g1.variable(&ones(&[2, 3]));
    let b = g2.variable(&ones(&[2, 3]));
    for (name, op) in BINARY {
        let e = op(a, b).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::ForeignHandle { .. }),
            "{name}: {e:?}"
        );
        assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        assert!(foreign(kind(op(b, a))));
    }
    assert!(foreign(kind(a.concat(b, 0))));
    assert!(foreign(kind(a.matmul_t(b, false, true))));
    assert!(foreign(kind(a.matmul(b.transpose(0, 1).unwrap()))));
    assert!(foreign(kind(a.sigmoid_backward_of(b))));
    assert!(foreign(kind(a.tanh_backward_of(b))));
    let loss = a.sum();
    assert!(foreign(kind(g1.gradients(loss, &[b], false))));
    // Both graphs still work afterwards.
    loss.backward().unwrap();
    assert_eq!(a.grad().unwrap(), ones(&[2, 3]));
    b.square().sum().backward().unwrap();
    assert_eq!(b.grad().unwrap(), Tensor::full(&[2, 3], 2.0).unwrap());
}

#[test]
fn max_over_an_empty_axis_is_an_error() {
    let g = Graph::<f64>::new();
    let x = g.variable(&ones(&[2, 3]));
    let empty = x.slice(1, 1, 1).unwrap();
    let message = expect_err(empty.max_axis(1, false), "max", &["[2, 0]"]);
    assert!(message.contains("empty"), "{message}");
}

#[test]
fn activations_propagate_nan() {
    // A NaN must stay visible through every activation (PyTorch's behaviour).
    let g = Graph::<f64>::new();
    let x = g.input(&Tensor::from_vec(vec![f64::NAN], &[1]).unwrap());
    for (name, y) in [
        ("relu", x.relu()),
        ("leaky_relu", x.leaky_relu(0.1)),
        ("sigmoid", x.sigmoid()),
        ("tanh", x.tanh()),
        ("softplus", x.softplus()),
    ] {
        assert!(y.item().unwrap().is_nan(), "{name}(NaN) is not NaN");
    }
    // The fused bias + activation too, in f64 and in f32 (whose tanh is a
    // vectorized approximation), on a row long enough for the vector path.
    use chainrule::BiasAct;
    let acts = [
        BiasAct::Identity,
        BiasAct::Relu,
        BiasAct::Tanh,
        BiasAct::Sigmoid,
    ];
    let mut z = vec![0.5; 2 * 80];
    z[3] = f64::NAN;
    z[150] = f64::NAN;
    let zt = Tensor::from_vec(z.clone(), &[2, 80]).unwrap();
    let b = g.input(&Tensor::zeros(&[80]).unwrap());
    let g32 = Graph::<f32>::new();
    let zt32 = Tensor::from_vec(z.iter().map(|&v| v as f32).collect(), &[2, 80]).unwrap();
    let b32 = g32.input(&Tensor::zeros(&[80]).unwrap());
    for act in acts {
        let y = g.input(&zt).bias_act(b, act).unwrap().to_vec();
        let y32 = g32.input(&zt32).bias_act(b32, act).unwrap().to_vec();
        for i in 0..y.len() {
            let nan = i == 3 || i == 150;
            assert_eq!(y[i].is_nan(), nan, "bias_act {act:?} f64 at {i}");
            assert_eq!(y32[i].is_nan(), nan, "bias_act {act:?} f32 at {i}");
        }
    }
}

#[test]
fn bias_act_refuses_a_bias_that_is_not_one_row() {
    use chainrule::BiasAct;
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3], &[2]),
        (&[2, 3], &[2, 3]),
        (&[2, 3], &[3, 1]),
        (&[2, 3], &[1, 1, 3]),
        (&[], &[1]),
    ];
    for (dz, db) in cases {
        let g = Graph::<f64>::new();
        let z = g.variable(&ones(dz));
        let b = g.variable(&ones(db));
        let (sz, sb) = (s(dz).to_string(), s(db).to_string());
        let message = expect_err(z.bias_act(b, BiasAct::Relu), "bias_act", &[&sz, &sb]);
        assert!(message.contains("one row"), "{message}");
    }
}
