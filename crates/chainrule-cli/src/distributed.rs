//! `chainrule train --distributed`: one replica of the run per MPI process
//! (`mpirun -np N chainrule train --distributed ...`), built with
//! `--features mpi`; see docs/distributed.md.
//!
//! Every rank reads the data and builds the same model from the same flags;
//! the data's fingerprint is compared with rank 0's before the first step.
//! Each batch is split across the ranks and the gradients are summed with
//! `MPI_Allreduce` (the [`GradientReducer`] of `chainrule-nn`). Rank 0 alone
//! creates the run folder, shows progress and writes files.
//!
//! Errors: one that every rank sees alike (a data mismatch) ends every rank
//! normally, rank 0 printing it; any other error on one rank is printed
//! with its rank and ends the whole job with `MPI_Abort`, so that no rank
//! waits forever for a rank that has stopped. A rank that dies (a signal)
//! is the launcher's to handle: MPICH's and Open MPI's `mpirun` end the
//! other ranks when one dies.

#[cfg(feature = "mpi")]
pub use with_mpi::Session;

/// Without the `mpi` feature there is no session: `--distributed` is an
/// error naming the feature.
#[cfg(not(feature = "mpi"))]
pub enum Session {}

#[cfg(not(feature = "mpi"))]
impl Session {
    /// `--distributed` in a build without MPI: an error saying how to build.
    pub fn start() -> chainrule_nn::Result<Session> {
        Err(chainrule_nn::Error::config(
            "distributed",
            "this chainrule was built without MPI: build it with \
             `cargo build --release --features mpi` (an MPI library and libclang installed, \
             see docs/distributed.md) and run it as `mpirun -np N chainrule train \
             --distributed ...`",
        ))
    }

    pub fn rank(&self) -> usize {
        match *self {}
    }

    pub fn check_data(&self, _fingerprint: &str) -> chainrule_nn::Result<()> {
        match *self {}
    }

    pub fn reducer(
        &self,
        _bucket_kib: usize,
    ) -> Box<dyn chainrule_nn::trainer::GradientReducer<f32>> {
        match *self {}
    }

    pub fn finish<T>(
        self,
        _result: chainrule_nn::Result<T>,
        _quiet: bool,
    ) -> chainrule_nn::Result<T> {
        match self {}
    }
}

#[cfg(feature = "mpi")]
mod reducer;

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::reducer::{MpiReducer, Traffic};
    use chainrule_nn::trainer::GradientReducer;
    use chainrule_nn::{Error, Result};
    use mpi::environment::Universe;
    use mpi::traits::*;
    use std::cell::Cell;
    use std::io::Write;
    use std::rc::Rc;
    use std::time::Instant;

    /// The fingerprint's length on the wire (an XXH3-128 in hex is 32).
    const FINGERPRINT_BYTES: usize = 64;

    /// An MPI run: the environment (finalized when dropped), this rank.
    pub struct Session {
        universe: Universe,
        rank: usize,
        size: usize,
        agreed_failure: Cell<bool>,
        traffic: Rc<Traffic>,
        started: Instant,
    }

    impl Session {
        /// Initializes MPI (only the main thread calls it).
        pub fn start() -> Result<Session> {
            let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
                .ok_or_else(|| Error::config("distributed", "MPI was already initialized"))?;
            let world = universe.world();
            Ok(Session {
                rank: world.rank() as usize,
                size: world.size() as usize,
                universe,
                agreed_failure: Cell::new(false),
                traffic: Rc::default(),
                started: Instant::now(),
            })
        }

        pub fn rank(&self) -> usize {
            self.rank
        }

        /// Refuses to train when a rank's data differs from rank 0's (the
        /// fingerprint of the rows loaded), naming the ranks; every rank
        /// learns the outcome.
        pub fn check_data(&self, fingerprint: &str) -> Result<()> {
            let world = self.universe.world();
            let mut mine = [0u8; FINGERPRINT_BYTES];
            let bytes = fingerprint.as_bytes();
            mine[..bytes.len().min(FINGERPRINT_BYTES)]
                .copy_from_slice(&bytes[..bytes.len().min(FINGERPRINT_BYTES)]);
            let mut all = vec![0u8; FINGERPRINT_BYTES * self.size];
            world.all_gather_into(&mine[..], &mut all[..]);
            let text = |r: usize| {
                let b = &all[r * FINGERPRINT_BYTES..(r + 1) * FINGERPRINT_BYTES];
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string()
            };
            let zero = text(0);
            let differ: Vec<usize> = (1..self.size).filter(|&r| text(r) != zero).collect();
            if differ.is_empty() {
                return Ok(());
            }
            self.agreed_failure.set(true);
            let list = differ
                .iter()
                .map(|&r| format!("rank {r} (fingerprint {})", text(r)))
                .collect::<Vec<_>>()
                .join(", ");
            Err(Error::config(
                "distributed",
                format!(
                    "the data of {list} differs from rank 0's (fingerprint {zero}): every rank \
                     must load the same rows; stopped before the first step"
                ),
            ))
        }

        /// The gradient reducer of this rank, summing buckets of
        /// `bucket_kib` KiB.
        pub fn reducer(&self, bucket_kib: usize) -> Box<dyn GradientReducer<f32>> {
            Box::new(MpiReducer::new(
                self.universe.world(),
                (self.rank, self.size),
                bucket_kib * 1024 / 4,
                Rc::clone(&self.traffic),
            ))
        }

        /// Ends the run: rank 0 reports the time spent communicating (on
        /// stderr, unless `quiet`); an error every rank saw alike ends every
        /// rank normally (rank 0 returns it, the others exit with status
        /// 2); any other error is printed with its rank and ends the whole
        /// job.
        pub fn finish<T>(self, result: Result<T>, quiet: bool) -> Result<T> {
            match result {
                Ok(v) => {
                    if self.rank == 0 && !quiet {
                        let t = &self.traffic;
                        let total = self.started.elapsed().as_secs_f64();
                        eprintln!(
                            "distributed: {} processes; {:.3} s of {:.3} s in the sums \
                             (of which {:.3} s waiting for sums started during the backward \
                             pass; {} sums, {} bytes summed per rank)",
                            self.size,
                            t.seconds.get(),
                            total,
                            t.waiting.get(),
                            t.calls.get(),
                            t.values.get() * 4
                        );
                    }
                    Ok(v)
                }
                // A non-finite loss is the batch's summed loss, which every
                // rank computed alike: all stop together, as for a data
                // mismatch.
                Err(e)
                    if self.agreed_failure.get()
                        || self.size == 1
                        || matches!(e, chainrule_nn::Error::NonFinite { .. }) =>
                {
                    if self.rank == 0 {
                        return Err(e);
                    }
                    drop(self);
                    std::process::exit(2);
                }
                Err(e) => {
                    eprintln!(
                        "error: {e} (rank {} of {}: stopping every rank)",
                        self.rank, self.size
                    );
                    let _ = std::io::stderr().flush();
                    self.universe.world().abort(2)
                }
            }
        }
    }
}
