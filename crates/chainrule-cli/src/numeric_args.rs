//! Parsers for numeric flags, so that every number a user can get wrong is
//! refused with the same kind of message when the command line is read:
//! `--epochs -3`, `--epochs 0`, `--lr -1` and `--seed -1` all give
//! `error: invalid value '-3' for '--epochs <EPOCHS>': must be a whole
//! number of at least 1, got -3`, never clap's "unexpected argument" (a
//! negative number looks like a flag) and never a silent change of what was
//! asked. Flags using these parsers also set `allow_negative_numbers`, so
//! that a negative value reaches the parser.

/// A whole number of at least 1 (`--epochs`, `--batch-size`, `--steps`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    let n = whole(s, "a whole number of at least 1")?;
    if n == 0 {
        return Err(format!("must be a whole number of at least 1, got {s}"));
    }
    Ok(n)
}

/// A whole number, 0 allowed (`--checkpoint-every 0`: never).
pub fn whole_number(s: &str) -> Result<usize, String> {
    whole(s, "a whole number (0 or more)")
}

/// A seed: a whole number from 0 to 2⁶⁴ − 1.
pub fn seed(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("must be a whole number from 0 to {}, got {s}", u64::MAX))
}

/// A finite number greater than 0 (`--lr`, `--clip-norm`).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = number(s, "a positive number")?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a positive number, got {s}"))
    }
}

/// A finite number of at least 0 (`--weight-decay`).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s, "a number of at least 0")?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a number of at least 0, got {s}"))
    }
}

/// A number in `[0, 1)` (`--momentum`, `--test-fraction`).
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = number(s, "a number in [0, 1)")?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a number in [0, 1), got {s}"))
    }
}

fn whole(s: &str, what: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| format!("must be {what}, got {s}"))
}

fn number(s: &str, what: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("must be {what}, got {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_refuse_signs_zero_and_fractions() {
        assert_eq!(at_least_one("3"), Ok(3));
        for bad in ["-3", "0", "1.5", "", "x"] {
            let e = at_least_one(bad).unwrap_err();
            assert!(e.contains("at least 1") && e.contains(bad), "{bad}: {e}");
        }
        assert_eq!(whole_number("0"), Ok(0));
        assert!(whole_number("-1").unwrap_err().contains("got -1"));
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("-1").unwrap_err().contains("from 0 to"));
    }

    #[test]
    fn real_numbers_refuse_out_of_range_and_non_finite() {
        assert_eq!(positive("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.1").is_err());
        assert_eq!(fraction("0"), Ok(0.0));
        assert!(fraction("1").is_err());
        assert!(fraction("-0.2").is_err());
    }
}
