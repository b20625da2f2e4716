//! Memory stays flat: a small graph built, back-propagated and discarded
//! 100,000 times does not grow the process. One test in this file, so the
//! process's resident memory is this test's alone.

use chainrule::worked::{train_step, TinyNet};
use chainrule::{Graph, Tensor};

/// `(current, peak)` resident memory in KiB, from /proc (Linux).
fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[test]
fn memory_is_flat_over_100k_steps() {
    let mut g = Graph::<f32>::new();
    let net = TinyNet::new(&mut g).unwrap();
    let (x, t) = TinyNet::example_data::<f32>().unwrap();
    for _ in 0..1_000 {
        train_step(&mut g, &net, &x, &t, 0.5).unwrap();
    }
    let arena_warm = g.memory_bytes();
    let rss_warm = rss_kib();
    for _ in 0..100_000 {
        train_step(&mut g, &net, &x, &t, 0.5).unwrap();
    }
    assert_eq!(
        g.memory_bytes(),
        arena_warm,
        "the tape and arena must not grow after warm-up"
    );

    // Graphs that are never back-propagated, and whole graphs dropped.
    for i in 0..100_000 {
        if i % 2 == 0 {
            let _unused = net.forward(&g, &x, &t).unwrap();
        } else {
            let fresh = Graph::<f32>::new();
            let v = fresh.variable(&Tensor::ones(&[2, 2]).unwrap());
            v.matmul(v).unwrap().sum().backward().unwrap();
        }
        g.clear();
    }
    assert_eq!(g.memory_bytes(), arena_warm);

    if let (Some((warm, _)), Some((end, peak))) = (rss_warm, rss_kib()) {
        eprintln!("resident memory: {warm} KiB after warm-up, {end} KiB after 200,000 more steps, peak {peak} KiB");
        assert!(
            end <= warm + 1024,
            "resident memory grew from {warm} KiB to {end} KiB"
        );
    }
}
