//! `start.safetensors`: the run's state when this process began training
//! (the fresh weights of a new run, or the checkpoint a resumed run
//! continues from), as a checkpoint with the run's flags. A run streamed to
//! `chainrule serve` (`--serve`) writes it, so that the server can replay
//! the run to any later step exactly (`/explore?model=RUN&train_step=N`);
//! one model's worth of disk, nothing kept per step.

use super::Args;
use crate::data_args::{self, Prepared};
use crate::resume;
use chainrule_nn::checkpoint;
use chainrule_nn::trainer::TrainingRun;
use chainrule_nn::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The file's name in a run folder.
pub const START_FILE: &str = "start.safetensors";

/// Metadata key marking the start of a `--distributed` run: one process
/// replaying it would sum each batch's gradients in another order than the
/// ranks did, so the server does not try.
pub const DISTRIBUTED_KEY: &str = "cli.distributed";

/// Writes `dir/start.safetensors` for a run with `--serve`, keeping the
/// one a resumed run already has (its start is earlier); a new run without
/// `--serve` removes a stale one (a folder reused with `--overwrite`),
/// which would replay another run.
pub fn write(args: &Args, run: &TrainingRun<'_, f32>, data: &Prepared, dir: &Path) -> Result<()> {
    let path = dir.join(START_FILE);
    let exists = path.exists();
    match (args.serve.is_some(), args.resume.is_some()) {
        (true, true) if exists => Ok(()),
        (false, true) => Ok(()),
        (false, false) if exists => std::fs::remove_file(&path)
            .map_err(|e| Error::config("out", format!("{}: {e}", path.display()))),
        (false, false) => Ok(()),
        (true, _) => {
            // The data as an absolute path: the server replays from its
            // own working folder.
            let settings = Args {
                data: data_args::absolute_spec(&args.data),
                ..args.clone()
            };
            let mut extra = BTreeMap::from([(
                resume::SETTINGS_KEY.to_string(),
                resume::settings_json(&settings),
            )]);
            if args.distributed {
                // The server refuses to replay it (see DISTRIBUTED_KEY).
                extra.insert(DISTRIBUTED_KEY.to_string(), "true".to_string());
            }
            checkpoint::save(
                &path,
                run.model(),
                run.trainer(),
                &data.train,
                data.test.as_ref(),
                &extra,
            )
        }
    }
}
