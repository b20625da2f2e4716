//! `--threads`: how many threads large matrix products may use.

use chainrule_nn::{Error, Result};

/// Sets how many threads large matrix products split over. `None` keeps
/// the default (every available core); products too small to gain stay on
/// one thread either way.
pub fn configure(threads: Option<usize>) -> Result<()> {
    match threads {
        None => Ok(()),
        Some(0) => Err(Error::config("threads", "must be at least 1")),
        Some(n) => {
            chainrule::kernels::threads::set_num_threads(n);
            Ok(())
        }
    }
}
