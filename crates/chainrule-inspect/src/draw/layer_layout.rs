//! Where the boxes, groups and lines of a [`LayerGraph`] go: top to bottom.
//!
//! - Ranks: every box one rank below the boxes it reads; a box that starts
//!   a new group starts a new rank, so every group holds whole ranks and
//!   groups side by side never share one. Parameters, constants and the
//!   target sit beside the box they feed, in its rank.
//! - The boxes of a rank stand side by side, centred on one column; each
//!   rank is a band and between bands lies a channel, wider where groups
//!   begin (their label) or end.
//! - An edge to the next rank runs from a port on its box's bottom to one
//!   on the top of the next, within the channel; one beside its box runs
//!   straight across. Any other (a residual block's skip, an edge over
//!   several ranks) runs in a lane to the right of everything it passes,
//!   groups included, and enters its box from the side.
//! - A group's rectangle holds its boxes, its inner groups and the lanes
//!   of edges within it, with room for its label above.

// Boxes, ranks and groups live in parallel vectors indexed by number.
#![allow(clippy::needless_range_loop)]

use super::layers::LayerGraph;
use super::layout::{CHAR_W, LABEL_FONT, LABEL_H, LINE_H, PAD_X, PAD_Y};

/// The channel between two ranks (room for an edge's label).
const CHANNEL: f64 = 40.0;
/// Between boxes side by side.
const BOX_GAP: f64 = 28.0;
/// Between a box and a box beside it.
const SIDE_GAP: f64 = 36.0;
/// A group's padding, and the height of its label row.
pub(super) const GROUP_PAD: f64 = 12.0;
pub(super) const GROUP_LABEL_H: f64 = 20.0;
/// Between lanes, and between a lane and what it passes.
const LANE_GAP: f64 = 18.0;
/// Room along a box side for one edge.
const PORT: f64 = 12.0;
/// The narrowest main box.
const MIN_W: f64 = 150.0;

/// A rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Area {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// Whether the two overlap (touching edges do not).
    pub fn overlaps(&self, o: &Area) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
}

/// How an edge runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeRoute {
    /// To the next rank, through the channel.
    Down,
    /// From beside its box, straight across.
    Side,
    /// Around, in a lane on the right.
    Lane,
}

/// An edge's line (points joined by straight pieces, corners rounded by
/// the picture) and its label's place.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeLine {
    pub edge: usize,
    pub route: EdgeRoute,
    pub points: Vec<(f64, f64)>,
    pub label: Option<(String, Area)>,
}

/// A placed [`LayerGraph`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerLayout {
    /// Per box, in the graph's order.
    pub boxes: Vec<Area>,
    pub lines: Vec<Vec<String>>,
    /// Per group, in the graph's order, with its label's height inside.
    pub groups: Vec<Area>,
    pub edges: Vec<EdgeLine>,
    pub rank: Vec<usize>,
    pub width: f64,
    pub height: f64,
}

fn text_w(s: &str, char_w: f64) -> f64 {
    s.chars().count() as f64 * char_w
}

/// The layout of `lg`.
pub fn layer_layout(lg: &LayerGraph) -> LayerLayout {
    let n = lg.boxes.len();
    let lines: Vec<Vec<String>> = lg.boxes.iter().map(|b| b.lines()).collect();
    let mut size: Vec<(f64, f64)> = lines
        .iter()
        .map(|l| {
            let w = l.iter().map(|s| text_w(s, CHAR_W)).fold(0.0, f64::max) + 2.0 * PAD_X;
            (w, l.len() as f64 * LINE_H + 2.0 * PAD_Y)
        })
        .collect();
    // Main boxes share one width, so the column reads as one.
    let main_w = (0..n)
        .filter(|&i| !lg.boxes[i].side)
        .map(|i| size[i].0)
        .fold(MIN_W, f64::max);
    for i in 0..n {
        if !lg.boxes[i].side {
            size[i].0 = main_w;
        }
    }

    // Which box a side box stands beside: the reader of its first edge.
    let mut beside: Vec<Option<usize>> = vec![None; n];
    for e in &lg.edges {
        if lg.boxes[e.from].side && beside[e.from].is_none() && !lg.boxes[e.to].side {
            beside[e.from] = Some(e.to);
        }
    }
    // Ranks.
    let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &lg.edges {
        inputs[e.to].push(e.from);
    }
    let mut rank = vec![0usize; n];
    let mut group_start: Vec<Option<usize>> = vec![None; lg.groups.len()];
    let mut top: Option<usize> = None;
    let mut prev_group: Option<Option<usize>> = None;
    for i in 0..n {
        if beside[i].is_some() {
            continue;
        }
        let mut r = inputs[i]
            .iter()
            .filter(|&&j| beside[j].is_none() && j < i)
            .map(|&j| rank[j] + 1)
            .max()
            .unwrap_or(0);
        let g = lg.boxes[i].group;
        if prev_group.is_some_and(|p| p != g) {
            r = r.max(top.map_or(0, |t| t + 1));
        }
        for q in lg.chain(g) {
            match group_start[q] {
                Some(s) => r = r.max(s),
                None => {
                    let s = r.max(top.map_or(0, |t| t + 1));
                    group_start[q] = Some(s);
                    r = s;
                }
            }
        }
        rank[i] = r;
        top = Some(top.map_or(r, |t| t.max(r)));
        prev_group = Some(g);
    }
    for i in 0..n {
        if let Some(c) = beside[i] {
            rank[i] = rank[c];
        }
    }
    let ranks = top.map_or(0, |t| t + 1);
    // Each group's ranks.
    let mut span: Vec<Option<(usize, usize)>> = vec![None; lg.groups.len()];
    for i in 0..n {
        for q in lg.chain(lg.boxes[i].group) {
            let r = rank[i];
            span[q] = Some(span[q].map_or((r, r), |(a, b)| (a.min(r), b.max(r))));
        }
    }

    // Across: each rank's main boxes side by side, centred on x = 0, each
    // with its side boxes left and right.
    let mut area = vec![
        Area {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        n
    ];
    let mut sides: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        if let Some(c) = beside[i] {
            sides[c].push(i);
        }
    }
    let mut in_rank: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    for i in 0..n {
        if beside[i].is_none() {
            in_rank[rank[i]].push(i);
        }
    }
    for row in &in_rank {
        let unit = |i: usize| -> (f64, f64) {
            // Room left and right of the main box for its side boxes.
            let mut l = 0.0;
            let mut r = 0.0;
            for (k, &s) in sides[i].iter().enumerate() {
                if k % 2 == 0 {
                    l += size[s].0 + SIDE_GAP;
                } else {
                    r += size[s].0 + SIDE_GAP;
                }
            }
            (l, r)
        };
        let total: f64 = row
            .iter()
            .map(|&i| {
                let (l, r) = unit(i);
                l + size[i].0 + r
            })
            .sum::<f64>()
            + BOX_GAP * row.len().saturating_sub(1) as f64;
        let mut x = if row.len() == 1 {
            -size[row[0]].0 / 2.0 - unit(row[0]).0
        } else {
            -total / 2.0
        };
        for &i in row {
            let (l, r) = unit(i);
            area[i].x = x + l;
            area[i].w = size[i].0;
            let (mut lx, mut rx) = (area[i].x, area[i].right());
            for (k, &s) in sides[i].iter().enumerate() {
                area[s].w = size[s].0;
                if k % 2 == 0 {
                    lx -= SIDE_GAP + size[s].0;
                    area[s].x = lx;
                } else {
                    area[s].x = rx + SIDE_GAP;
                    rx = area[s].right();
                }
            }
            x += l + size[i].0 + r + BOX_GAP;
        }
    }

    // Down: bands and channels.
    let span_ref = &span;
    let starting = |r: usize| -> Vec<usize> {
        (0..span_ref.len())
            .filter(|&q| span_ref[q].is_some_and(|s| s.0 == r))
            .collect()
    };
    let ending = |r: usize| -> Vec<usize> {
        (0..span_ref.len())
            .filter(|&q| span_ref[q].is_some_and(|s| s.1 == r))
            .collect()
    };
    let mut group_area = vec![
        Area {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        lg.groups.len()
    ];
    let mut band_top = vec![0.0; ranks];
    let mut band_h = vec![0.0; ranks];
    // Where each channel's labels go (the middle of the channel proper).
    let mut channel_mid = vec![0.0; ranks];
    let mut y = 0.0;
    for r in 0..ranks {
        if r > 0 {
            let mut ends: Vec<usize> = ending(r - 1);
            ends.sort_by_key(|&q| std::cmp::Reverse(lg.depth(q)));
            let bottom = y;
            for (k, &q) in ends.iter().enumerate() {
                let b = bottom + GROUP_PAD * (k as f64 + 1.0);
                group_area[q].h = b - group_area[q].y;
            }
            y += GROUP_PAD * ends.len() as f64;
            channel_mid[r - 1] = y + CHANNEL / 2.0;
            y += CHANNEL;
        }
        let mut starts: Vec<usize> = starting(r);
        starts.sort_by_key(|&q| lg.depth(q));
        for &q in &starts {
            group_area[q].y = y;
            y += GROUP_LABEL_H + GROUP_PAD;
        }
        band_top[r] = y;
        band_h[r] = (0..n)
            .filter(|&i| rank[i] == r)
            .map(|i| size[i].1)
            .fold(0.0, f64::max);
        y += band_h[r];
    }
    if ranks > 0 {
        let mut ends: Vec<usize> = ending(ranks - 1);
        ends.sort_by_key(|&q| std::cmp::Reverse(lg.depth(q)));
        for (k, &q) in ends.iter().enumerate() {
            group_area[q].h = y + GROUP_PAD * (k as f64 + 1.0) - group_area[q].y;
        }
        y += GROUP_PAD * ends.len() as f64;
    }
    let height = y;
    for i in 0..n {
        area[i].h = size[i].1;
        area[i].y = band_top[rank[i]] + (band_h[rank[i]] - size[i].1) / 2.0;
    }

    // Edges to the next rank and beside: ports, lines, labels.
    let mut lines_out: Vec<EdgeLine> = Vec::new();
    let mut lanes: Vec<usize> = Vec::new();
    let mut out_ports: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut in_ports: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, e) in lg.edges.iter().enumerate() {
        if beside[e.from] == Some(e.to) {
            continue;
        }
        if !e.skip && rank[e.to] == rank[e.from] + 1 {
            out_ports[e.from].push(k);
            in_ports[e.to].push(k);
        } else {
            lanes.push(k);
        }
    }
    let cx = |a: &Area| a.x + a.w / 2.0;
    let port = |list: &[usize], k: usize, a: &Area| -> f64 {
        let i = list.iter().position(|&j| j == k).unwrap_or(0) as f64;
        cx(a) + (i - (list.len() as f64 - 1.0) / 2.0) * PORT
    };
    // Ports in the order of the other ends, so that lines do not cross.
    for i in 0..n {
        out_ports[i]
            .sort_by(|&a, &b| cx(&area[lg.edges[a].to]).total_cmp(&cx(&area[lg.edges[b].to])));
        in_ports[i]
            .sort_by(|&a, &b| cx(&area[lg.edges[a].from]).total_cmp(&cx(&area[lg.edges[b].from])));
    }
    // Right edges of what lies in each rank's band and the channel below
    // it (boxes and labels), for the lanes to pass.
    let mut reach = vec![f64::NEG_INFINITY; ranks];
    for i in 0..n {
        reach[rank[i]] = reach[rank[i]].max(area[i].right());
    }
    for (k, e) in lg.edges.iter().enumerate() {
        let (a, b) = (&area[e.from], &area[e.to]);
        if beside[e.from] == Some(e.to) {
            let pts = if a.x < b.x {
                vec![(a.right(), a.y + a.h / 2.0), (b.x, a.y + a.h / 2.0)]
            } else {
                vec![(a.x, a.y + a.h / 2.0), (b.right(), a.y + a.h / 2.0)]
            };
            lines_out.push(EdgeLine {
                edge: k,
                route: EdgeRoute::Side,
                points: pts,
                label: None,
            });
        } else if !lanes.contains(&k) {
            let x0 = port(&out_ports[e.from], k, a);
            let x1 = port(&in_ports[e.to], k, b);
            let label = e.label.as_ref().map(|t| {
                let w = text_w(t, LABEL_FONT * 1233.0 / 2048.0) + 6.0;
                let mid = channel_mid[rank[e.from]];
                let la = Area {
                    x: x0.max(x1) + 6.0,
                    y: mid - LABEL_H / 2.0,
                    w,
                    h: LABEL_H,
                };
                reach[rank[e.from]] = reach[rank[e.from]].max(la.right());
                (t.clone(), la)
            });
            lines_out.push(EdgeLine {
                edge: k,
                route: EdgeRoute::Down,
                points: vec![(x0, a.bottom()), (x1, b.y)],
                label,
            });
        }
    }

    // Lanes and group rectangles, innermost first: a lane passes right of
    // everything in the ranks it spans (inner groups included), and a
    // group holds the lanes of edges within it.
    let common = |a: usize, b: usize| -> Option<usize> {
        let cb = lg.chain(lg.boxes[b].group);
        lg.chain(lg.boxes[a].group)
            .into_iter()
            .find(|q| cb.contains(q))
    };
    let mut order: Vec<Option<usize>> = (0..lg.groups.len()).map(Some).collect();
    order.sort_by_key(|q| std::cmp::Reverse(q.map_or(0, |q| lg.depth(q) + 1)));
    order.push(None);
    let mut done = vec![false; lg.groups.len()];
    let mut lane_side: Vec<(usize, usize, f64)> = Vec::new();
    let mut side_slots: Vec<usize> = vec![0; n];
    for owner in order {
        let mut mine: Vec<usize> = lanes
            .iter()
            .copied()
            .filter(|&k| common(lg.edges[k].from, lg.edges[k].to) == owner)
            .collect();
        mine.sort_by_key(|&k| rank[lg.edges[k].to].abs_diff(rank[lg.edges[k].from]));
        for k in mine {
            let e = &lg.edges[k];
            let (r0, r1) = {
                let (a, b) = (rank[e.from], rank[e.to]);
                (a.min(b), a.max(b))
            };
            let mut x = (r0..=r1)
                .map(|r| reach[r])
                .fold(f64::NEG_INFINITY, f64::max);
            for (q, s) in span.iter().enumerate() {
                if done[q] && s.is_some_and(|(a, b)| a <= r1 && b >= r0) {
                    x = x.max(group_area[q].right());
                }
            }
            for &(a, b, lx) in &lane_side {
                if a <= r1 && b >= r0 {
                    x = x.max(lx);
                }
            }
            let lx = x + LANE_GAP;
            let (a, b) = (area[e.from], area[e.to]);
            side_slots[e.from] += 1;
            side_slots[e.to] += 1;
            let ya = a.y + a.h / 2.0 + (side_slots[e.from] as f64 - 1.0) * PORT;
            let yb = b.y + b.h / 2.0 + (side_slots[e.to] as f64 - 1.0) * PORT;
            // A box to the right in the same rank: leave from the bottom
            // (arrive from the top) through the channel instead.
            let blocked =
                |i: usize| (0..n).any(|j| j != i && rank[j] == rank[i] && area[j].x > area[i].x);
            let mut points = Vec::new();
            if blocked(e.from) && rank[e.from] < ranks - 1 {
                let px = a.x + a.w * 0.8;
                let cy = channel_mid[rank[e.from]] + PORT / 2.0;
                points.extend([(px, a.bottom()), (px, cy), (lx, cy)]);
            } else {
                points.extend([(a.right(), ya), (lx, ya)]);
            }
            if blocked(e.to) && rank[e.to] > 0 {
                let px = b.x + b.w * 0.8;
                let cy = channel_mid[rank[e.to] - 1] - PORT / 2.0;
                points.extend([(lx, cy), (px, cy), (px, b.y)]);
            } else {
                points.extend([(lx, yb), (b.right(), yb)]);
            }
            let (ya, yb) = (points[1].1, points[points.len() - 2].1);
            let mut far = lx;
            let label = e.label.as_ref().map(|t| {
                let w = text_w(t, LABEL_FONT * 1233.0 / 2048.0) + 6.0;
                let la = Area {
                    x: lx + 5.0,
                    y: (ya + yb) / 2.0 - LABEL_H / 2.0,
                    w,
                    h: LABEL_H,
                };
                far = la.right();
                (t.clone(), la)
            });
            lane_side.push((r0, r1, far));
            lines_out.push(EdgeLine {
                edge: k,
                route: EdgeRoute::Lane,
                points,
                label,
            });
        }
        let Some(q) = owner else { continue };
        let Some((s0, s1)) = span[q] else { continue };
        let mut left = f64::INFINITY;
        let mut right = f64::NEG_INFINITY;
        let mut first_left = f64::INFINITY;
        for i in 0..n {
            if lg.chain(lg.boxes[i].group).contains(&q) {
                left = left.min(area[i].x);
                right = right.max(area[i].right());
                if rank[i] == s0 && beside[i].is_none() {
                    first_left = first_left.min(area[i].x);
                }
            }
        }
        for (c, a) in group_area.iter().enumerate() {
            if done[c] && lg.chain(Some(c)).contains(&q) {
                left = left.min(a.x);
                right = right.max(a.right());
            }
        }
        for l in &lines_out {
            let e = &lg.edges[l.edge];
            if l.route == EdgeRoute::Lane && common(e.from, e.to) == Some(q) {
                right = right.max(
                    l.points
                        .iter()
                        .map(|p| p.0)
                        .fold(f64::NEG_INFINITY, f64::max),
                );
                if let Some((_, la)) = &l.label {
                    right = right.max(la.right());
                }
            }
        }
        for r in s0..s1 {
            right = right.max(reach[r]);
        }
        // The label stays clear of the lines entering the group, and the
        // group stands evenly about the column (x = 0) where it can.
        let label_w = text_w(&lg.groups[q].label, CHAR_W) + 8.0;
        left = left.min(first_left - label_w - 4.0);
        left = left.min(-right.max(0.0));
        let x = left - GROUP_PAD;
        group_area[q].x = x;
        group_area[q].w = right + GROUP_PAD - x;
        done[q] = true;
        for r in s0..=s1 {
            reach[r] = reach[r].max(group_area[q].right());
        }
    }
    // Shift everything right of x = 0.
    let min_x = area
        .iter()
        .map(|a| a.x)
        .chain(group_area.iter().map(|a| a.x))
        .fold(0.0, f64::min);
    let mut max_x: f64 = 0.0;
    for a in area.iter_mut().chain(group_area.iter_mut()) {
        a.x -= min_x;
        max_x = max_x.max(a.right());
    }
    for l in &mut lines_out {
        for p in &mut l.points {
            p.0 -= min_x;
            max_x = max_x.max(p.0);
        }
        if let Some((_, la)) = &mut l.label {
            la.x -= min_x;
            max_x = max_x.max(la.right());
        }
    }
    lines_out.sort_by_key(|l| l.edge);
    LayerLayout {
        boxes: area,
        lines,
        groups: group_area,
        edges: lines_out,
        rank,
        width: max_x,
        height,
    }
}
