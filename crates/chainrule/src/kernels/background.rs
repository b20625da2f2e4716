//! One job at a time handed to the product team's helper thread while the
//! calling thread goes on with other work: the fused weight steps of a
//! backward pass (`graph/weight_step.rs`), which nothing later in the pass
//! reads, run beside the input gradients that the pass waits for.
//!
//! Why: on W3 (32 layers of 64×64, one core) the weight step is a third of
//! each layer's backward work and lies off the critical path; with it
//! skipped altogether the step ran 40 % faster (4,575 against 3,260
//! steps/s), so a second core doing it is the one way past one core's
//! speed at that size (a 32×64·64×64 product is too small to split).
//!
//! The protocol: a job is a function pointer and up to [`PAYLOAD`] bytes
//! of plain data, copied into the lane (so posting allocates nothing).
//! The lane's state moves `IDLE → WRITING → POSTED → RUNNING → DONE →
//! IDLE` (or `FAILED` for a job that panicked). Whoever posts holds a
//! [`Pending`] token, the only way to wait for the job and return the
//! lane to `IDLE`, and its drop waits, so a job never outlives the data it
//! points to, on any path (an error or a panic unwinding through the
//! caller included). A waiting caller that finds the job not yet taken
//! (the helper parked, or busy with a part of a product) runs it itself.
//! While a helper runs a job, [`alone`] is true on its thread, so that the
//! job's own kernels stay on it instead of claiming the team.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering::*};

/// Bytes of data a job carries.
pub(crate) const PAYLOAD: usize = 128;

/// A job: its function, called with a pointer to its payload.
pub(crate) type JobRun = unsafe fn(*const u8);

const IDLE: u8 = 0;
const WRITING: u8 = 1;
const POSTED: u8 = 2;
const RUNNING: u8 = 3;
const DONE: u8 = 4;
const FAILED: u8 = 5;

/// The lane: one job's function and payload, and its state.
struct Lane {
    state: AtomicU8,
    /// Written only by the poster between `WRITING` and `POSTED`; read
    /// only by the thread that moved the state from `POSTED` to `RUNNING`.
    run: UnsafeCell<Option<JobRun>>,
    payload: UnsafeCell<Payload>,
}

/// The payload's bytes, aligned for any plain field.
#[repr(C, align(16))]
struct Payload([u8; PAYLOAD]);

// SAFETY: `run` and `payload` are accessed under the state protocol above
// (one writer, then one reader, ordered by the state's release/acquire).
unsafe impl Sync for Lane {}

static LANE: Lane = Lane {
    state: AtomicU8::new(IDLE),
    run: UnsafeCell::new(None),
    payload: UnsafeCell::new(Payload([0; PAYLOAD])),
};

thread_local! {
    /// This thread is running a background job.
    static ALONE: Cell<bool> = const { Cell::new(false) };
    /// Jobs this thread has posted (for tests that must know a job went
    /// to a helper).
    static POSTS: Cell<u64> = const { Cell::new(0) };
}

/// How many jobs this thread has handed to a helper so far.
#[cfg(test)]
pub(crate) fn posts_here() -> u64 {
    POSTS.with(Cell::get)
}

/// Whether this thread is running a background job (its kernels must not
/// split over the team, whose other member is the caller that posted it).
pub(crate) fn alone() -> bool {
    ALONE.with(Cell::get)
}

/// A posted job, to be waited for. Not `Send`: the thread that posted it
/// waits for it.
pub(crate) struct Pending {
    _not_send: PhantomData<*const ()>,
}

/// Posts `run(payload)` for a helper of the team, unless the lane is in
/// use (another caller's job) or there is no helper: then it returns
/// `None` and the caller runs the job itself.
///
/// # Safety
/// `T` must be plain data (`Copy`, at most [`PAYLOAD`] bytes, aligned to
/// at most 16) that `run` reads back as a `T`; everything its pointers
/// address must stay valid, and untouched by the caller where `run`
/// writes, until the returned [`Pending`] is waited for or dropped.
pub(crate) unsafe fn post<T: Copy>(run: JobRun, payload: T) -> Option<Pending> {
    const { assert!(size_of::<T>() <= PAYLOAD && align_of::<T>() <= 16) };
    if alone() || super::threads::num_threads() < 2 || !super::team::has_helpers() {
        return None;
    }
    if LANE
        .state
        .compare_exchange(IDLE, WRITING, Acquire, Relaxed)
        .is_err()
    {
        return None;
    }
    // SAFETY: WRITING gives this thread the lane's fields alone; the
    // payload holds a `T` (size and alignment checked above).
    unsafe {
        *LANE.run.get() = Some(run);
        (LANE.payload.get() as *mut T).write(payload);
    }
    // SeqCst, as the helper's read of it after counting itself a sleeper:
    // either it sees the job, or this thread sees it asleep and wakes it.
    LANE.state.store(POSTED, SeqCst);
    POSTS.with(|p| p.set(p.get() + 1));
    super::team::wake_one_helper();
    Some(Pending {
        _not_send: PhantomData,
    })
}

/// Runs the posted job if there is one not yet taken (a helper's poll, or
/// a waiting caller): returns whether it ran one.
pub(crate) fn run_posted() -> bool {
    if LANE.state.load(Relaxed) != POSTED
        || LANE
            .state
            .compare_exchange(POSTED, RUNNING, Acquire, Relaxed)
            .is_err()
    {
        return false;
    }
    let was_alone = ALONE.with(|a| a.replace(true));
    // SAFETY: RUNNING gives this thread the job; the poster wrote both
    // fields before publishing POSTED, which the CAS above acquired.
    let ok = catch_unwind(AssertUnwindSafe(|| unsafe {
        let run = (*LANE.run.get()).expect("a posted job");
        run(LANE.payload.get() as *const u8)
    }))
    .is_ok();
    ALONE.with(|a| a.set(was_alone));
    LANE.state.store(if ok { DONE } else { FAILED }, Release);
    true
}

/// Whether a job is posted and not yet taken (for a parked helper's
/// wake-up condition).
pub(crate) fn is_posted() -> bool {
    LANE.state.load(SeqCst) == POSTED
}

impl Pending {
    /// Waits until the job has finished (running it here if no helper has
    /// taken it yet), and frees the lane.
    ///
    /// # Panics
    /// If the job panicked.
    pub(crate) fn wait(self) {
        let failed = self.finish();
        std::mem::forget(self);
        if failed {
            panic!("a background job panicked");
        }
    }

    /// Waits for the job and frees the lane; returns whether it failed.
    fn finish(&self) -> bool {
        run_posted();
        let mut spins = 0u32;
        let end = loop {
            match LANE.state.load(Acquire) {
                s @ (DONE | FAILED) => break s,
                _ => {
                    // A helper preempted mid-job (another process on its
                    // core) would otherwise have this thread spin through
                    // a whole time slice.
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(4096) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        };
        LANE.state.store(IDLE, Release);
        end == FAILED
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Waits on every path (unwinding included), so that no job outlives
        // its data; a failure is reported by `wait`, not here.
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    /// The payload of the test job: where to add what.
    #[derive(Clone, Copy)]
    struct Add {
        to: *const AtomicU64,
        value: u64,
    }

    /// Adds the payload's value.
    ///
    /// # Safety
    /// `data` points to an `Add` whose `to` is live.
    unsafe fn add(data: *const u8) {
        // SAFETY: the caller's contract.
        unsafe {
            let job = *(data as *const Add);
            (*job.to).fetch_add(job.value, SeqCst);
        }
    }

    #[test]
    fn a_posted_job_runs_once_and_the_lane_frees() {
        super::super::threads::set_num_threads(2);
        let total = AtomicU64::new(0);
        for value in 1..=100u64 {
            let job = Add { to: &total, value };
            // SAFETY: `Add` is plain data and `total` outlives the wait.
            match unsafe { post(add, job) } {
                Some(pending) => pending.wait(),
                // SAFETY: as above, run here.
                None => unsafe { add(&job as *const Add as *const u8) },
            }
        }
        assert_eq!(total.load(SeqCst), 5050);
        // Dropping a token waits too.
        let job = Add {
            to: &total,
            value: 7,
        };
        // SAFETY: as above.
        let pending = unsafe { post(add, job) };
        let posted = pending.is_some();
        drop(pending);
        if !posted {
            // The lane was in use (another test's backward pass).
            // SAFETY: as above, run here.
            unsafe { add(&job as *const Add as *const u8) };
        }
        assert_eq!(total.load(SeqCst), 5057);
    }

    /// Panics, for the lane's failure path.
    ///
    /// # Safety
    /// None needed; a `JobRun`'s signature.
    unsafe fn boom(_: *const u8) {
        panic!("a job that fails on purpose");
    }

    #[test]
    fn a_job_that_panics_makes_its_wait_panic_and_frees_the_lane() {
        super::super::threads::set_num_threads(2);
        // Another test may hold the lane (or set one thread) for a moment.
        let posted = || {
            (0..1000).find_map(|_| {
                // SAFETY: the payload is a plain byte `boom` never reads.
                let pending = unsafe { post(boom, 0u8) };
                if pending.is_none() {
                    std::thread::yield_now();
                }
                pending
            })
        };
        let pending = posted().expect("the lane free (this test needs 2 cores)");
        let waited = catch_unwind(AssertUnwindSafe(|| pending.wait()));
        assert!(waited.is_err(), "the job's panic reaches the waiter");
        // The lane is free again: the next job posts and runs.
        let total = AtomicU64::new(0);
        super::super::threads::set_num_threads(2);
        let job = Add {
            to: &total,
            value: 3,
        };
        let again = (0..1000)
            // SAFETY: `Add` is plain data and `total` outlives the wait.
            .find_map(|_| unsafe { post(add, job) })
            .expect("the lane freed after a failed job");
        again.wait();
        assert_eq!(total.load(SeqCst), 3);
    }
}
