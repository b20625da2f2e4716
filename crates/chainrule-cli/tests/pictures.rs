//! The pictures the program writes, read as a person would meet them:
//! `graph --out` writes the format its file name says (item 8), graph
//! pictures fit a screen, and `curves.svg` shows every run's numbers with
//! readable tick labels (item 9).

mod common;
use common::{chainrule, stderr};
use std::path::Path;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], PNG_SIGNATURE, "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The name of an XML document's root element (after any declaration or
/// comment).
fn root_element(text: &str) -> String {
    let mut rest = text.trim_start();
    while rest.starts_with("<?") || rest.starts_with("<!--") {
        let end = if rest.starts_with("<?") { "?>" } else { "-->" };
        rest = rest[rest.find(end).unwrap() + end.len()..].trim_start();
    }
    assert!(
        rest.starts_with('<'),
        "not XML: {}",
        &rest[..rest.len().min(40)]
    );
    rest[1..]
        .split(|c: char| c.is_whitespace() || c == '>')
        .next()
        .unwrap()
        .to_string()
}

fn graph_to(dir: &Path, file: &str, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let path = dir.join(file);
    let mut args = vec!["graph", "--expr", "(x + y) * (x - 1)", "--at", "x=3,y=2"];
    args.extend_from_slice(extra);
    args.extend(["--out", path.to_str().unwrap()]);
    (chainrule(&args), path)
}

#[test]
fn item_08_out_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let (o, path) = graph_to(dir.path(), "g.png", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&path).unwrap();
    let (w, h) = png_size(&bytes);
    assert!(w > 100 && h > 100, "{w}×{h}");

    let (o, path) = graph_to(dir.path(), "G.SVG", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(root_element(&text), "svg");
    assert!(text.trim_end().ends_with("</svg>"));

    for file in ["g.dot", "g.gv"] {
        let (o, path) = graph_to(dir.path(), file, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("digraph "), "{file}: {text}");
    }
    for file in ["g.mmd", "g.mermaid"] {
        let (o, path) = graph_to(dir.path(), file, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("flowchart "), "{file}: {text}");
    }
    // An explicit format that agrees is fine; one that names an unknown
    // extension's content is what the user asked for.
    let (o, path) = graph_to(dir.path(), "agrees.svg", &["--format", "svg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        root_element(&std::fs::read_to_string(&path).unwrap()),
        "svg"
    );
    let (o, path) = graph_to(dir.path(), "notes.txt", &["--format", "mermaid"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("flowchart "));
}

#[test]
fn item_08_contradicting_or_unknown_extension_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (o, path) = graph_to(dir.path(), "g.png", &["--format", "svg"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("--format svg") && e.contains("g.png"), "{e}");
    assert!(!path.exists(), "nothing written");

    let (o, path) = graph_to(dir.path(), "g.jpg", &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(".jpg"), "names the extension: {e}");
    for accepted in [".png", ".svg", ".dot", ".gv", ".mmd", ".mermaid"] {
        assert!(e.contains(accepted), "lists {accepted}: {e}");
    }
    assert!(!path.exists(), "nothing written");

    let (o, _) = graph_to(dir.path(), "noextension", &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(".png"), "{}", stderr(&o));
}

#[test]
fn item_09_graph_pngs_fit_a_screen() {
    // The worked example was 5198×600 pixels and a digits model
    // 12760×600: one row of boxes. Both must fit 2000 pixels a side.
    let dir = tempfile::tempdir().unwrap();
    let example = dir.path().join("example.png");
    // (--format png as well, so that this checks the size even where the
    // extension chose nothing.)
    let o = chainrule(&[
        "graph",
        "--format",
        "png",
        "--out",
        example.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (w, h) = png_size(&std::fs::read(&example).unwrap());
    assert!(
        w.max(h) <= 2000 && w.min(h) >= 400,
        "worked example {w}×{h}"
    );

    let run = dir.path().join("run");
    let o = chainrule(&[
        "train",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = vec!["0.5"; 64].join(",");
    let digits = dir.path().join("digits.png");
    let o = chainrule(&[
        "graph",
        "--model",
        run.join("model.safetensors").to_str().unwrap(),
        "--input",
        &input,
        "--target",
        "3",
        "--format",
        "png",
        "--out",
        digits.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (w, h) = png_size(&std::fs::read(&digits).unwrap());
    assert!(w.max(h) <= 2000 && w.min(h) >= 400, "digits model {w}×{h}");
}

/// The `<text>` elements of a plotters SVG: attributes and content.
fn texts(svg: &str) -> Vec<(String, String)> {
    svg.match_indices("<text ")
        .map(|(i, _)| {
            let rest = &svg[i..];
            let end = rest.find('>').unwrap();
            let content = rest[end + 1..].split("</text>").next().unwrap().trim();
            (rest[..end].to_string(), content.to_string())
        })
        .collect()
}

fn attr(element: &str, name: &str) -> Option<String> {
    let rest = element.split(&format!(" {name}=\"")).nth(1)?;
    Some(rest.split('"').next()?.to_string())
}

fn num_attr(element: &str, name: &str) -> f64 {
    attr(element, name).unwrap().parse().unwrap()
}

fn train_curves(dir: &Path, args: &[&str]) -> String {
    let run = dir.join("run");
    let mut all = vec!["train", "--out", run.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = chainrule(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read_to_string(run.join("curves.svg")).unwrap()
}

#[test]
fn item_09_curves_of_one_epoch_show_markers_and_accuracy() {
    // One epoch: one value per series, which a line cannot show.
    let dir = tempfile::tempdir().unwrap();
    let svg = train_curves(dir.path(), &["--data", "iris", "--epochs", "1"]);
    let (width, _) = {
        let head = &svg[..svg.find('>').unwrap()];
        (num_attr(head, "width"), num_attr(head, "height"))
    };
    let circles: Vec<(f64, f64)> = svg
        .match_indices("<circle ")
        .map(|(i, _)| {
            let e = &svg[i..i + svg[i..].find('>').unwrap()];
            (num_attr(e, "cx"), num_attr(e, "cy"))
        })
        .collect();
    // The loss panel is the left part, the accuracy panel the right.
    let split = texts(&svg)
        .iter()
        .find(|(_, t)| t == "test accuracy")
        .map(|(e, _)| num_attr(e, "x"))
        .expect("an accuracy panel");
    let left = split - (width - split);
    let in_loss = circles.iter().filter(|c| c.0 < left).count();
    let in_accuracy = circles.iter().filter(|c| c.0 > left).count();
    // Train and test loss (plus the legend's two), and the accuracy.
    assert!(in_loss >= 2, "loss markers: {circles:?}");
    assert!(in_accuracy >= 1, "accuracy marker: {circles:?}");
}

#[test]
fn item_09_curves_tick_labels_fit_beside_the_axis_title_for_huge_losses() {
    // Regression with a learning rate that blows the loss up to ~1e12.
    let dir = tempfile::tempdir().unwrap();
    let svg = train_curves(
        dir.path(),
        &[
            "--data", "diabetes", "--loss", "mse", "--epochs", "3", "--lr", "10",
        ],
    );
    let all = texts(&svg);
    let title = all
        .iter()
        .find(|(e, t)| t.starts_with("loss") && e.contains("rotate"))
        .expect("the y axis title");
    let size = |e: &str| num_attr(e, "font-size");
    // Rotated a quarter turn about (x, y), its glyphs span x .. x + 1 em.
    let title_right = num_attr(&title.0, "x") + size(&title.0);
    let ticks: Vec<&(String, String)> = all
        .iter()
        .filter(|(e, _)| attr(e, "text-anchor").as_deref() == Some("end"))
        .collect();
    assert!(ticks.len() >= 4, "{all:?}");
    let mut saw_big = false;
    for (e, t) in ticks {
        // Right-aligned at x; sans-serif digits advance about 0.6 em.
        let left = num_attr(e, "x") - t.chars().count() as f64 * 0.6 * size(e);
        assert!(left >= 0.0, "tick label {t} cut off at the left edge");
        assert!(
            left > title_right,
            "tick label {t} runs into the axis title"
        );
        assert!(t.chars().count() <= 9, "tick label {t} is long");
        if let Some((m, x)) = t.split_once('e') {
            let v: f64 = format!("{m}e{x}").parse().unwrap();
            saw_big |= v >= 1e9;
        }
    }
    assert!(saw_big, "the huge losses get scientific tick labels");
}
