//! How the command line prints a loss or another measured number: four
//! decimals where that reads well, scientific notation where it would not
//! (`train loss 2.722e29`, not thirty digits; `1.250e-6`, not `0.0000`).

/// A loss or metric: `0.1266`, `12.5000`, `2.722e29`, `1.250e-6`, `0.0000`.
pub fn metric(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-3..1e5).contains(&a) {
        // `+ 0.0` shows −0.0000… as 0.0000.
        format!("{:.4}", v + 0.0)
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::metric;

    #[test]
    fn fixed_where_readable_scientific_elsewhere() {
        assert_eq!(metric(0.126_649), "0.1266");
        assert_eq!(metric(0.005), "0.0050");
        assert_eq!(metric(12.5), "12.5000");
        assert_eq!(metric(99_999.0), "99999.0000");
        assert_eq!(
            metric(272_241_405_422_886_009_996_637_634_560.0),
            "2.722e29"
        );
        assert_eq!(metric(1.25e-6), "1.250e-6");
        assert_eq!(metric(-3.0e7), "-3.000e7");
        assert_eq!(metric(0.0), "0.0000");
        assert_eq!(metric(-0.0), "0.0000");
        assert_eq!(metric(f64::NAN), "NaN");
        assert_eq!(metric(f64::INFINITY), "inf");
    }
}
