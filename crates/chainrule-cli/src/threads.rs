//! `--threads`: how many threads large matrix products may use.

use chainrule_nn::{Error, Result};

/// Sets the thread count of the matrix-product kernels; must run before the
/// first product. `None` keeps the default (the physical cores, at most 4).
pub fn configure(threads: Option<usize>) -> Result<()> {
    match threads {
        None => Ok(()),
        Some(0) => Err(Error::config("threads", "must be at least 1")),
        Some(n) => {
            // Read once by the GEMM kernels on their first use; nothing has
            // run a product yet when a command starts.
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
            Ok(())
        }
    }
}
