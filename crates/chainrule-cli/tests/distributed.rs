//! `chainrule train --distributed` under `mpiexec` (built with `--features
//! mpi`; `.ci/run` runs it): 2 and 3 ranks (3 with uneven shards) give the
//! losses and weights of one process to 1e-5 relative, with the sums
//! started during the backward pass (`--allreduce overlap`, in several
//! buckets) as after it (`--allreduce after`), 1 rank is bit for bit a
//! plain run in both modes, `--resume` continues under `mpiexec`, a rank killed
//! with SIGKILL ends the job within seconds leaving a loadable checkpoint,
//! and a rank with other data stops the run before the first step, named.
//!
//! `mpiexec` must be on the PATH: a missing one fails the tests, it never
//! skips them.

#![cfg(all(unix, feature = "mpi"))]

mod common;
mod distributed_support;

use chainrule_nn::checkpoint::{self, CHECKPOINT_FILE};
use common::stderr;
use distributed_support::{assert_close, losses, weights};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chainrule");

/// digits, an MLP with Adam: 1437 training rows, so that batches of 50
/// leave 37 rows at the end of each epoch (uneven over 2 and 3 ranks).
const FLAGS: [&str; 12] = [
    "train",
    "--data",
    "digits",
    "--hidden",
    "32,16",
    "--epochs",
    "2",
    "--batch-size",
    "50",
    "--threads",
    "1",
    "--quiet",
];

fn mpiexec(np: usize, args: &[&str]) -> Output {
    let o = Command::new("mpiexec")
        .args(["-n", &np.to_string(), BIN])
        .args(args)
        .output()
        .expect("mpiexec runs (install an MPI library: see docs/distributed.md)");
    o
}

fn plain(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn with_out<'a>(flags: &[&'a str], extra: &[&'a str], out: &'a Path) -> Vec<&'a str> {
    let mut v: Vec<&str> = flags.to_vec();
    v.extend_from_slice(extra);
    v.extend(["--out", out.to_str().unwrap()]);
    v
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed: {}", stderr(o));
}

/// The two ways of summing: during the backward pass, in buckets of 1 KiB
/// (256 values: the network's parameters, 64×32 + 32, 32×16 + 16, 16×10 +
/// 10 values, make two buckets, {b3, W3, b2, W2} and {b1, W1}), and after
/// it with the default buckets.
const MODES: [&[&str]; 2] = [
    &[
        "--distributed",
        "--allreduce",
        "overlap",
        "--bucket-kib",
        "1",
    ],
    &["--distributed", "--allreduce", "after"],
];

#[test]
fn two_and_three_ranks_match_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    ok(&plain(&with_out(&FLAGS, &[], &one)), "the plain run");
    for (m, mode) in MODES.iter().enumerate() {
        for np in [2, 3] {
            let dir = tmp.path().join(format!("np{np}-{m}"));
            let o = mpiexec(np, &with_out(&FLAGS, mode, &dir));
            ok(&o, &format!("mpiexec -n {np} {mode:?}"));
            assert_close(&one, &dir, 1e-5);
        }
    }
    // Batch norm and SGD with momentum, 3 uneven shards (30 = 10+10+10,
    // last batch 1437 % 31 = 11 = 4+4+3).
    let flags = [
        "train",
        "--data",
        "digits",
        "--arch",
        "linear(32),batchnorm1d,relu,linear(10)",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--lr",
        "0.05",
        "--epochs",
        "1",
        "--batch-size",
        "31",
        "--threads",
        "1",
        "--quiet",
    ];
    let a = tmp.path().join("sgd-one");
    let b = tmp.path().join("sgd-np3");
    ok(&plain(&with_out(&flags, &[], &a)), "the plain run");
    ok(
        &mpiexec(3, &with_out(&flags, &["--distributed"], &b)),
        "mpiexec -n 3",
    );
    // Per-rank batch statistics: the losses differ from one process's
    // (each rank normalizes its own shard by the shard's statistics), but
    // the run completes with finite losses.
    let (la, lb) = (losses(&a), losses(&b));
    assert_eq!(la.len(), lb.len());
    assert!(lb.iter().all(|l| l.is_finite()));
}

#[test]
fn one_rank_is_bit_identical_to_a_plain_run() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("plain");
    ok(&plain(&with_out(&FLAGS, &[], &a)), "the plain run");
    for (m, mode) in MODES.iter().enumerate() {
        let b = tmp.path().join(format!("mpi1-{m}"));
        ok(&mpiexec(1, &with_out(&FLAGS, mode, &b)), "mpiexec -n 1");
        for f in ["model.safetensors", "metrics.json"] {
            assert!(
                std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
                "{f} differs ({mode:?})"
            );
        }
    }
}

#[test]
fn resume_under_mpiexec_continues_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    let flags: Vec<&str> = FLAGS
        .iter()
        .map(|f| if *f == "2" { "3" } else { f })
        .collect();
    ok(
        &mpiexec(2, &with_out(&flags, &["--distributed"], &whole)),
        "the whole run",
    );
    ok(
        &mpiexec(
            2,
            &with_out(&flags, &["--distributed", "--stop-after", "1"], &split),
        ),
        "the first epoch",
    );
    let dir = split.to_str().unwrap();
    let o = mpiexec(2, &["train", "--resume", dir, "--distributed", "--quiet"]);
    ok(&o, "the resumed run");
    assert_eq!(losses(&whole).len(), losses(&split).len());
    assert_eq!(losses(&whole), losses(&split));
    assert_eq!(weights(&whole), weights(&split));
}

/// The processes whose command line names `marker` and whose environment
/// says they are rank `rank` (MPICH's PMI_RANK, Open MPI's
/// OMPI_COMM_WORLD_RANK).
fn rank_pids(marker: &str, rank: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let has =
            |hay: &[u8], needle: &str| hay.split(|&b| b == 0).any(|part| part == needle.as_bytes());
        if cmd.starts_with(BIN.as_bytes())
            && has(&cmd, marker)
            && (has(&env, &format!("PMI_RANK={rank}"))
                || has(&env, &format!("OMPI_COMM_WORLD_RANK={rank}")))
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_rank_ends_the_job_within_seconds_and_the_checkpoint_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("killed");
    let out = dir.to_str().unwrap();
    let mut child = Command::new("mpiexec")
        .args(["-n", "2", BIN, "train", "--distributed", "--data", "iris"])
        .args(["--hidden", "8", "--batch-size", "60", "--epochs", "1000000"])
        .args(["--checkpoint-every", "1", "--quiet", "--out", out])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpiexec runs");
    // Wait for a checkpoint, then kill rank 1.
    let t = Instant::now();
    while !dir.join(CHECKPOINT_FILE).exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pids = rank_pids(out, 1);
    assert_eq!(pids.len(), 1, "rank 1's process: {pids:?}");
    // SAFETY: sends SIGKILL to a process this test started.
    assert_eq!(unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if killed.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the job still ran 10 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let o = child.wait_with_output().unwrap();
    // MPICH's mpiexec reports the killed rank on stdout, Open MPI's on
    // stderr.
    let err = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
    assert!(!status.success());
    assert!(
        err.contains("signal 9") || err.contains("Killed") || err.contains("KILLED"),
        "stderr: {err}"
    );
    // The last checkpoint loads (writes are atomic) and resumes.
    let ck = checkpoint::load::<f32>(&dir.join(CHECKPOINT_FILE)).unwrap();
    assert!(ck.state.epochs_done >= 1);
}

#[test]
fn a_rank_with_other_data_stops_the_run_before_the_first_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
    let mut text = String::from("x1,x2,y\n");
    for i in 0..40 {
        text += &format!("{},{},{}\n", i, i % 7, i % 2);
    }
    std::fs::write(&a, &text).unwrap();
    std::fs::write(&b, text.replace("3,3,1", "3,4,1")).unwrap();
    let dir = tmp.path().join("run");
    let run = |csv: &Path| {
        vec![
            BIN.to_string(),
            "train".into(),
            "--distributed".into(),
            "--data".into(),
            format!("csv:{}", csv.display()),
            "--epochs".into(),
            "1".into(),
            "--quiet".into(),
            "--out".into(),
            dir.display().to_string(),
        ]
    };
    // MPMD: ranks 0 and 1 read a.csv, rank 2 reads b.csv.
    let o = Command::new("mpiexec")
        .arg("-n")
        .arg("2")
        .args(run(&a))
        .arg(":")
        .arg("-n")
        .arg("1")
        .args(run(&b))
        .output()
        .expect("mpiexec runs");
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("rank 2") && err.contains("differs from rank 0") && !err.contains("rank 1 "),
        "stderr: {err}"
    );
    assert!(err.contains("before the first step"), "stderr: {err}");
    // Nothing trained: no model, no metrics.
    assert!(!dir.join("model.safetensors").exists());
    assert!(!dir.join("metrics.json").exists());
}
