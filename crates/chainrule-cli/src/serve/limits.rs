//! The server's bounds on what one request may ask for. The CLI's own
//! limits apply underneath (the expression parser's 2,000 tokens and 200
//! levels of nesting, `explain`'s 2^26 values); these are tighter, sized
//! for a page a person reads.

/// The largest request body, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// The longest query string, in bytes.
pub const MAX_QUERY: usize = 4096;
/// The most parameters in one query string.
pub const MAX_PARAMS: usize = 24;
/// The longest expression, in characters.
pub const MAX_EXPR_CHARS: usize = 400;
/// The deepest nesting of parentheses in an expression.
pub const MAX_EXPR_DEPTH: usize = 32;
/// The most layers (sizes) of an explorer network.
pub const MAX_LAYERS: usize = 6;
/// The widest layer of an explorer network (larger ones are unreadable
/// as a graph).
pub const MAX_LAYER_SIZE: usize = 16;
/// The longest list of numbers (`at`, `input`, `target`), in characters.
pub const MAX_LIST_CHARS: usize = 400;
/// Explorer traces computed at once; more requests wait their turn.
pub const MAX_CONCURRENT_TRACES: usize = 16;
/// Training steps one `train_step` request may replay from the run's
/// last saved state.
pub const MAX_REPLAY_STEPS: usize = 200_000;
/// Replays computed at once; more requests wait their turn.
pub const MAX_CONCURRENT_REPLAYS: usize = 2;
/// The largest `start.safetensors` or `checkpoint.safetensors` a replay
/// reads.
pub const MAX_CHECKPOINT_BYTES: u64 = 256 << 20;
/// The longest architecture of the `/train` form, in characters.
pub const MAX_ARCH_CHARS: usize = 400;
/// The most parameters of a network the `/train` form starts.
pub const MAX_FORM_PARAMETERS: usize = 5_000_000;
/// Training runs this server runs at once.
pub const MAX_TRAINING_JOBS: usize = 2;
/// Runs streaming to this server at once.
pub const MAX_LIVE_RUNS: usize = 16;
/// Events kept per run (steps beyond are dropped; see [`MAX_RUN_BYTES`]).
pub const MAX_EVENTS: usize = 1_000_000;
/// The longest event line, in bytes.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// The largest metrics.json the server reads.
pub const MAX_METRICS_BYTES: u64 = 64 << 20;

/// Bytes of step events one live run keeps; epochs may take a quarter more
/// and its last word always fits.
pub const MAX_RUN_BYTES: usize = 64 << 20;

/// Live runs remembered, ended ones forgotten oldest first beyond this.
pub const MAX_KEPT_RUNS: usize = 64;

/// Pages following one run, and all runs, at once.
pub const MAX_STREAMS_PER_RUN: usize = 64;
pub const MAX_STREAMS: usize = 256;
