//! The fused weight step of one product (`fused_sgd.rs`), run on this
//! thread or handed to the product team's helper (`kernels/background.rs`)
//! while this thread goes on down the backward pass.
//!
//! Which steps go to the helper: those too small to split over the team
//! and not tiny (W3's 64×64 weights), but the last one the reverse loop reaches (the
//! lowest fused product: nothing is left to run beside it). Nothing later
//! in the pass reads a fused weight (it feeds one product, whose input
//! gradient was computed before the step), so the step and the rest of the
//! pass are independent; the results are the same bits either way.
//!
//! What keeps it sound: the job reads `A`'s values and the product's
//! gradient `G` (arena ranges the pass never writes again) and writes the
//! weight (a parameter the pass never touches again). The arena does not
//! move under it: [`Graph::finish_deferred`] runs before the arena grows
//! (`record_indexed`), before the next step, and when the pass ends, on
//! every path. A registered op's backward rule (user code, which may read
//! any parameter) waits for it first. Recording and reading values go
//! through exactly the ranges of each node's inputs and output
//! (`Tape::range`), never a reference to the whole arena, so the main
//! thread holds no reference to what the helper touches.

use super::tape::Graph;
use crate::float::Float;
use crate::kernels::background;
use crate::kernels::matmul::MatMulDims;
use crate::kernels::matmul_add::matmul_add;

/// The fewest multiply-adds of a step handed to a helper (W3's steps are
/// 131,072; W2's last layer, 32,768, stays).
const DEFER_FROM: usize = 1 << 16;

/// A step as plain data: `w += scale · op(x)·op(y)` (see
/// `ops::matmul::step_weight_dims`).
#[derive(Clone, Copy)]
struct StepJob<F> {
    x: *const F,
    x_len: usize,
    y: *const F,
    y_len: usize,
    w: *mut F,
    w_len: usize,
    dims: MatMulDims,
    scale: F,
}

/// Runs a [`StepJob`].
///
/// # Safety
/// `data` points to a `StepJob<F>` whose `x` and `y` address `x_len` and
/// `y_len` readable values and `w` `w_len` values that nothing else reads
/// or writes while it runs.
unsafe fn run_job<F: Float>(data: *const u8) {
    // SAFETY: the caller's contract.
    unsafe {
        let job = (data as *const StepJob<F>).read();
        let x = std::slice::from_raw_parts(job.x, job.x_len);
        let y = std::slice::from_raw_parts(job.y, job.y_len);
        let w = std::slice::from_raw_parts_mut(job.w, job.w_len);
        matmul_add(x, y, w, job.dims, job.scale);
    }
}

/// The fused step of a product's weight (input 1), from `A` (input 0) and
/// the gradient in `slot` (`fused_sgd::fusable` checked that `A`'s values
/// lie in the arena, above the parameters): on a helper thread when
/// `defer` and one is free, else here.
pub(super) fn step_weight<F: Float>(
    graph: &Graph<F>,
    inputs: [u32; 2],
    slot: u32,
    flags: (bool, bool),
    lr: F,
    defer: bool,
) {
    // One job at a time, and none beside a step run here.
    graph.finish_deferred();
    let job = {
        let mut tape = graph.tape.borrow_mut();
        let t = &mut *tape;
        let (a, w, g) = (
            t.nodes[inputs[0] as usize],
            t.nodes[inputs[1] as usize],
            t.nodes[slot as usize],
        );
        let (g_first, dims) = crate::ops::matmul::step_weight_dims(a.shape, w.shape, flags);
        let (na, ng, nw) = (a.shape.numel(), g.shape.numel(), w.shape.numel());
        // Three disjoint ranges: the weight among the parameters, `A` and
        // `G` above them.
        assert!(
            w.offset + nw <= t.params_len
                && a.offset >= t.params_len
                && g.offset >= t.params_len
                && a.offset + na <= t.values.len()
                && g.offset + ng <= t.values.len(),
            "a fused step's operands must lie in the arena"
        );
        let base = t.values.as_mut_ptr();
        // SAFETY: the offsets were checked to lie inside `values`.
        let (ap, gp, wp) = unsafe {
            (
                base.add(a.offset) as *const F,
                base.add(g.offset) as *const F,
                base.add(w.offset),
            )
        };
        let ((x, x_len), (y, y_len)) = if g_first {
            ((gp, ng), (ap, na))
        } else {
            ((ap, na), (gp, ng))
        };
        StepJob {
            x,
            x_len,
            y,
            y_len,
            w: wp,
            w_len: nw,
            dims,
            scale: -lr,
        }
    };
    // A step large enough to split over the team runs here, split: on
    // one helper it would take twice as long as the rest of the pass
    // beside it (W5 h = 4096 lost 24 %, batch 1024 9 %, W2 5 %).
    // One too small costs more to hand over (its operands' cache lines
    // move to the other core) than it saves.
    // An outer product or a thin one (batch 1 to 8) streams the weight
    // through the cache rather than computing on it: on the other core it
    // would move the weight's lines there and back every step (W5 batch
    // 1 lost 14 %).
    let work = job.dims.m * job.dims.k * job.dims.n;
    if defer
        && job.dims.k >= 16
        && (DEFER_FROM..crate::kernels::threads::PARALLEL_PRODUCT).contains(&work)
    {
        // SAFETY: `StepJob` is plain data; its ranges stay valid and
        // untouched by this thread until `finish_deferred` (see the
        // module's notes).
        if let Some(pending) = unsafe { background::post(run_job::<F>, job) } {
            *graph.deferred.borrow_mut() = Some(pending);
            return;
        }
    }
    // SAFETY: the ranges are valid and, with no job running (finished
    // above), touched by no one else.
    unsafe { run_job::<F>(&job as *const StepJob<F> as *const u8) }
}

#[cfg(test)]
mod tests {
    use crate::kernels::background::posts_here;
    use crate::kernels::threads::set_num_threads;
    use crate::{Graph, Tensor};

    /// Widths of a tanh stack whose middle steps go to the helper: the
    /// step of a 48×48 weight at batch 32 is 73,728 multiply-adds.
    const WIDTHS: [usize; 5] = [48, 48, 48, 48, 4];
    const ROWS: usize = 32;

    fn values(len: usize, seed: u64, scale: f64) -> Vec<f64> {
        (0..len as u64)
            .map(|i| {
                let z = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// MSE of `tanh(…tanh(x·W1)…)·W4` against `t`, by plain loops.
    fn loss(x: &[f64], t: &[f64], ws: &[Vec<f64>]) -> f64 {
        let mut h = x.to_vec();
        for (l, w) in ws.iter().enumerate() {
            let (i_n, o_n) = (WIDTHS[l], WIDTHS[l + 1]);
            let mut next = vec![0.0; ROWS * o_n];
            for r in 0..ROWS {
                for o in 0..o_n {
                    let z: f64 = (0..i_n).map(|i| h[r * i_n + i] * w[i * o_n + o]).sum();
                    next[r * o_n + o] = if l + 2 < WIDTHS.len() { z.tanh() } else { z };
                }
            }
            h = next;
        }
        h.iter().zip(t).map(|(y, t)| (y - t) * (y - t)).sum::<f64>() / h.len() as f64
    }

    /// The weights after one fused step on `threads` threads, and how many
    /// steps this thread handed to a helper.
    fn step(x: &[f64], t: &[f64], ws: &[Vec<f64>], threads: usize) -> (Vec<Vec<f64>>, u64) {
        set_num_threads(threads);
        let before = posts_here();
        let mut g = Graph::<f64>::new();
        let ids: Vec<_> = ws
            .iter()
            .enumerate()
            .map(|(l, w)| {
                let dims = [WIDTHS[l], WIDTHS[l + 1]];
                g.parameter(&Tensor::from_vec(w.clone(), &dims).unwrap())
            })
            .collect();
        let last = WIDTHS.len() - 1;
        let mut h = g.input(&Tensor::from_vec(x.to_vec(), &[ROWS, WIDTHS[0]]).unwrap());
        for (l, &id) in ids.iter().enumerate() {
            h = h.matmul(g.param(id).unwrap()).unwrap();
            if l + 1 < last {
                h = h.tanh();
            }
        }
        let d = h
            .sub(g.input(&Tensor::from_vec(t.to_vec(), &[ROWS, WIDTHS[last]]).unwrap()))
            .unwrap();
        d.mul(d).unwrap().mean().backward_sgd(0.1).unwrap();
        let after = ids
            .iter()
            .map(|&id| g.param_value(id).unwrap().into_vec())
            .collect();
        set_num_threads(0);
        (after, posts_here() - before)
    }

    #[test]
    fn steps_handed_to_a_helper_are_gradient_descent_and_the_same_bits_as_here() {
        let x = values(ROWS * WIDTHS[0], 1, 1.0);
        let t = values(ROWS * WIDTHS[4], 2, 1.0);
        let ws: Vec<Vec<f64>> = (0..4)
            .map(|l| values(WIDTHS[l] * WIDTHS[l + 1], 3 + l as u64, 0.25))
            .collect();
        // W2's and W3's steps go to the helper (W4's is too small, W1's
        // the last). Another test may hold the lane or set one thread at
        // that moment: a few tries.
        let (two, _) = (0..20)
            .map(|_| step(&x, &t, &ws, 2))
            .find(|&(_, posted)| posted == 2)
            .expect("two steps handed to a helper (this test needs 2 cores)");
        let (one, _) = step(&x, &t, &ws, 1);
        assert_eq!(two, one, "the same bits whoever stepped the weights");
        // θ − lr·∂L/∂θ, ∂L/∂θ by central differences, on every 37th
        // element of each weight.
        for (l, w) in ws.iter().enumerate() {
            for e in (0..w.len()).step_by(37) {
                let (mut up, mut down) = (ws.clone(), ws.clone());
                up[l][e] += 1e-6;
                down[l][e] -= 1e-6;
                let grad = (loss(&x, &t, &up) - loss(&x, &t, &down)) / 2e-6;
                let want = w[e] - 0.1 * grad;
                assert!(
                    (two[l][e] - want).abs() < 1e-8,
                    "weight {l} element {e}: {} vs {want}",
                    two[l][e]
                );
            }
        }
    }
}
