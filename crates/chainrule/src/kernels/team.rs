//! A small team of helper threads that stay awake between the large
//! kernels of a training step, so that splitting one matrix product in two
//! costs a cache-line hand-off rather than a futex wake-up.
//!
//! Why not rayon here: on the 2-core virtual machine the benchmarks run on,
//! a rayon worker that went to sleep between two products takes longer to
//! wake than half a W2 product takes to compute; `rayon::join` then ran both
//! halves on the calling thread and two threads gave 1.0–1.5× (measured on
//! W2's five large products, 140–780 µs each). Helpers that spin for a
//! while after each job before parking gave 1.85–1.95× on the same
//! products, and took W2 from about 450 to 630 steps/s. rayon remains the
//! fallback for a second caller while the team is busy.
//!
//! The cost: after a job that used it, a helper keeps its core busy for up
//! to `SPIN` (2 ms) waiting for the next one. Small products never use
//! the team (they stay on the calling thread), so W1-sized work never
//! wakes it; W3's fused weight steps do, as background jobs
//! (`background.rs`), which a helper polls for beside the parts of
//! products.
//!
//! How it works: a job is a function of a part index. The caller publishes
//! it, then claims parts itself, as do the helpers; a helper that has not
//! woken up in time simply finds every part claimed. The caller returns
//! only once every part has finished, so a job never outlives the borrow it
//! was built from. One caller uses the team at a time; a second, concurrent
//! caller runs its parts through rayon instead.
//!
//! The protocol is lock-free (a lock costs a futex call when contended,
//! which is what a hand-off is): one atomic word holds the job's epoch,
//! its number of parts and the next part to claim, so that a claim is one
//! compare-and-swap that can only succeed for the current job. A thread
//! reads the job's function only after claiming one of its parts, and the
//! caller replaces the function only after every part has finished.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper keeps spinning before it parks: long enough to
/// bridge the elementwise work between two products of a training step.
const SPIN: Duration = Duration::from_millis(2);

/// A job's function, with its lifetime erased (see [`run_parts`]).
type JobFn = *const (dyn Fn(usize) + Sync + 'static);

/// The claim word: epoch in the high 32 bits, part count in the next 16,
/// next unclaimed part in the low 16.
fn pack(epoch: u64, parts: u64, next: u64) -> u64 {
    (epoch << 32) | (parts << 16) | next
}

/// `(epoch, parts, next)` of a claim word (the inverse of [`pack`]).
fn unpack(word: u64) -> (u64, u64, u64) {
    (word >> 32, (word >> 16) & 0xffff, word & 0xffff)
}

/// At most this many parts per job (the width of the part fields).
const MAX_PARTS: usize = u16::MAX as usize;

struct Team {
    claim: AtomicU64,
    /// The current job's function: written by the owning caller only while
    /// no part of any job is claimed and unfinished; read only by a thread
    /// that holds an unfinished part of the current job.
    job: UnsafeCell<Option<JobFn>>,
    /// Parts of the current job not yet finished.
    remaining: AtomicUsize,
    /// A part of the current job panicked.
    panicked: AtomicBool,
    /// Held by the one caller that owns the team for a job.
    busy: AtomicBool,
    /// Parking for helpers that spun too long without work.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
    /// Helper threads running.
    helpers: AtomicUsize,
}

// SAFETY: `job` is accessed under the protocol described on the field (and
// the function it points to is `Sync`); everything else is atomic or a
// lock.
unsafe impl Sync for Team {}

static TEAM: OnceLock<&'static Team> = OnceLock::new();

/// The team, started on first use with one helper per core beyond the
/// first (`None` on a single core, or when threads cannot be spawned).
fn team() -> Option<&'static Team> {
    let team = TEAM.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let team: &'static Team = Box::leak(Box::new(Team {
            claim: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            remaining: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
            helpers: AtomicUsize::new(0),
        }));
        let mut started = 0;
        for i in 0..cores.saturating_sub(1) {
            let spawned = std::thread::Builder::new()
                .name(format!("chainrule-helper-{i}"))
                .spawn(move || helper(team, i as u64));
            if spawned.is_ok() {
                started += 1;
            }
        }
        // A helper that failed to start never claims a part (the caller
        // finishes every part itself); count only those that run.
        team.helpers.store(started, Relaxed);
        team
    });
    (team.helpers.load(Relaxed) > 0).then_some(*team)
}

/// Whether the team has a helper thread running.
pub(crate) fn has_helpers() -> bool {
    team().is_some()
}

/// Wakes one parked helper, if any (a background job was posted: one
/// helper runs it).
pub(crate) fn wake_one_helper() {
    if let Some(team) = team() {
        if team.sleepers.load(SeqCst) > 0 {
            let _guard = team.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            team.wake.notify_one();
        }
    }
}

/// Runs `f(0)`, …, `f(parts − 1)`, spread over the calling thread and the
/// team's helpers, and returns when all have finished. Parts must be
/// independent (each writes its own data).
pub(crate) fn run_parts(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    if !try_run_parts(parts, f) {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(f);
    }
}

/// [`run_parts`], except that when the team is busy (a part of another
/// job, or another thread's job) the parts run in order on the calling
/// thread: for loops too short to be worth starting rayon's pool.
pub(crate) fn run_parts_or_here(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    if !try_run_parts(parts, f) {
        (0..parts).for_each(f);
    }
}

/// Runs the parts as [`run_parts`] does, unless the team is busy: then it
/// runs nothing and returns false.
fn try_run_parts(parts: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
    if parts <= 1 {
        if parts == 1 {
            f(0);
        }
        return true;
    }
    let team = match team() {
        Some(team) if parts <= MAX_PARTS => team,
        _ => {
            (0..parts).for_each(f);
            return true;
        }
    };
    if team
        .busy
        .compare_exchange(false, true, Acquire, Relaxed)
        .is_err()
    {
        return false;
    }
    // SAFETY: the lifetime is erased only to store the pointer in the
    // team; it is read only by threads holding an unfinished part of this
    // job, and this function returns only after every part has finished.
    let job: JobFn = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), JobFn>(f) };
    // SAFETY: the caller owns the team (`busy`) and the previous job, if
    // any, has every part finished, so no thread reads `job` now.
    unsafe { *team.job.get() = Some(job) };
    team.panicked.store(false, Relaxed);
    team.remaining.store(parts, Relaxed);
    let epoch = unpack(team.claim.load(Relaxed)).0.wrapping_add(1) & 0xffff_ffff;
    team.claim.store(pack(epoch, parts as u64, 0), SeqCst);
    if team.sleepers.load(SeqCst) > 0 {
        let _guard = team.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        team.wake.notify_all();
    }
    work(team, epoch);
    while team.remaining.load(Acquire) != 0 {
        std::hint::spin_loop();
    }
    let panicked = team.panicked.load(Relaxed);
    team.busy.store(false, Release);
    if panicked {
        panic!("a parallel kernel part panicked");
    }
    true
}

/// Claims and runs parts of job `epoch` until none is left.
fn work(team: &Team, epoch: u64) {
    let mut word = team.claim.load(Acquire);
    loop {
        let (e, parts, next) = unpack(word);
        if e != epoch || next >= parts {
            return;
        }
        match team
            .claim
            .compare_exchange_weak(word, word + 1, AcqRel, Acquire)
        {
            Ok(_) => {
                // SAFETY: part `next` of the current job is claimed and not
                // finished, so the caller is still waiting in `run_parts`
                // and has not replaced the function (which it wrote before
                // publishing the claim word this CAS read from).
                let ok = catch_unwind(AssertUnwindSafe(|| unsafe {
                    let job = (*team.job.get()).expect("a published job");
                    (*job)(next as usize)
                }))
                .is_ok();
                if !ok {
                    team.panicked.store(true, Relaxed);
                }
                team.remaining.fetch_sub(1, Release);
                word = team.claim.load(Acquire);
            }
            Err(current) => word = current,
        }
    }
}

/// A helper's life: wait for a new job (spinning, then parked), help with
/// it, repeat; while waiting, run any background job posted
/// (`background.rs`), then spin for the next as after a part. Helper `index` helps only with jobs of more than `index + 1`
/// parts (the caller takes one); after a job too small to need it, it parks
/// at once rather than spin, so that a machine with many cores does not
/// keep them all busy for a two-way split.
fn helper(team: &Team, index: u64) {
    let mut seen = unpack(team.claim.load(Acquire)).0;
    let mut spin = false;
    loop {
        let mut started = Instant::now();
        let mut spins = 0u32;
        let word = loop {
            let word = team.claim.load(Acquire);
            if unpack(word).0 != seen {
                break word;
            }
            if super::background::run_posted() {
                // A background job done: spin for the next one as after a
                // part of a product.
                spin = true;
                started = Instant::now();
                continue;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if !spin || (spins.is_multiple_of(1024) && started.elapsed() > SPIN) {
                let mut guard = team.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                team.sleepers.fetch_add(1, SeqCst);
                while unpack(team.claim.load(SeqCst)).0 == seen && !super::background::is_posted() {
                    guard = team.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                team.sleepers.fetch_sub(1, SeqCst);
            }
        };
        let (epoch, parts, _) = unpack(word);
        seen = epoch;
        spin = index + 1 < parts;
        if spin {
            work(team, seen);
        }
    }
}

/// `f(out_block, in_block)` over matching contiguous blocks of `out` and
/// `inp` (equal lengths), in parallel when there are at least two blocks of
/// `min_block` elements and more than one thread is allowed; otherwise one
/// call on the whole slices. For memory-bound loops (updates, copies) that
/// one core does not saturate.
pub fn zip_blocks<T: Send, U: Sync>(
    out: &mut [T],
    inp: &[U],
    min_block: usize,
    f: impl Fn(&mut [T], &[U]) + Sync,
) {
    let len = out.len().min(inp.len());
    let min_block = min_block.max(1);
    let parts = if len < 2 * min_block {
        1
    } else {
        super::threads::num_threads().min(len / min_block)
    };
    if parts <= 1 {
        f(&mut out[..len], &inp[..len]);
        return;
    }
    let block = len.div_ceil(parts);
    let (po, pi) = (out.as_mut_ptr() as usize, inp.as_ptr() as usize);
    run_parts(parts, &|p| {
        let start = p * block;
        let n = block.min(len - start);
        // SAFETY: blocks `p·block .. p·block + n` lie inside both slices
        // (`n` is cut at `len`) and are disjoint between parts; both borrows
        // outlive `run_parts`, which returns only when every part is done.
        let (o, i) = unsafe {
            (
                std::slice::from_raw_parts_mut((po as *mut T).add(start), n),
                std::slice::from_raw_parts((pi as *const U).add(start), n),
            )
        };
        f(o, i);
    });
}

/// `f(p, block_p)` for every block `p` of `out` cut into `block` elements
/// (the last one shorter), spread over the team when `parallel` (else, or
/// when the team is busy, in order on the calling thread). For kernels whose independent parts each
/// write one contiguous stretch of the output (a chunk of images).
pub(crate) fn each_block_mut<T: Send>(
    out: &mut [T],
    block: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let block = block.max(1);
    if !parallel {
        for (p, part) in out.chunks_mut(block).enumerate() {
            f(p, part);
        }
        return;
    }
    let len = out.len();
    let po = out.as_mut_ptr() as usize;
    run_parts_or_here(len.div_ceil(block), &|p| {
        let start = p * block;
        let n = block.min(len - start);
        // SAFETY: block `p` is `start .. start + n` of `out` (`n` cut at
        // its end), disjoint from every other part's; the borrow of `out`
        // outlives `run_parts`, which returns only when every part is done.
        let part = unsafe { std::slice::from_raw_parts_mut((po as *mut T).add(start), n) };
        f(p, part);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn every_part_runs_exactly_once() {
        for parts in [0, 1, 2, 3, 7, 64] {
            let counts: Vec<AtomicU32> = (0..parts).map(|_| AtomicU32::new(0)).collect();
            for _ in 0..50 {
                run_parts(parts, &|p| {
                    counts[p].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 50));
        }
    }

    #[test]
    fn each_block_mut_hands_out_every_block_once() {
        for parallel in [false, true] {
            for (len, block) in [(0, 3), (1, 3), (7, 3), (9, 3), (64, 5)] {
                let mut out = vec![usize::MAX; len];
                each_block_mut(&mut out, block, parallel, |p, part| {
                    assert!(part.len() == block || (p + 1) * block >= len);
                    for (i, v) in part.iter_mut().enumerate() {
                        *v = p * block + i;
                    }
                });
                assert!(out.iter().enumerate().all(|(i, &v)| v == i));
            }
        }
    }

    #[test]
    fn zip_blocks_covers_every_element_once() {
        super::super::threads::set_num_threads(2);
        for len in [0, 1, 5, 1000, 1001] {
            let inp: Vec<u32> = (0..len).collect();
            let mut out = vec![0u32; len as usize];
            zip_blocks(&mut out, &inp, 100, |o, i| {
                for (o, &i) in o.iter_mut().zip(i) {
                    *o += 2 * i + 1;
                }
            });
            assert!(out.iter().enumerate().all(|(k, &v)| v == 2 * k as u32 + 1));
        }
        super::super::threads::set_num_threads(0);
    }

    #[test]
    fn concurrent_callers_each_get_every_part() {
        let total = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        run_parts(5, &|p| {
                            total.fetch_add(p as u32 + 1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        // 4 callers × 200 jobs × (1 + 2 + 3 + 4 + 5).
        assert_eq!(total.load(Ordering::Relaxed), 4 * 200 * 15);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_team_recovers() {
        let caught = catch_unwind(|| {
            run_parts(4, &|p| {
                if p == 3 {
                    panic!("part 3 fails");
                }
            })
        });
        assert!(caught.is_err());
        let ran = AtomicU32::new(0);
        run_parts(4, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 4);
    }
}
