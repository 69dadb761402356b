//! Money as integer micro-units. The wire carries decimal strings (`"12.50"`); floating point
//! never touches a price once it is parsed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micro-units in one currency unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Largest magnitude accepted anywhere (a billion units): far above any real price, far below
/// `i64::MAX` micros, so sums of many prices cannot overflow.
const MAX_ABS_MICROS: i64 = 1_000_000_000 * MICROS_PER_UNIT;

/// An amount of money in integer micro-units (1.00 = 1,000,000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

/// Why a text or number is not an amount of money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Nothing to parse.
    #[error("is empty")]
    Empty,
    /// Not a plain decimal number (letters, exponents, NaN, several dots...).
    #[error("is not a decimal number")]
    NotANumber,
    /// More than six decimal places: below a micro-unit.
    #[error("has more than 6 decimal places")]
    TooPrecise,
    /// Out of the representable range.
    #[error("is out of range")]
    OutOfRange,
}

impl Micros {
    /// Zero.
    pub const ZERO: Micros = Micros(0);

    /// Whole units to micros (for constants and tests).
    pub const fn from_units(units: i64) -> Micros {
        Micros(units * MICROS_PER_UNIT)
    }

    /// Parses a plain decimal such as `12`, `12.5`, `-0.25`, `0.000001`.
    pub fn parse(text: &str) -> Result<Micros, MoneyError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if digits.is_empty() {
            return Err(if text.is_empty() { MoneyError::Empty } else { MoneyError::NotANumber });
        }
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
            return Err(MoneyError::NotANumber);
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise);
        }
        let mut value: i64 = 0;
        for b in whole.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
                .filter(|v| *v <= MAX_ABS_MICROS / MICROS_PER_UNIT)
                .ok_or(MoneyError::OutOfRange)?;
        }
        let mut micros = value * MICROS_PER_UNIT;
        let mut scale = MICROS_PER_UNIT / 10;
        for b in frac.bytes() {
            micros += i64::from(b - b'0') * scale;
            scale /= 10;
        }
        Ok(Micros(if negative { -micros } else { micros }))
    }

    /// Converts a JSON number. Rounds to the nearest micro; rejects NaN, infinities and
    /// magnitudes out of range.
    pub fn from_f64(value: f64) -> Result<Micros, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::NotANumber);
        }
        let micros = (value * MICROS_PER_UNIT as f64).round();
        if micros.abs() > MAX_ABS_MICROS as f64 {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Micros(micros as i64))
    }

    /// True when strictly above zero.
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Micros {
    /// At least two decimals, more only when needed: `12.50`, `0.05`, `1.234567`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let unit = MICROS_PER_UNIT as u64;
        let (whole, mut frac) = (abs / unit, abs % unit);
        let mut places = 6;
        while places > 2 && frac % 10 == 0 {
            frac /= 10;
            places -= 1;
        }
        write!(f, "{sign}{whole}.{frac:0places$}")
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Micros {
    /// Money in configuration and requests is a decimal string (`"12.50"`), never a float.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Decimal;
        impl serde::de::Visitor<'_> for Decimal {
            type Value = Micros;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("money as a decimal string like \"12.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Micros, E> {
                Micros::parse(text).map_err(|e| {
                    E::custom(format_args!("money \"{text}\" {e} (expected a decimal string like \"12.50\")"))
                })
            }
        }
        deserializer.deserialize_str(Decimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_decimals() {
        for (text, micros, shown) in [
            ("12.50", 12_500_000, "12.50"),
            ("12", 12_000_000, "12.00"),
            ("0.000001", 1, "0.000001"),
            ("-0.25", -250_000, "-0.25"),
            ("1.234567", 1_234_567, "1.234567"),
            (".5", 500_000, "0.50"),
            ("7.", 7_000_000, "7.00"),
        ] {
            let parsed = Micros::parse(text).unwrap_or_default();
            assert_eq!(parsed, Micros(micros), "{text}");
            assert_eq!(parsed.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_money() {
        for text in ["", "abc", "NaN", "1e3", "1.2.3", "--1", ".", "1,5", "inf", " - "] {
            assert!(Micros::parse(text).is_err(), "{text}");
        }
        assert_eq!(Micros::parse("1.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Micros::parse("99999999999999999999"), Err(MoneyError::OutOfRange));
        assert_eq!(Micros::from_f64(f64::NAN), Err(MoneyError::NotANumber));
        assert_eq!(Micros::from_f64(1e300), Err(MoneyError::OutOfRange));
        assert_eq!(Micros::from_f64(12.5), Ok(Micros(12_500_000)));
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(micros in -MAX_ABS_MICROS..MAX_ABS_MICROS) {
            let shown = Micros(micros).to_string();
            proptest::prop_assert_eq!(Micros::parse(&shown), Ok(Micros(micros)));
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = Micros::parse(&text);
        }
    }
}
