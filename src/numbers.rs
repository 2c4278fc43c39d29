//! Numbers printed for people (reports, tables read by eye): a few significant
//! digits, no exponent in the everyday range. Machine-read tables keep their
//! own formats (TOMTOM's `%g`).

/// A number for people: 3 significant digits, no exponent between 0.001 and
/// 10⁶, else `1.8e-5`.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{x:.1e}");
        return s.replace(".0e", "e");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A number in a table read by eye but also sorted and compared by scripts:
/// `digits` significant digits, no exponent between 0.001 and 10⁶, else
/// `1.233e-4` (`digits` − 1 decimals).
pub fn sig(x: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        let d = digits - 1;
        return format!("{x:.d$e}");
    }
    let decimals = (digits as i32 - 1 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`, …
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn three_significant_digits_and_short_exponents() {
        assert_eq!(num(0.07775785), "0.0778");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.77281e-05), "1.8e-5");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(-3.0), "-3");
        assert_eq!(num(0.0093367), "0.00934");
        assert_eq!(num(2.0e7), "2e7");
    }
    #[test]
    fn table_numbers_keep_their_digits() {
        assert_eq!(sig(0.07775785, 4), "0.07776");
        assert_eq!(sig(-1.232821e-4, 4), "-1.233e-4");
        assert_eq!(sig(2529.615, 4), "2530");
        assert_eq!(sig(0.5, 4), "0.5");
        assert_eq!(sig(0.0, 4), "0");
    }
    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 102, 111]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "102nd",
                "111th"
            ]
        );
    }
}
