//! Where every box, line and label of a graph drawing goes: a layered
//! (Sugiyama-style) layout.
//!
//! - Ranks: operations by their depth from the inputs, each leaf one rank
//!   before its first consumer.
//! - An edge that spans several ranks gets a placeholder ("dummy node") in
//!   every rank it crosses, so it runs through a gap between boxes instead
//!   of under them; the order within each rank comes from barycentre sweeps
//!   over boxes and placeholders alike.
//! - Each rank is a band; between bands lies an empty channel. A line runs
//!   straight within a band (along its box's side, or through its
//!   placeholder's gap) and bends only in the channels, so it never meets a
//!   box other than its own two ends.
//! - Every edge has its own port on each box side; a backward edge's label
//!   sits in a lane reserved beside the box it arrives at, next to its own
//!   line and clear of every other.
//! - Ranks run left to right, or top to bottom when that fits a landscape
//!   screen better (graphs with many ranks).

use super::{label_lines, TraceNode};
use crate::trace::Trace;
use std::collections::HashMap;

pub(super) const FONT_SIZE: f64 = 13.0;
/// DejaVu Sans Mono advances every glyph by 1233/2048 em.
pub(super) const CHAR_W: f64 = FONT_SIZE * 1233.0 / 2048.0;
pub(super) const LINE_H: f64 = 17.0;
pub(super) const PAD_X: f64 = 10.0;
pub(super) const PAD_Y: f64 = 8.0;
/// Edge labels: font size, and the height of their background.
pub(super) const LABEL_FONT: f64 = 11.0;
pub(super) const LABEL_H: f64 = 15.0;
/// Label lines longer than this wrap (at a comma or space).
const WRAP_CHARS: usize = 44;
/// The empty channel between two bands, where lines bend (wider across
/// than down, where boxes sit closer).
fn channel(direction: Direction) -> f64 {
    match direction {
        Direction::LeftToRight => 56.0,
        Direction::TopToBottom => 42.0,
    }
}
/// Space between neighbours in a band: two boxes, or a box or gap and a
/// placeholder's gap.
const BOX_GAP: f64 = 22.0;
const DUMMY_GAP: f64 = 6.0;
/// The width of a placeholder's gap (room for two lines).
const DUMMY: f64 = 12.0;
/// Half the distance between an edge's forward and backward lines.
pub const TRACK_HALF: f64 = 3.0;
/// Room along a box side for one incoming edge.
const IN_SLOT: f64 = 14.0;

/// Which way the ranks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    LeftToRight,
    TopToBottom,
}

/// A node's box: its rank and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub id: usize,
    /// The rank (column left to right, row top to bottom).
    pub column: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub lines: Vec<String>,
}

/// An edge's line: straight pieces within bands and pieces between bands
/// that the picture draws as curves; each piece lies within the rectangle
/// spanned by its two ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub from: usize,
    pub to: usize,
    /// Which input of the consumer.
    pub position: usize,
    pub backward: bool,
    pub points: Vec<(f64, f64)>,
    /// The label's text and background (backward edges of scalars).
    pub label: Option<(String, Rect)>,
}

/// An axis-aligned rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The whole drawing's geometry, from (0, 0) to (`width`, `height`).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub direction: Direction,
    pub nodes: Vec<Placed>,
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// Splits a label line longer than [`WRAP_CHARS`]: preferably after a
/// comma outside brackets (`value mean 1, norm 2,` | `range [0, 1]`), else
/// after any space; continuation lines are indented, and a word longer
/// than a line is cut with `…`.
fn wrap(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let budget = if out.is_empty() {
            WRAP_CHARS
        } else {
            WRAP_CHARS - 2
        };
        let rest = &chars[start..];
        let take = if rest.len() <= budget {
            rest.len()
        } else {
            let mut depth = 0i32;
            let mut outer_comma = None;
            let mut space = None;
            for k in 0..budget {
                match rest[k] {
                    '[' | '(' => depth += 1,
                    ']' | ')' => depth -= 1,
                    ' ' if k > 0 => {
                        space = Some(k + 1);
                        if depth == 0 && rest[k - 1] == ',' {
                            outer_comma = Some(k + 1);
                        }
                    }
                    _ => {}
                }
            }
            outer_comma.or(space).unwrap_or(budget)
        };
        let mut piece: String = rest[..take].iter().collect();
        start += take;
        if take == budget && rest.len() > budget && rest[take - 1] != ' ' {
            // A word longer than the line: cut it.
            piece.pop();
            piece.push('…');
            while start < chars.len() && chars[start] != ' ' {
                start += 1;
            }
        }
        let piece = piece.trim().to_string();
        if out.is_empty() {
            out.push(piece);
        } else {
            out.push(format!("  {piece}"));
        }
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// The text lines of a node's box.
fn box_lines(n: &TraceNode) -> Vec<String> {
    label_lines(n).iter().flat_map(|l| wrap(l)).collect()
}

fn text_size(lines: &[String]) -> (f64, f64) {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    (
        chars as f64 * CHAR_W + 2.0 * PAD_X,
        lines.len() as f64 * LINE_H + 2.0 * PAD_Y,
    )
}

/// The width of an edge label's background.
pub(super) fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * LABEL_FONT * 1233.0 / 2048.0 + 6.0
}

/// One item of a rank: a node's box or a placeholder of a long edge.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Item {
    Node(usize),
    /// Forward edge `e` (index into `forward`) crossing this rank.
    Dummy(usize),
}

/// A forward edge: input node index `u` → consumer index `v`.
struct Fwd {
    u: usize,
    v: usize,
    position: usize,
    /// Whether a gradient flows back along it (a backward edge), and
    /// that edge's label.
    backward: bool,
    label: Option<String>,
    /// Its chain of items, from u's rank to v's.
    chain: Vec<(usize, usize)>, // (rank, index of the item in `items`)
}

/// Left to right (as the lesson draws graphs) when that fits a screen
/// (1200×800 units), else whichever direction fits a 16:10 screen better.
pub fn layout(t: &Trace) -> Layout {
    let across = layout_in(t, Direction::LeftToRight);
    if across.width <= 1200.0 && across.height <= 800.0 {
        return across;
    }
    let down = layout_in(t, Direction::TopToBottom);
    let fit = |l: &Layout| (l.width / 1600.0).max(l.height / 1000.0);
    if fit(&down) < fit(&across) {
        down
    } else {
        across
    }
}

/// The layout with ranks running in `direction`.
pub fn layout_in(t: &Trace, direction: Direction) -> Layout {
    let index: HashMap<usize, usize> = t.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let n = t.nodes.len();
    let rank = ranks(t, &index);
    let ranks_count = rank.iter().copied().max().map_or(0, |d| d + 1);

    // Forward edges, with the labels of their backward twins.
    let back_labels: HashMap<(usize, usize, usize), Option<String>> = super::edges(t)
        .into_iter()
        .filter(|e| e.backward)
        .map(|e| ((e.to, e.from, e.position), e.label))
        .collect();
    let mut forward: Vec<Fwd> = Vec::new();
    for (v, node) in t.nodes.iter().enumerate() {
        for (k, id) in node.inputs.iter().enumerate() {
            if let Some(&u) = index.get(id) {
                forward.push(Fwd {
                    u,
                    v,
                    position: k,
                    backward: back_labels.contains_key(&(*id, node.id, k)),
                    label: back_labels.get(&(*id, node.id, k)).cloned().flatten(),
                    chain: Vec::new(),
                });
            }
        }
    }

    // Items per rank, and the chains of the edges through them.
    let mut items: Vec<Item> = (0..n).map(Item::Node).collect();
    let mut item_rank: Vec<usize> = rank.clone();
    for (e, f) in forward.iter_mut().enumerate() {
        f.chain.push((rank[f.u], f.u));
        for r in rank[f.u] + 1..rank[f.v] {
            items.push(Item::Dummy(e));
            item_rank.push(r);
            f.chain.push((r, items.len() - 1));
        }
        f.chain.push((rank[f.v], f.v));
    }
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for f in &forward {
        for w in f.chain.windows(2) {
            after[w[0].1].push(w[1].1);
            before[w[1].1].push(w[0].1);
        }
    }
    let mut bands: Vec<Vec<usize>> = vec![Vec::new(); ranks_count];
    for (i, &r) in item_rank.iter().enumerate() {
        bands[r].push(i);
    }
    order_bands(&mut bands, &before, &after, items.len());

    // Box sizes: the text, and room for every port and label.
    let lines: Vec<Vec<String>> = t.nodes.iter().map(box_lines).collect();
    let ins: Vec<usize> = (0..n).map(|i| before[i].len()).collect();
    let outs: Vec<usize> = (0..n).map(|i| after[i].len()).collect();
    let lr = direction == Direction::LeftToRight;
    // The widest label on a box's outgoing edges (0: none).
    let widest_label: Vec<f64> = (0..n)
        .map(|i| {
            forward
                .iter()
                .filter(|f| f.u == i)
                .filter_map(|f| f.label.as_deref().map(label_width))
                .fold(0.0, f64::max)
        })
        .collect();
    // The room along a box side for one outgoing edge and its label.
    let out_slot: Vec<f64> = (0..n)
        .map(|i| {
            let widest = widest_label[i];
            match (widest > 0.0, lr) {
                (false, _) => IN_SLOT,
                (true, true) => 2.0 * TRACK_HALF + 6.0 + LABEL_H + 6.0,
                (true, false) => 2.0 * TRACK_HALF + 8.0 + widest + 6.0,
            }
        })
        .collect();
    // (length along the ranks' axis, length across it)
    let size: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let (w, h) = text_size(&lines[i]);
            let ports = (ins[i] as f64 * IN_SLOT).max(outs[i] as f64 * out_slot[i]);
            if lr {
                (w, h.max(ports))
            } else {
                (h, w.max(ports))
            }
        })
        .collect();
    // The lane after a box where its labels go.
    let lane: Vec<f64> = (0..n)
        .map(|i| {
            let widest = widest_label[i];
            match (widest > 0.0, lr) {
                (false, _) => 0.0,
                (true, true) => widest + 12.0,
                (true, false) => LABEL_H + 10.0,
            }
        })
        .collect();

    // Along the ranks: each band holds its longest box and lane.
    let mut band_start = vec![0.0; ranks_count];
    let mut band_box = vec![0.0; ranks_count];
    let mut band_len = vec![0.0; ranks_count];
    let mut at = 0.0;
    for (r, band) in bands.iter().enumerate() {
        let nodes = band.iter().filter_map(|&i| match items[i] {
            Item::Node(j) => Some(j),
            Item::Dummy(_) => None,
        });
        let (boxes, lanes) = nodes.fold((0.0f64, 0.0f64), |(b, l), j| {
            (b.max(size[j].0), l.max(lane[j]))
        });
        band_start[r] = at;
        band_box[r] = boxes;
        band_len[r] = boxes + lanes;
        at += band_len[r] + channel(direction);
    }
    let main_total = (at - channel(direction)).max(0.0);
    // Across the ranks: items stacked in order, each band centred.
    let extent = |i: usize| match items[i] {
        Item::Node(j) => size[j].1,
        Item::Dummy(_) => DUMMY,
    };
    let gap = |a: usize, b: usize| match (items[a], items[b]) {
        (Item::Node(_), Item::Node(_)) => BOX_GAP,
        _ => DUMMY_GAP,
    };
    let stack: Vec<f64> = bands
        .iter()
        .map(|b| {
            b.iter().map(|&i| extent(i)).sum::<f64>()
                + b.windows(2).map(|w| gap(w[0], w[1])).sum::<f64>()
        })
        .collect();
    let cross_total = stack.iter().copied().fold(0.0, f64::max);
    // (main start, cross start) of every item.
    let mut origin = vec![(0.0, 0.0); items.len()];
    for (r, band) in bands.iter().enumerate() {
        let mut c = (cross_total - stack[r]) / 2.0;
        for (k, &i) in band.iter().enumerate() {
            if k > 0 {
                c += gap(band[k - 1], i);
            }
            let m = match items[i] {
                Item::Node(j) => band_start[r] + (band_box[r] - size[j].0) / 2.0,
                Item::Dummy(_) => band_start[r],
            };
            origin[i] = (m, c);
            c += extent(i);
        }
    }
    let centre = |i: usize| origin[i].1 + extent(i) / 2.0;

    // Ports: each box side's edges in the order of where they come from or
    // go to, so that lines leave a box without crossing each other.
    let mut out_track: HashMap<(usize, usize), f64> = HashMap::new(); // (edge, -) → cross
    let mut in_track: HashMap<usize, f64> = HashMap::new();
    for j in 0..n {
        let mut leaving: Vec<(f64, usize, usize)> = forward
            .iter()
            .enumerate()
            .filter(|(_, f)| f.u == j)
            .map(|(e, f)| (centre(f.chain[1].1), f.position, e))
            .collect();
        leaving.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let s = out_slot[j];
        let first = origin[j].1 + (size[j].1 - leaving.len() as f64 * s) / 2.0;
        for (k, &(_, _, e)) in leaving.iter().enumerate() {
            out_track.insert((e, 0), first + s * k as f64 + 2.0 * TRACK_HALF);
        }
        let mut arriving: Vec<(f64, usize, usize)> = forward
            .iter()
            .enumerate()
            .filter(|(_, f)| f.v == j)
            .map(|(e, f)| (centre(f.chain[f.chain.len() - 2].1), f.position, e))
            .collect();
        arriving.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let first = origin[j].1 + (size[j].1 - arriving.len() as f64 * IN_SLOT) / 2.0;
        for (k, &(_, _, e)) in arriving.iter().enumerate() {
            in_track.insert(e, first + IN_SLOT * (k as f64 + 0.5));
        }
    }

    // (main, cross) → (x, y).
    let xy = |m: f64, c: f64| if lr { (m, c) } else { (c, m) };
    let mut routes = Vec::with_capacity(2 * forward.len());
    for (e, f) in forward.iter().enumerate() {
        let (ru, rv) = (rank[f.u], rank[f.v]);
        let mut track: Vec<(f64, f64)> = Vec::new(); // (main, cross) of the centre line
        let tu = out_track[&(e, 0)];
        track.push((origin[f.u].0 + size[f.u].0, tu));
        track.push((band_start[ru] + band_len[ru], tu));
        for &(r, i) in &f.chain[1..f.chain.len() - 1] {
            let c = centre(i);
            track.push((band_start[r], c));
            track.push((band_start[r] + band_len[r], c));
        }
        let tv = in_track[&e];
        track.push((band_start[rv], tv));
        track.push((origin[f.v].0, tv));
        let shifted = |d: f64| -> Vec<(f64, f64)> {
            let mut pts: Vec<(f64, f64)> = Vec::new();
            for &(m, c) in &track {
                let p = xy(m, c + d);
                if pts.last() != Some(&p) {
                    pts.push(p);
                }
            }
            pts
        };
        let label = f.label.as_ref().map(|text| {
            let lw = label_width(text);
            let box_end = origin[f.u].0 + size[f.u].0;
            let back_line = tu + TRACK_HALF;
            let rect = if lr {
                Rect {
                    x: box_end + 6.0,
                    y: back_line + 4.0,
                    w: lw,
                    h: LABEL_H,
                }
            } else {
                Rect {
                    x: back_line + 5.0,
                    y: box_end + 5.0,
                    w: lw,
                    h: LABEL_H,
                }
            };
            (text.clone(), rect)
        });
        let (from, to) = (t.nodes[f.u].id, t.nodes[f.v].id);
        routes.push(Route {
            from,
            to,
            position: f.position,
            backward: false,
            points: shifted(-TRACK_HALF),
            label: None,
        });
        if !f.backward {
            continue;
        }
        let mut back = shifted(TRACK_HALF);
        back.reverse();
        routes.push(Route {
            from: to,
            to: from,
            position: f.position,
            backward: true,
            points: back,
            label,
        });
    }
    let nodes = (0..n)
        .map(|j| {
            let (x, y) = xy(origin[j].0, origin[j].1);
            let (w, h) = if lr { size[j] } else { (size[j].1, size[j].0) };
            Placed {
                id: t.nodes[j].id,
                column: rank[j],
                x,
                y,
                w,
                h,
                lines: lines[j].clone(),
            }
        })
        .collect();
    let (width, height) = xy(main_total, cross_total);
    Layout {
        direction,
        nodes,
        routes,
        width,
        height,
    }
}

/// Operations by their depth from the inputs; each leaf one rank before
/// its first consumer.
fn ranks(t: &Trace, index: &HashMap<usize, usize>) -> Vec<usize> {
    let n = t.nodes.len();
    let mut depth = vec![0usize; n];
    for (i, node) in t.nodes.iter().enumerate() {
        depth[i] = node
            .inputs
            .iter()
            .filter_map(|id| index.get(id))
            .map(|&j| depth[j] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut first_consumer = vec![usize::MAX; n];
    for (i, node) in t.nodes.iter().enumerate() {
        for id in &node.inputs {
            if let Some(&j) = index.get(id) {
                first_consumer[j] = first_consumer[j].min(depth[i]);
            }
        }
    }
    for i in 0..n {
        if t.nodes[i].inputs.is_empty() && first_consumer[i] != usize::MAX {
            depth[i] = first_consumer[i].saturating_sub(1);
        }
    }
    depth
}

/// Orders each band by the mean position of each item's neighbours in the
/// band before (sweeping down) or after (sweeping up), a few times.
fn order_bands(
    bands: &mut [Vec<usize>],
    before: &[Vec<usize>],
    after: &[Vec<usize>],
    count: usize,
) {
    let mut pos = vec![0f64; count];
    let number = |band: &[usize], pos: &mut Vec<f64>| {
        let len = band.len().max(1) as f64;
        for (k, &i) in band.iter().enumerate() {
            pos[i] = (k as f64 + 0.5) / len;
        }
    };
    for band in bands.iter() {
        number(band, &mut pos);
    }
    let reorder = |band: &mut Vec<usize>, pos: &[f64], neighbours: &[Vec<usize>]| {
        let key = |i: usize| {
            let nb = &neighbours[i];
            if nb.is_empty() {
                pos[i]
            } else {
                nb.iter().map(|&j| pos[j]).sum::<f64>() / nb.len() as f64
            }
        };
        let mut keyed: Vec<(f64, f64, usize)> = band.iter().map(|&i| (key(i), pos[i], i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        *band = keyed.into_iter().map(|(_, _, i)| i).collect();
    };
    for _ in 0..6 {
        for band in bands.iter_mut().skip(1) {
            reorder(band, &pos, before);
            number(band, &mut pos);
        }
        let last = bands.len().saturating_sub(1);
        for band in bands[..last].iter_mut().rev() {
            reorder(band, &pos, after);
            number(band, &mut pos);
        }
    }
}
