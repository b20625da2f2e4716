//! The one place numbers become text in the transparency tools: full
//! values in explanations ([`num`], [`num_digits`]), short ones in the
//! one-line reasons of the verdicts ([`short`]), table cells of gradient
//! magnitudes ([`sci`]) and fractions ([`percent`]).

/// A number in at most `digits` significant digits, without trailing zeros:
/// `0.0618193`, `-4.48326e-4`, `1.5`, `3`.
pub fn num_digits(v: f64, digits: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = digits.max(1);
    let exp = v.abs().log10().floor() as i32;
    if (-4..9).contains(&exp) {
        let decimals = (digits as i32 - 1 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = trim_zeros(&s);
        if s == "-0" {
            "0".into()
        } else {
            s
        }
    } else {
        let s = format!("{v:.prec$e}", prec = digits - 1);
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        }
    }
}

/// A number in 6 significant digits (see [`num_digits`]).
pub fn num(v: f64) -> String {
    num_digits(v, 6)
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A number in a reason: plain with three significant digits between 0.01
/// and 1000, else scientific with two.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (0.01..1000.0).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.1e}")
    }
}

/// A fraction as a whole percentage, `<1%` for a fraction too small to
/// round to 1 % but not zero.
pub fn percent(f: f64) -> String {
    let p = 100.0 * f;
    if p > 0.0 && p < 0.5 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

/// A fraction as a percentage with one decimal, for table cells: `12.5%`.
pub fn percent_cell(f: f64) -> String {
    format!("{:.1}%", 100.0 * f)
}

/// A table cell of a magnitude spanning many decades: scientific with two
/// decimals, `0` for zero.
pub fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_finite() {
        format!("{x:.2e}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_by_example() {
        assert_eq!(num(0.061_819_34), "0.0618193");
        assert_eq!(num(-4.483_26e-4), "-0.000448326");
        assert_eq!(num(1.5e-7), "1.5e-7");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num_digits(2.0 / 3.0, 3), "0.667");
        assert_eq!(short(0.0901), "0.0901");
        assert_eq!(short(6.561e-5), "6.6e-5");
        assert_eq!(short(1234.0), "1.2e3");
        assert_eq!(sci(0.000_123_4), "1.23e-4");
        assert_eq!(sci(0.0), "0");
        assert_eq!(percent(0.004), "<1%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent_cell(0.125), "12.5%");
    }
}
