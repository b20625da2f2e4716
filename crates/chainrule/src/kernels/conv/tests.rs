//! Tests of the convolution kernels: values by hand, and im2col + GEMM (per
//! image and batched) against the definition, with the adjoints adjoint.

use super::*;

#[test]
fn a_3x3_image_with_a_2x2_kernel_by_hand() {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 0], [0, −1]]:
    // y[i, j] = x[i, j] − x[i+1, j+1] = −4 everywhere.
    let g = ConvGeom {
        n: 1,
        c: 1,
        h: 3,
        w: 3,
        o: 1,
        kh: 2,
        kw: 2,
        ho: 2,
        wo: 2,
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
    };
    let x: Vec<f64> = (1..=9).map(f64::from).collect();
    let mut y = [0.0; 4];
    conv2d(&g, &x, &[1.0, 0.0, 0.0, -1.0], &mut y);
    assert_eq!(y, [-4.0; 4]);
}

/// The definition, one output element at a time.
fn direct(g: &ConvGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
    let (cg, og) = (g.c / g.groups, g.o / g.groups);
    let mut y = vec![0.0; g.n * g.o * g.ho * g.wo];
    for n in 0..g.n {
        for o in 0..g.o {
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let mut acc = 0.0;
                    for c in 0..cg {
                        let ci = (o / og) * cg + c;
                        for a in 0..g.kh {
                            for b in 0..g.kw {
                                let r = (oh * g.stride[0] + a * g.dilation[0]) as isize
                                    - g.padding[0] as isize;
                                let q = (ow * g.stride[1] + b * g.dilation[1]) as isize
                                    - g.padding[1] as isize;
                                if r < 0 || q < 0 || r >= g.h as isize || q >= g.w as isize {
                                    continue;
                                }
                                let xv = x[((n * g.c + ci) * g.h + r as usize) * g.w + q as usize];
                                acc += w[((o * cg + c) * g.kh + a) * g.kw + b] * xv;
                            }
                        }
                    }
                    y[((n * g.o + o) * g.ho + oh) * g.wo + ow] = acc;
                }
            }
        }
    }
    y
}

#[test]
fn im2col_gemm_agrees_with_the_definition_and_the_adjoints_are_adjoint() {
    let mut seed = 0u64;
    let mut next = move || {
        seed += 1;
        crate::rng::sym_at(99, seed)
    };
    // (n, c, h, w, o, kh, kw, stride, padding, dilation, groups)
    let cases = [
        (2, 3, 7, 6, 4, 3, 2, [2, 1], [1, 0], [1, 2], 1),
        (1, 4, 9, 8, 6, 2, 3, [1, 2], [2, 1], [2, 1], 2),
        (2, 2, 5, 5, 2, 1, 1, [1, 1], [0, 0], [1, 1], 2),
        (1, 3, 6, 7, 3, 3, 3, [3, 2], [1, 2], [1, 1], 3),
        (1, 2, 40, 30, 8, 3, 3, [1, 1], [1, 1], [1, 1], 1),
        (3, 2, 6, 5, 4, 3, 3, [1, 1], [1, 1], [1, 1], 1),
        (2, 1, 6, 7, 3, 5, 5, [1, 1], [2, 2], [1, 1], 1),
        // Batched products above SMALL_PRODUCT: on the GEMM.
        (2, 4, 12, 12, 16, 3, 3, [1, 1], [1, 1], [1, 1], 1),
        (2, 2, 2, 3, 2, 5, 5, [1, 1], [2, 2], [1, 1], 1),
        (3, 3, 7, 7, 2, 2, 3, [2, 2], [0, 1], [1, 1], 1),
        // Taps wholly in the padding: a 1×1 kernel with padding 2, and
        // a dilated 3×3 kernel whose outer taps never reach a 2×2 input.
        (2, 2, 3, 4, 3, 1, 1, [1, 2], [2, 2], [1, 1], 1),
        (1, 2, 2, 2, 2, 3, 3, [1, 1], [3, 3], [3, 3], 2),
    ];
    for (n, c, h, w, o, kh, kw, stride, padding, dilation, groups) in cases {
        let ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
        let wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
        let g = ConvGeom {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            ho,
            wo,
            stride,
            padding,
            dilation,
            groups,
        };
        let x: Vec<f64> = (0..n * c * h * w).map(|_| next()).collect();
        let wt: Vec<f64> = (0..o * c / groups * kh * kw).map(|_| next()).collect();
        let gy: Vec<f64> = (0..n * o * ho * wo).map(|_| next()).collect();
        let mut y = vec![f64::NAN; gy.len()];
        conv2d(&g, &x, &wt, &mut y);
        let want = direct(&g, &x, &wt);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
        }
        // ⟨g, conv(x, w)⟩ = ⟨IG(g, w), x⟩ = ⟨WG(x, g), w⟩.
        let mut dx = vec![f64::NAN; x.len()];
        let mut dw = vec![f64::NAN; wt.len()];
        conv2d_input_grad(&g, &gy, &wt, &mut dx);
        conv2d_weight_grad(&g, &x, &gy, &mut dw);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let b = dot(&gy, &want);
        assert!((dot(&dx, &x) - b).abs() < 1e-10, "{g:?}");
        assert!((dot(&dw, &wt) - b).abs() < 1e-10, "{g:?}");
        // The batched path with chunks of every size up to N (the
        // last chunk shorter), against the per-image results.
        if groups == 1 && !g.pointwise() {
            for chunk in 1..=n {
                let mut yb = vec![f64::NAN; gy.len()];
                conv2d_batched(&g, chunk, &x, &wt, &mut yb);
                let mut dxb = vec![f64::NAN; x.len()];
                conv2d_input_grad_batched(&g, chunk, &gy, &wt, &mut dxb);
                let mut dwb = vec![f64::NAN; wt.len()];
                conv2d_weight_grad_batched(&g, chunk, &x, &gy, &mut dwb);
                for (u, v) in [(&yb, &want), (&dxb, &dx), (&dwb, &dw)] {
                    for (a, b) in u.iter().zip(v.iter()) {
                        assert!((a - b).abs() < 1e-12, "{g:?} chunk {chunk}: {a} vs {b}");
                    }
                }
            }
        }
    }
}

#[test]
fn chunks_on_the_team_match_the_definition_with_the_same_bits_on_any_thread_count() {
    use crate::kernels::threads::set_num_threads;
    // LeNet-5's second convolution (W4): enough work for the team, and
    // several chunks of images (the last one shorter).
    let g = ConvGeom {
        n: 45,
        c: 6,
        h: 14,
        w: 14,
        o: 16,
        kh: 5,
        kw: 5,
        ho: 10,
        wo: 10,
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
    };
    assert!(batched(&g).is_some_and(|b| !g.n.is_multiple_of(b)));
    let x: Vec<f64> = (0..g.n * g.c * g.h * g.w)
        .map(|i| crate::rng::sym_at(5, i as u64))
        .collect();
    let wt: Vec<f64> = (0..g.o * g.c * 25)
        .map(|i| crate::rng::sym_at(6, i as u64))
        .collect();
    let gy: Vec<f64> = (0..g.n * g.o * 100)
        .map(|i| crate::rng::sym_at(7, i as u64))
        .collect();
    let run = |threads: usize| {
        set_num_threads(threads);
        let mut y = vec![f64::NAN; gy.len()];
        let mut dx = vec![f64::NAN; x.len()];
        let mut dw = vec![f64::NAN; wt.len()];
        conv2d(&g, &x, &wt, &mut y);
        conv2d_input_grad(&g, &gy, &wt, &mut dx);
        conv2d_weight_grad(&g, &x, &gy, &mut dw);
        [y, dx, dw]
    };
    let (one, two) = (run(1), run(2));
    set_num_threads(0);
    for (a, b) in one.iter().zip(&two) {
        assert!(a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
    let [y, dx, dw] = two;
    let want = direct(&g, &x, &wt);
    assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let b = dot(&gy, &want);
    assert!((dot(&dx, &x) - b).abs() < 1e-9 * b.abs().max(1.0));
    assert!((dot(&dw, &wt) - b).abs() < 1e-9 * b.abs().max(1.0));
}

#[test]
fn the_unit_stride_rows_match_the_general_loops_exactly() {
    // (c, h, w, kh, kw, padding): LeNet-5's two convolutions, Wo = 8
    // (one block), taps whose row or column lies wholly or mostly in the
    // padding, column padding of a whole block, a long row.
    let cases = [
        (1, 28, 28, 5, 5, [2, 2]),
        (6, 14, 14, 5, 5, [0, 0]),
        (2, 5, 10, 3, 3, [0, 0]),
        (3, 4, 9, 3, 2, [3, 1]),
        (1, 3, 6, 5, 5, [4, 4]),
        (2, 3, 120, 1, 3, [0, 4]),
        (1, 2, 3, 3, 3, [1, 8]),
        (1, 4, 12, 2, 9, [0, 8]),
    ];
    for (c, h, w, kh, kw, padding) in cases {
        let (ho, wo) = (h + 2 * padding[0] - kh + 1, w + 2 * padding[1] - kw + 1);
        let g = ConvGeom {
            n: 1,
            c,
            h,
            w,
            o: 1,
            kh,
            kw,
            ho,
            wo,
            stride: [1, 1],
            padding,
            dilation: [1, 1],
            groups: 1,
        };
        assert!(unit::fits(&g), "{g:?}");
        let (k, p) = (g.k(), g.p());
        // A wider leading dimension, as in a chunk of images.
        let ld = p + 3;
        let x: Vec<f64> = (0..c * h * w)
            .map(|i| ((i * 37) % 17) as f64 - 8.0)
            .collect();
        let mut want = vec![f64::NAN; k * ld];
        let mut got = want.clone();
        im2col_loops(&g, &x, &mut want, ld);
        unit::im2col(&g, &x, &mut got, ld);
        for r in 0..k {
            assert_eq!(got[r * ld..][..p], want[r * ld..][..p], "{g:?} row {r}");
        }
    }
}
