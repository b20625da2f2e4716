//! The README's sample output of the main job is what the binary prints:
//! `cargo run --release` with no arguments, in a fresh folder.

mod common;

use common::{chainrule_in, stderr, stdout};

/// The first ```text block after "## The two commands".
fn readme_sample() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## The two commands")
        .nth(1)
        .expect("the README has its two commands");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block follows the two commands");
    block.lines().map(str::to_string).collect()
}

/// What varies between runs: the run folder's timestamp and the seconds.
fn normalize(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("runs/digits-") {
        let (head, tail) = rest.split_at(i + "runs/digits-".len());
        out.push_str(head);
        let stamp: String = tail
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        out.push_str("STAMP");
        rest = &tail[stamp.len()..];
    }
    out.push_str(rest);
    match (out.rfind(" ("), out.ends_with(" s)")) {
        (Some(i), true) => format!("{} (T s)", &out[..i]),
        _ => out,
    }
}

#[test]
fn readme_sample_output_matches_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = chainrule_in(Some(tmp.path()), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: Vec<String> = stdout(&o).lines().map(normalize).collect();
    let sample: Vec<String> = readme_sample().iter().map(|l| normalize(l)).collect();
    assert!(sample.len() >= 5, "{sample:?}");
    // `...` in the README stands for any number of printed lines.
    let mut at = 0;
    for (k, want) in sample.iter().enumerate() {
        if want == "..." {
            let next = &sample[k + 1];
            while at < printed.len() && &printed[at] != next {
                at += 1;
            }
            continue;
        }
        assert_eq!(
            printed.get(at),
            Some(want),
            "README line {k} differs from what `chainrule` printed:\n{}",
            printed.join("\n")
        );
        at += 1;
    }
    assert_eq!(
        at,
        printed.len(),
        "the binary printed more than the README shows"
    );
}
