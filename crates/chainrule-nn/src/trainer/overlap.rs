//! Data-parallel training with the sums overlapping the backward pass
//! ([`AllReduce::Overlap`](super::AllReduce::Overlap), PyTorch
//! DistributedDataParallel's design): the parameters are grouped into
//! buckets of whole parameters, from the last parameter to the first (the
//! order in which the backward pass completes them), each of about
//! [`GradientReducer::bucket_len`] values. The engine reports each
//! parameter's gradient as soon as it is final
//! ([`chainrule::Var::backward_notify`]); it is scaled by the rank's share
//! of the batch into its place in one buffer, and a bucket whose every
//! parameter has arrived is handed to [`GradientReducer::start_sum`] (an
//! immediate all-reduce) while the backward pass goes on. Buckets start
//! strictly in bucket order, so that every rank starts them in the same
//! order. After the backward pass the buckets still waiting (parameters
//! that received no gradient count as zeros) are started, every sum is
//! waited for, and the sums are written back as the gradients.

use super::data_parallel::GradientReducer;
use super::Model;
use crate::error::{Error, Result};
use chainrule::{Float, Graph, ParamId};
use std::ops::Range;

/// The buckets of one model and the current step's progress through them.
pub(super) struct Overlap<F: Float> {
    /// Per parameter: its range in `flat` and its bucket.
    place: Vec<Range<usize>>,
    bucket_of: Vec<usize>,
    /// Per bucket: its range in `flat` and how many parameters it holds.
    buckets: Vec<Range<usize>>,
    counts: Vec<usize>,
    /// This step: parameters still to arrive per bucket, whether each
    /// parameter arrived, how many buckets have started.
    remaining: Vec<usize>,
    arrived: Vec<bool>,
    started: usize,
    /// The scaled gradients, then their sums, in parameter order.
    flat: Vec<F>,
    share: F,
    /// The first error a start met during the backward pass (the hook
    /// cannot return one).
    error: Option<Error>,
}

impl<F: Float> Default for Overlap<F> {
    fn default() -> Self {
        Overlap {
            place: Vec::new(),
            bucket_of: Vec::new(),
            buckets: Vec::new(),
            counts: Vec::new(),
            remaining: Vec::new(),
            arrived: Vec::new(),
            started: 0,
            flat: Vec::new(),
            share: F::one(),
            error: None,
        }
    }
}

impl<F: Float> Overlap<F> {
    /// Lays the buckets out for `graph`'s parameters, again only when
    /// their sizes changed (called before an epoch's first step).
    pub(super) fn prepare(&mut self, graph: &Graph<F>, bucket_len: usize) -> Result<()> {
        let params = graph.params();
        let same = params.len() == self.place.len()
            && params.iter().zip(&self.place).all(|(&p, r)| {
                graph
                    .param_shape(p)
                    .is_ok_and(|s| s.numel() == r.end - r.start)
            });
        if same {
            return Ok(());
        }
        self.lay_out(graph, &params, bucket_len.max(1))
    }

    /// Readies a step in which this rank holds `share` of the batch's rows.
    pub(super) fn begin(&mut self, share: f64) {
        self.remaining.clone_from(&self.counts);
        self.arrived.fill(false);
        self.started = 0;
        self.share = F::from_f64(share);
        self.error = None;
    }

    fn lay_out(&mut self, graph: &Graph<F>, params: &[ParamId], bucket_len: usize) -> Result<()> {
        self.place.clear();
        let mut at = 0;
        for &p in params {
            let n = graph.param_shape(p)?.numel();
            self.place.push(at..at + n);
            at += n;
        }
        self.flat.clear();
        self.flat.resize(at, F::zero());
        self.bucket_of.clear();
        self.bucket_of.resize(params.len(), 0);
        self.buckets.clear();
        self.counts.clear();
        // From the last parameter to the first, closing a bucket once it
        // holds `bucket_len` values (a larger parameter is a bucket alone).
        let mut end = at;
        let mut count = 0;
        for i in (0..params.len()).rev() {
            let start = self.place[i].start;
            self.bucket_of[i] = self.buckets.len();
            count += 1;
            if end - start >= bucket_len || i == 0 {
                self.buckets.push(start..end);
                self.counts.push(count);
                end = start;
                count = 0;
            }
        }
        self.arrived.clear();
        self.arrived.resize(params.len(), false);
        Ok(())
    }

    /// The hook: parameter `p`'s final gradient of this rank, scaled into
    /// its place; every bucket now complete, in order, starts its sum.
    pub(super) fn ready(&mut self, reducer: &mut dyn GradientReducer<F>, p: ParamId, grad: &[F]) {
        let i = p.index();
        let Some(place) = self.place.get(i).cloned() else {
            return;
        };
        let s = self.share;
        for (d, &g) in self.flat[place].iter_mut().zip(grad) {
            *d = g * s;
        }
        if !self.arrived[i] {
            self.arrived[i] = true;
            self.remaining[self.bucket_of[i]] -= 1;
        }
        while self.started < self.buckets.len() && self.remaining[self.started] == 0 {
            self.start(reducer);
        }
        reducer.progress();
    }

    fn start(&mut self, reducer: &mut dyn GradientReducer<F>) {
        let range = self.buckets[self.started].clone();
        self.started += 1;
        if let Err(e) = reducer.start_sum(&self.flat[range]) {
            self.error.get_or_insert(e);
        }
    }

    /// After the backward pass: starts the buckets still waiting (their
    /// missing parameters as zeros), waits for every sum and writes the
    /// sums back as the model's gradients.
    pub(super) fn finish(
        &mut self,
        model: &mut Model<F>,
        reducer: &mut dyn GradientReducer<F>,
    ) -> Result<()> {
        for (i, place) in self.place.iter().enumerate() {
            if !self.arrived[i] {
                self.flat[place.clone()].fill(F::zero());
            }
        }
        while self.started < self.buckets.len() {
            self.start(reducer);
        }
        let (buckets, flat) = (&self.buckets, &mut self.flat);
        let mut waited = Ok(());
        let mut wrong = None;
        let result = reducer.wait_started(&mut |k, sums| match buckets.get(k) {
            Some(r) if r.end - r.start == sums.len() => flat[r.clone()].copy_from_slice(sums),
            _ => wrong = Some((k, sums.len())),
        });
        if let Some((k, n)) = wrong {
            waited = Err(Error::config(
                "distributed",
                format!("the reducer returned a sum #{k} of {n} values that no bucket started"),
            ));
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        result.and(waited)?;
        let (place, flat) = (&self.place, &self.flat);
        model.graph.update_grads(|p, g| {
            if let Some(r) = place.get(p.index()) {
                g.copy_from_slice(&flat[r.clone()]);
            }
        });
        Ok(())
    }
}
