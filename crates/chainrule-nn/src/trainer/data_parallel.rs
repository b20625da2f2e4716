//! Data-parallel training: one replica of the model per process, each
//! global mini-batch split across the replicas, the gradients summed across
//! them before every optimizer step, so that every replica makes the update
//! that one process would make on the whole batch.
//!
//! The transport is the caller's: a [`GradientReducer`] sums numbers across
//! the processes (the command line's is MPI's `MPI_Allreduce`, behind its
//! `mpi` feature); this crate only decides what is summed.
//!
//! Each rank computes the mean loss of its shard of `n_r` rows out of the
//! batch's `n`, and scales its gradients by `n_r / n` before the sum: the sum
//! is then the gradient of the mean loss over the whole batch, uneven shards
//! included. The gradients are laid out in one buffer in parameter order and
//! summed in buckets of about [`GradientReducer::bucket_len`] values from
//! the last parameter to the first (the order in which backward completes
//! them, as PyTorch's DistributedDataParallel does), every rank in the same
//! order: either each bucket as soon as its gradients are final, while the
//! backward pass goes on ([`AllReduce::Overlap`], `overlap.rs`), or all of
//! them after it ([`AllReduce::AfterBackward`]).
//!
//! Batch norm keeps per-rank statistics (each rank normalizes its shard by
//! the shard's mean and variance, as DistributedDataParallel does by
//! default); its running statistics are each rank's own, and rank 0's are
//! the ones saved.

use super::{Model, Trainer};
use crate::error::{Error, Result};
use chainrule::Float;

/// Sums numbers across the processes of a data-parallel run.
pub trait GradientReducer<F: Float> {
    /// This process's number, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn size(&self) -> usize;

    /// Replaces `values` by their element-wise sum over every process; every
    /// process must call it with the same length, and all end with the
    /// same sums.
    fn all_reduce_sum(&mut self, values: &mut [F]) -> Result<()>;

    /// [`GradientReducer::all_reduce_sum`] for the losses, in `f64`.
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()>;

    /// How many values one bucket of gradients holds (default: 4 MiB).
    fn bucket_len(&self) -> usize {
        (4 << 20) / std::mem::size_of::<F>()
    }

    /// Starts summing `values` over every process without waiting for the
    /// sums (an immediate all-reduce, `MPI_Iallreduce`), so that they travel
    /// while this process goes on computing; [`GradientReducer::wait_started`]
    /// hands them over. Every process must start the same lengths in the
    /// same order. `values` may be reused as soon as this returns.
    fn start_sum(&mut self, values: &[F]) -> Result<()>;

    /// Lets the sums started so far progress (MPI moves an immediate
    /// all-reduce forward inside MPI calls); called each time a gradient
    /// is ready. Default: nothing.
    fn progress(&mut self) {}

    /// Waits for every sum started since the last call and passes each to
    /// `done(k, sums)`, `k` counting the starts from 0.
    fn wait_started(&mut self, done: &mut dyn FnMut(usize, &[F])) -> Result<()>;
}

/// When the gradients are summed across the processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AllReduce {
    /// Each bucket as soon as the backward pass has completed its
    /// gradients, while the backward pass goes on (non-blocking sums,
    /// waited for before the optimizer step).
    #[default]
    Overlap,
    /// Every bucket after the backward pass, one blocking sum each.
    AfterBackward,
}

/// The rows of `rows` that rank `rank` of `size` trains on: consecutive
/// slices, the first `rows.len() % size` ranks one row longer.
pub fn shard(rows: &[usize], rank: usize, size: usize) -> &[usize] {
    let (base, extra) = (rows.len() / size, rows.len() % size);
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    &rows[start..start + len]
}

/// Refuses a run in which some rank would get no row of a batch: the
/// smallest batch (the first, or the remainder at the end of an epoch)
/// must hold a row for every process.
pub(super) fn check_shards(n: usize, batch: usize, size: usize) -> Result<()> {
    let smallest = match n % batch {
        0 => batch.min(n),
        r => r.min(batch.min(n)),
    };
    if smallest >= size {
        return Ok(());
    }
    Err(Error::config(
        "batch-size",
        format!(
            "training on {size} processes needs at least {size} rows in every batch, but a batch \
             holds {smallest} ({n} training rows in batches of {batch}); choose a --batch-size \
             whose last batch keeps at least {size} rows, or fewer processes"
        ),
    ))
}

impl<F: Float> Trainer<F> {
    /// Trains as one replica of a data-parallel run: from the next step on,
    /// this process trains on its [`shard`] of every batch and sums the
    /// gradients with the other processes through `reducer` before each
    /// update. With one process, the run is exactly a plain one.
    pub fn set_reducer(&mut self, reducer: Box<dyn GradientReducer<F>>) {
        self.reducer = Some(reducer);
    }

    /// When the gradients are summed (default [`AllReduce::Overlap`]); both
    /// give the same sums.
    pub fn set_allreduce(&mut self, mode: AllReduce) {
        self.allreduce = mode;
    }

    /// When the gradients are summed.
    pub fn allreduce(&self) -> AllReduce {
        self.allreduce
    }

    /// The data-parallel reducer, if any.
    pub fn reducer(&self) -> Option<&dyn GradientReducer<F>> {
        self.reducer.as_deref()
    }
}

/// Scales this rank's gradients by `share` (its fraction of the batch's
/// rows), sums them over the ranks in buckets from the last parameter to the
/// first, and writes the sums back: every rank ends with the gradient of
/// the whole batch's mean loss.
pub(super) fn reduce_gradients<F: Float>(
    model: &mut Model<F>,
    reducer: &mut dyn GradientReducer<F>,
    buffer: &mut Vec<F>,
    share: f64,
) -> Result<()> {
    buffer.clear();
    let s = F::from_f64(share);
    model
        .graph
        .for_each_grad(|_, g| buffer.extend(g.iter().map(|&v| v * s)));
    let bucket = reducer.bucket_len().max(1);
    let mut end = buffer.len();
    while end > 0 {
        let start = end.saturating_sub(bucket);
        reducer.all_reduce_sum(&mut buffer[start..end])?;
        end = start;
    }
    let mut at = 0;
    model.graph.update_grads(|_, g| {
        g.copy_from_slice(&buffer[at..at + g.len()]);
        at += g.len();
    });
    if at != buffer.len() {
        return Err(Error::config(
            "distributed",
            format!(
                "the gradients changed size between gathering ({}) and writing back ({at})",
                buffer.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order_uneven_ones_first_longer() {
        let rows: Vec<usize> = (100..110).collect();
        let parts: Vec<&[usize]> = (0..3).map(|r| shard(&rows, r, 3)).collect();
        assert_eq!(parts[0], &[100, 101, 102, 103]);
        assert_eq!(parts[1], &[104, 105, 106]);
        assert_eq!(parts[2], &[107, 108, 109]);
        assert_eq!(shard(&rows, 0, 1), &rows[..]);
    }

    #[test]
    fn a_batch_too_small_for_the_ranks_is_refused() {
        assert!(check_shards(100, 32, 3).is_ok()); // last batch 4 rows
        assert!(check_shards(97, 32, 2).is_err()); // last batch 1 row
        assert!(check_shards(2, 32, 3).is_err());
        assert!(check_shards(96, 32, 32).is_ok());
    }
}
