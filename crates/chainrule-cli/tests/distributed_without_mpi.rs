//! Without the `mpi` feature, `train --distributed` is refused with an
//! error that names the feature (tests/distributed.rs tests the feature).

#![cfg(not(feature = "mpi"))]

mod common;

use common::{chainrule, stderr};

#[test]
fn distributed_without_the_mpi_feature_names_the_feature() {
    let o = chainrule(&["train", "--distributed", "--epochs", "1", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("--features mpi"), "{err}");
    assert!(err.contains("mpirun -np N"), "{err}");
}
