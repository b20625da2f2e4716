//! Two machines simulated on one (`scripts/netns-mpi.sh`): two network
//! namespaces joined by a veth pair, a host file naming their addresses,
//! and MPICH's mpiexec starting one rank in each. `chainrule train
//! --distributed` across them gives the single-process run's losses and
//! weights (1e-5 relative), and the gradients really crossed the veth
//! pair. Built with `--features mpi`; `.ci/run` runs it as root. It needs
//! root, `ip` (iproute2) and `mpiexec`: without them it fails, it never
//! skips.

#![cfg(all(unix, feature = "mpi"))]

mod common;
mod distributed_support;

use common::stderr;
use distributed_support::{assert_close, losses};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chainrule");

/// digits, 64-32-16-10, 1 epoch in batches of 50.
const FLAGS: [&str; 12] = [
    "train",
    "--data",
    "digits",
    "--hidden",
    "32,16",
    "--epochs",
    "1",
    "--batch-size",
    "50",
    "--threads",
    "1",
    "--quiet",
];

#[test]
fn a_run_across_two_network_namespaces_matches_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let o = Command::new(BIN)
        .args(FLAGS)
        .args(["--out", one.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "the plain run: {}", stderr(&o));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/netns-mpi.sh");
    // Namespaces need root: through `sudo -n` (no password prompt, so a
    // machine without it fails at once rather than waiting) when the test
    // runs as another user.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut command = if root {
        Command::new(script)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", script]);
        c
    };
    let o = command
        .args(["--timeout", "120", "--", BIN])
        .args(FLAGS)
        .args(["--distributed", "--out", two.to_str().unwrap()])
        .output()
        .expect("scripts/netns-mpi.sh runs");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "netns-mpi.sh failed (it needs root or password-less sudo, iproute2 and MPICH):\n{out}\n{}",
        stderr(&o)
    );
    assert_close(&one, &two, 1e-5);
    // The gradients crossed the veth pair: every step sums 64×32 + 32 +
    // 32×16 + 16 + 16×10 + 10 = 2778 floats, and each rank sends at least
    // half of them to the other (a reduce-scatter's share).
    let steps = losses(&one).len() as u64;
    assert_eq!(steps, 1438u64.div_ceil(50));
    let line = out
        .lines()
        .find(|l| l.starts_with("netns-mpi: veth bytes"))
        .unwrap_or_else(|| panic!("no byte count in: {out}"));
    let counts: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let least = steps * 2778 * 4 / 2;
    assert!(
        counts.len() == 2 && counts.iter().all(|&c| c >= least),
        "veth traffic {counts:?}, at least {least} bytes each way expected: {line}"
    );
}
