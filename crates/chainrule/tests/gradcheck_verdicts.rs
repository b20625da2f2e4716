//! The gradient check's pass/fail and its verdicts come from one rule
//! (issue 10, item 2): a verdict of bug fails the check, a gradient too
//! small for finite differences to resolve a relative error is not called
//! a bug, and the reported worst element is the one that set the verdict.

use chainrule::gradcheck::{check_gradients, GradcheckOptions, Verdict};
use chainrule::{BackwardCtx, CustomOp, Grads, Graph, Result, Shape, Tensor, Var};
use std::rc::Rc;

#[test]
fn item_02_element_verdicts_follow_the_tolerance_rule() {
    let o = GradcheckOptions::default(); // atol 1e-5, rtol 1e-3
                                         // |a − n| = 2e-3 > 1e-5 + 1e-3·1: outside the tolerance, a bug.
    assert_eq!(Verdict::of_element(1.002, 1.0, &o), Verdict::Bug);
    // |a − n| = 1e-4 ≤ 1e-5 + 1e-3: passes, relative error 1e-4: suspicious.
    assert_eq!(Verdict::of_element(1.0001, 1.0, &o), Verdict::Suspicious);
    // |a − n| = 1e-7 ≤ atol = 1e-5: correct, although its relative error
    // (1e-7 / 1.1e-6 ≈ 0.09) is far above 1e-3.
    assert_eq!(Verdict::of_element(1.1e-6, 1.0e-6, &o), Verdict::Correct);
    assert_eq!(Verdict::of_element(f64::NAN, 1.0, &o), Verdict::Bug);
    // Passing and "not a bug" are the same thing.
    for (a, n) in [
        (1.002f64, 1.0f64),
        (1.0001, 1.0),
        (1.1e-6, 1e-6),
        (5.0, 4.99),
        (0.0, 2e-5),
    ] {
        let within = (a - n).abs() <= o.atol + o.rtol * n.abs();
        assert_eq!(
            within,
            Verdict::of_element(a, n, &o) != Verdict::Bug,
            "{a} {n}"
        );
    }
}

#[test]
fn item_02_a_correct_tiny_gradient_is_not_called_a_bug() {
    // f(x) = Σ (1e-8·x + 1): ∂f/∂x = 1e-8 exactly. f ≈ 2, whose rounding
    // (4.4e-16) over the difference 2ε·1e-8 = 2e-14 makes the central
    // difference off by about 1 %: a relative error the lesson would call
    // a bug, on a gradient that is right.
    let x = Tensor::from_vec(vec![0.3, 0.7], &[2]).unwrap();
    let r = check_gradients(
        |_: &Graph<f64>, x: &[Var<'_, f64>]| Ok(x[0].mul_scalar(1e-8).add_scalar(1.0).sum()),
        &[x],
        GradcheckOptions::default(),
    )
    .unwrap();
    let i = &r.inputs[0];
    assert_eq!(i.analytic, [1e-8, 1e-8]);
    assert!(
        i.max_rel_error > 1e-3,
        "the noise this test needs: {}",
        i.max_rel_error
    );
    assert!(i.passed);
    assert_eq!(i.verdict, Verdict::Correct, "{i:#?}");
}

/// x², with a backward rule slightly off at index 0 (2.001·g·x: relative
/// error 5e-4, within the tolerance) and wrong at index 2 (2.4·g·x).
struct WrongAtTwo;

impl CustomOp<f64> for WrongAtTwo {
    fn name(&self) -> &str {
        "wrong_at_two"
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        Ok(inputs[0])
    }
    fn forward(&self, inputs: &[&[f64]], _: &[Shape], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(inputs[0]) {
            *o = x * x;
        }
    }
    fn backward<'g>(&self, c: &BackwardCtx<'g, f64>) -> Result<Grads<'g, f64>> {
        let k = Tensor::from_vec(vec![2.0 * (1.0 + 5e-4), 2.0, 2.4, 2.0], &[4])?;
        Ok([Some(c.grad.mul(c.a)?.mul(c.a.graph().input(&k))?), None])
    }
}

fn wrong_at_two_sum<'g>(g: &'g Graph<f64>, v: &[Var<'g, f64>]) -> Result<Var<'g, f64>> {
    let id = g.register_op(Rc::new(WrongAtTwo))?;
    Ok(v[0].custom(id, None)?.sum())
}

#[test]
fn item_02_the_element_that_fails_is_the_one_reported() {
    // x = [3, −2, 0.005, 1], true gradient 2x = [6, −4, 0.01, 2].
    // Index 0: 6.003 vs 6, |Δ| = 3e-3 ≤ 1e-5 + 1e-3·6: passes, relative
    // error 5e-4: suspicious. Index 2: 0.012 vs 0.01, |Δ| = 2e-3 >
    // 1e-5 + 1e-3·0.01: a bug. The largest absolute error is index 0's,
    // but the element that makes the check fail is index 2.
    let x = Tensor::from_vec(vec![3.0, -2.0, 0.005, 1.0], &[4]).unwrap();
    let r = check_gradients(wrong_at_two_sum, &[x], GradcheckOptions::default()).unwrap();
    let i = &r.inputs[0];
    assert!((i.analytic[2] - 0.012).abs() < 1e-15 && (i.numeric[2] - 0.01).abs() < 1e-8);
    assert!((i.analytic[0] - 6.003).abs() < 1e-12 && (i.numeric[0] - 6.0).abs() < 1e-6);
    assert!(!i.passed && !r.passed());
    assert_eq!(i.verdict, Verdict::Bug);
    assert_eq!(i.worst_element, 2, "{i:#?}");
}
