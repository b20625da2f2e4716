//! The MPI side of the [`GradientReducer`]: blocking sums with
//! `MPI_Allreduce`, and the sums that overlap the backward pass with
//! `MPI_Iallreduce` (each with its own buffers, kept from step to step),
//! `MPI_Testall` to let them progress and `MPI_Waitall` before the update.
//! Every call is timed, for the report at the end of the run.

use chainrule_nn::trainer::GradientReducer;
use chainrule_nn::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;
use std::time::Instant;

/// What the reducer measured, over the whole run.
#[derive(Default)]
pub(super) struct Traffic {
    /// Seconds inside MPI calls that sum gradients or losses (blocking
    /// sums, starts, progress and waits).
    pub seconds: Cell<f64>,
    /// Of which seconds waiting for started sums (`MPI_Waitall`).
    pub waiting: Cell<f64>,
    /// Values summed, and sums made (blocking or started).
    pub values: Cell<u64>,
    pub calls: Cell<u64>,
}

/// Sums on `MPI_COMM_WORLD` with `MPI_SUM`, timed.
pub(super) struct MpiReducer {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    bucket_len: usize,
    traffic: Rc<Traffic>,
    /// The copy a blocking sum sends.
    send: Vec<f32>,
    /// Per sum started since the last wait: its send and receive buffers
    /// (a buffer is written only before its sum starts, and read after the
    /// wait), and its request.
    buffers: Vec<(Vec<f32>, Vec<f32>)>,
    requests: Vec<ffi::MPI_Request>,
}

impl MpiReducer {
    /// The reducer of rank `rank` of `size`, summing buckets of
    /// `bucket_len` values.
    pub(super) fn new(
        world: SimpleCommunicator,
        (rank, size): (usize, usize),
        bucket_len: usize,
        traffic: Rc<Traffic>,
    ) -> MpiReducer {
        MpiReducer {
            world,
            rank,
            size,
            bucket_len: bucket_len.max(1),
            traffic,
            send: Vec::new(),
            buffers: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn timed<R>(&self, values: usize, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let tr = &self.traffic;
        tr.seconds.set(tr.seconds.get() + t.elapsed().as_secs_f64());
        tr.values.set(tr.values.get() + values as u64);
        tr.calls.set(tr.calls.get() + u64::from(values > 0));
        r
    }
}

/// An MPI return code as a result.
fn check(code: i32, call: &str) -> Result<()> {
    if code == ffi::MPI_SUCCESS as i32 {
        return Ok(());
    }
    Err(Error::config(
        "distributed",
        format!("{call} failed with MPI error code {code}"),
    ))
}

impl GradientReducer<f32> for MpiReducer {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn bucket_len(&self) -> usize {
        self.bucket_len
    }

    fn all_reduce_sum(&mut self, values: &mut [f32]) -> Result<()> {
        let mut send = std::mem::take(&mut self.send);
        send.clear();
        send.extend_from_slice(values);
        self.timed(values.len(), || {
            self.world
                .all_reduce_into(&send[..], values, SystemOperation::sum())
        });
        self.send = send;
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        let send = values.to_vec();
        self.timed(0, || {
            self.world
                .all_reduce_into(&send[..], values, SystemOperation::sum())
        });
        Ok(())
    }

    fn start_sum(&mut self, values: &[f32]) -> Result<()> {
        let count = i32::try_from(values.len()).map_err(|_| {
            Error::config(
                "distributed",
                format!("a bucket of {} values is too large for MPI", values.len()),
            )
        })?;
        let k = self.requests.len();
        if self.buffers.len() == k {
            // Moves the other buffers' handles, not their contents.
            self.buffers.push((Vec::new(), Vec::new()));
        }
        let (send, recv) = &mut self.buffers[k];
        send.clear();
        send.extend_from_slice(values);
        recv.clear();
        recv.resize(values.len(), 0.0);
        let (send, recv) = (send.as_ptr(), recv.as_mut_ptr());
        // SAFETY: MPI_NULL is replaced by the call. Both buffers hold
        // `count` floats and stay allocated and untouched until
        // `wait_started` has waited for the request (or are leaked by
        // `drop`): only a later start with another index, or a start after
        // the wait, writes them.
        let mut request = unsafe { ffi::RSMPI_REQUEST_NULL };
        let code = self.timed(values.len(), || unsafe {
            ffi::MPI_Iallreduce(
                send as *const c_void,
                recv as *mut c_void,
                count,
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.world.as_raw(),
                &mut request,
            )
        });
        check(code, "MPI_Iallreduce")?;
        self.requests.push(request);
        Ok(())
    }

    fn progress(&mut self) {
        if self.requests.is_empty() {
            return;
        }
        let mut flag = 0;
        let n = self.requests.len() as i32;
        let requests = self.requests.as_mut_ptr();
        // SAFETY: the requests are live or null; completed ones become
        // null, which `MPI_Waitall` accepts. An error aborts the job
        // (MPI's default handler), so the code is not checked.
        self.timed(0, || unsafe {
            ffi::MPI_Testall(n, requests, &mut flag, ffi::RSMPI_STATUSES_IGNORE)
        });
    }

    fn wait_started(&mut self, done: &mut dyn FnMut(usize, &[f32])) -> Result<()> {
        let n = self.requests.len() as i32;
        let requests = self.requests.as_mut_ptr();
        let t = Instant::now();
        // SAFETY: as in `progress`.
        let code = self.timed(0, || unsafe {
            ffi::MPI_Waitall(n, requests, ffi::RSMPI_STATUSES_IGNORE)
        });
        let tr = &self.traffic;
        tr.waiting.set(tr.waiting.get() + t.elapsed().as_secs_f64());
        let started = self.requests.len();
        self.requests.clear();
        check(code, "MPI_Waitall")?;
        for (k, (_, sums)) in self.buffers[..started].iter().enumerate() {
            done(k, sums);
        }
        Ok(())
    }
}

impl Drop for MpiReducer {
    fn drop(&mut self) {
        // Sums still in flight (only when a step failed between a start
        // and its wait): MPI may still write their buffers, so they are
        // leaked rather than freed.
        if !self.requests.is_empty() {
            std::mem::forget(std::mem::take(&mut self.buffers));
        }
    }
}
