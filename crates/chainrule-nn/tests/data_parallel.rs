//! Data-parallel training without MPI: N threads, each a replica with a
//! [`GradientReducer`] that sums through shared memory, train as one
//! process does: per-step losses within 1e-12 relative in f64 (1e-5 in
//! f32), final weights within as much of the largest weight, for even and
//! uneven shards, with the sums started during the backward pass
//! (`AllReduce::Overlap`) as after it, and a reducer of one rank is a
//! plain run bit for bit. (`chainrule-cli`'s tests/distributed.rs
//! runs the same under `mpiexec`.)

use chainrule::Float;
use chainrule_nn::arch::parse;
use chainrule_nn::data::{load, train_test_split, Dataset, LabelKind, Standardizer};
use chainrule_nn::trainer::{
    resolve_loss, AllReduce, GradientReducer, Model, TrainConfig, Trainer,
};
use chainrule_nn::{Init, Result};
use std::sync::{Arc, Barrier, Mutex};

fn data() -> Dataset {
    let all = load("digits", LabelKind::Class).unwrap().train;
    let (mut tr, _) = train_test_split(&all, 0.2, 3).unwrap();
    Standardizer::fit(&tr).apply(&mut tr).unwrap();
    tr
}

fn model<F: Float>(data: &Dataset, seed: u64) -> Model<F> {
    let specs = parse("linear(32),tanh,linear(16),relu,linear(10)").unwrap();
    let loss = resolve_loss(data, None).unwrap();
    Model::from_arch(&specs, &[data.d], Init::KaimingUniform, seed, loss).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        // The training rows are not a multiple of 40: the last batch is
        // shorter.
        batch_size: 40,
        seed: 7,
        lr: 0.01,
        // Small enough to clip every step: clipping must follow the sum.
        clip_norm: Some(0.05),
        ..TrainConfig::default()
    }
}

/// Sums through a shared accumulator: add, wait, read, wait, clear. A
/// started sum is a copy of the values at the start, summed when waited
/// for (as a transport that completes late would): a bucket started
/// before its gradients were final would give wrong sums.
struct Shared<F> {
    rank: usize,
    size: usize,
    acc: Arc<Mutex<(Vec<F>, Vec<f64>)>>,
    barrier: Arc<Barrier>,
    started: Vec<Vec<F>>,
    /// Every start's length, over the whole run.
    starts: Arc<Mutex<Vec<usize>>>,
}

impl<F: Float> Shared<F> {
    fn sum<T: Copy + std::ops::AddAssign + Default>(
        &self,
        values: &mut [T],
        pick: impl Fn(&mut (Vec<F>, Vec<f64>)) -> &mut Vec<T>,
    ) {
        {
            let mut g = self.acc.lock().unwrap();
            let acc = pick(&mut g);
            acc.resize(values.len(), T::default());
            for (a, v) in acc.iter_mut().zip(values.iter()) {
                *a += *v;
            }
        }
        self.barrier.wait();
        values.copy_from_slice(pick(&mut self.acc.lock().unwrap()));
        if self.barrier.wait().is_leader() {
            pick(&mut self.acc.lock().unwrap()).clear();
        }
        self.barrier.wait();
    }
}

impl<F: Float + Default> GradientReducer<F> for Shared<F> {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&mut self, values: &mut [F]) -> Result<()> {
        self.sum(values, |a| &mut a.0);
        Ok(())
    }
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        self.sum(values, |a| &mut a.1);
        Ok(())
    }
    fn bucket_len(&self) -> usize {
        // Small buckets: several per step (in overlap, 3 of whole
        // parameters: see `overlap_buckets_hold_whole_parameters_from_the_last`).
        150
    }
    fn start_sum(&mut self, values: &[F]) -> Result<()> {
        self.started.push(values.to_vec());
        if self.rank == 0 {
            self.starts.lock().unwrap().push(values.len());
        }
        Ok(())
    }
    fn wait_started(&mut self, done: &mut dyn FnMut(usize, &[F])) -> Result<()> {
        for (k, mut values) in std::mem::take(&mut self.started).into_iter().enumerate() {
            self.sum(&mut values, |a| &mut a.0);
            done(k, &values);
        }
        Ok(())
    }
}

/// Step losses and every weight of a run on `size` threads (rank 0's),
/// or of a plain run when `size` is 0.
fn run<F: Float + Default>(size: usize, mode: AllReduce) -> (Vec<f64>, Vec<f64>) {
    run_counting_starts::<F>(size, mode).0
}

/// [`run`], and the length of every sum rank 0 started without waiting.
fn run_counting_starts<F: Float + Default>(
    size: usize,
    mode: AllReduce,
) -> ((Vec<f64>, Vec<f64>), Vec<usize>) {
    let tr = Arc::new(data());
    let starts = Arc::new(Mutex::new(Vec::new()));
    let one = |reducer: Option<Shared<F>>| {
        let mut m = model::<F>(&tr, 1);
        let mut t = Trainer::<F>::new(&config()).unwrap();
        t.set_allreduce(mode);
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r));
        }
        let mut losses = Vec::new();
        while !t.is_done() {
            t.run_epoch(&mut m, &tr, None, |s| losses.push(s.loss))
                .unwrap();
        }
        let weights = m
            .network
            .parameters()
            .into_iter()
            .flat_map(|(_, p)| m.graph.param_value(p).unwrap().into_vec())
            .map(|v| v.as_f64())
            .collect();
        (losses, weights)
    };
    if size == 0 {
        return (one(None), Vec::new());
    }
    let acc = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let barrier = Arc::new(Barrier::new(size));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let r = Shared {
                    rank,
                    size,
                    acc: Arc::clone(&acc),
                    barrier: Arc::clone(&barrier),
                    started: Vec::new(),
                    starts: Arc::clone(&starts),
                };
                let one = &one;
                s.spawn(move || one(Some(r)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results[1..] {
        assert_eq!(r.1, results[0].1, "the replicas' weights drifted apart");
    }
    let starts = starts.lock().unwrap().clone();
    (results.into_iter().next().unwrap(), starts)
}

fn assert_close(a: &(Vec<f64>, Vec<f64>), b: &(Vec<f64>, Vec<f64>), rel: f64) {
    assert_eq!(a.0.len(), b.0.len());
    for (i, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
        assert!(
            (x - y).abs() <= rel * x.abs(),
            "step {}: {x} against {y}",
            i + 1
        );
    }
    let scale = a.1.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (x, y) in a.1.iter().zip(&b.1) {
        // Relative to the largest weight: Adam divides each gradient by
        // its own running size, so a weight whose gradients nearly cancel
        // across the batch moves by the rounding of that cancellation
        // (measured: 1.7e-5 of a weight of 0.011 in f32, 2e-7 of the
        // largest).
        assert!(
            (x - y).abs() <= rel * scale,
            "{x} against {y} (largest weight {scale})"
        );
    }
}

const MODES: [AllReduce; 2] = [AllReduce::Overlap, AllReduce::AfterBackward];

#[test]
fn two_and_three_replicas_match_one_process_in_f64_and_f32() {
    for mode in MODES {
        let plain = run::<f64>(0, mode);
        for n in [2, 3] {
            assert_close(&plain, &run::<f64>(n, mode), 1e-12);
        }
        let plain = run::<f32>(0, mode);
        for n in [2, 3] {
            assert_close(&plain, &run::<f32>(n, mode), 1e-5);
        }
    }
}

#[test]
fn one_replica_is_a_plain_run_bit_for_bit() {
    for mode in MODES {
        let (a, b) = (run::<f32>(0, mode), run::<f32>(1, mode));
        assert_eq!(a.0, b.0);
        assert!(a
            .1
            .iter()
            .zip(&b.1)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// The network's parameters, in order: 64×32 + 32, 32×16 + 16, 16×10 + 10
/// values. Buckets of at least 150 values, of whole parameters, from the
/// last: {b3, W3} = 170, {b2, W2} = 528, {b1, W1} = 2080; every step starts
/// these three, in this order. Blocking mode starts none.
#[test]
fn overlap_buckets_hold_whole_parameters_from_the_last() {
    let (_, starts) = run_counting_starts::<f64>(2, AllReduce::Overlap);
    // 2 epochs of ceil(rows / 40) steps.
    let steps = 2 * data().n.div_ceil(40);
    assert_eq!(starts.len(), steps * 3);
    for step in starts.chunks(3) {
        assert_eq!(step, [170, 528, 2080]);
    }
    let (_, starts) = run_counting_starts::<f64>(2, AllReduce::AfterBackward);
    assert!(starts.is_empty());
}
