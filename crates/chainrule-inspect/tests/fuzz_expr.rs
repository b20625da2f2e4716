//! Fuzzing the expression parser of `chainrule explain --expr` and its
//! `--at` values with proptest: token soup from the grammar's own pieces
//! (numbers, names, functions, operators, parentheses, deep nesting),
//! random text, and valid expressions with random edits. Property: no input
//! panics; a syntax error points at a column inside the text (or just
//! after it); an expression that parses evaluates, and records on a graph
//! and back-propagates, without panicking.
//!
//! `FUZZ_CASES` inputs (default 256, what CI runs) from seed `FUZZ_SEED`
//! (default 0); `scripts/fuzz.sh` runs many more in release mode.

use chainrule::Graph;
use chainrule_inspect::expr::{self, ExprError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::Cell;
use std::collections::HashMap;

const TOKENS: &[&str] = &[
    "x",
    "y",
    "z1",
    "_a",
    "1",
    "0",
    "2.5",
    "1e3",
    "1e999",
    ".5",
    "5.",
    "1e",
    "(",
    ")",
    "+",
    "-",
    "*",
    "/",
    "^",
    "exp",
    "log",
    "sqrt",
    "abs",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "foo",
    " ",
    ",",
    "=",
    "é",
    "∞",
    "\t",
    "((((((((((",
    "))))))))))",
    "^-",
    "--",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn source() -> impl Strategy<Value = String> {
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat());
    let text = prop::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect());
    let nested = (
        0..400usize,
        prop::sample::select(&["(", "-", "exp(", "x^"][..]),
    )
        .prop_map(|(n, open)| {
            let close = if open.ends_with('(') { ")" } else { "" };
            format!("{}x{}", open.repeat(n), close.repeat(n))
        });
    let edited = (
        prop::sample::select(
            &[
                "(x + y) * (x - 1)",
                "sigmoid(2*x - y^3) / abs(y)",
                "-x^2^y",
                "log(x) + sqrt(y)",
            ][..],
        ),
        prop::collection::vec((any::<usize>(), prop::sample::select(TOKENS)), 0..4),
    )
        .prop_map(|(base, edits)| {
            let mut s: Vec<char> = base.chars().collect();
            for (at, tok) in edits {
                let i = at % (s.len() + 1);
                if tok == " " && i < s.len() {
                    s.remove(i);
                } else {
                    s.splice(i..i, tok.chars());
                }
            }
            s.into_iter().collect()
        });
    prop_oneof![3 => soup, 1 => text, 1 => nested, 3 => edited]
}

/// Parses, evaluates, records and back-propagates `src`; returns whether
/// it parsed.
fn exercise(src: &str, at: &str) -> Result<bool, TestCaseError> {
    let _ = expr::parse_values(at);
    match expr::parse(src) {
        Ok(e) => {
            let values: Vec<(String, f64)> = e
                .variables()
                .into_iter()
                .enumerate()
                .map(|(i, (n, _))| (n, 0.5 + i as f64))
                .collect();
            let map: HashMap<String, f64> = values.iter().cloned().collect();
            let _ = e.eval(&map);
            let g = Graph::<f64>::new();
            if let Ok(rec) = expr::record(&g, &e, &values) {
                let _ = rec.output.backward();
            }
            Ok(true)
        }
        Err(ExprError::Parse { column, message }) => {
            let len = src.chars().count();
            prop_assert!(
                (1..=len + 1).contains(&column),
                "column {column} outside 1..={} for {src:?}: {message}",
                len + 1
            );
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}

#[test]
fn fuzz_expression_parser() {
    let cases = env_u64("FUZZ_CASES", 256) as u32;
    let seed = env_u64("FUZZ_SEED", 0);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed_bytes = [7u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let at = prop_oneof![
        Just(String::new()),
        Just("x=3,y=2".to_string()),
        prop::collection::vec(prop::sample::select(TOKENS), 0..8).prop_map(|t| t.concat()),
    ];
    let (n, parsed) = (Cell::new(0usize), Cell::new(0usize));
    let result = runner.run(&(source(), at), |(src, at)| {
        n.set(n.get() + 1);
        parsed.set(parsed.get() + usize::from(exercise(&src, &at)?));
        Ok(())
    });
    let (n, parsed) = (n.get(), parsed.get());
    match result {
        Ok(()) => eprintln!("fuzz expr: {n} inputs (seed {seed}), {parsed} parsed, none crashed"),
        Err(e) => panic!("fuzz expr: failed after {n} inputs (seed {seed}): {e}"),
    }
}
