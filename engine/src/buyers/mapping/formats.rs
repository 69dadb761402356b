//! Value formats: how a legacy buyer wants a value written (phone styles, dates, state code or
//! name, booleans, case). A value a format cannot read (a phone that is not ten US digits, a
//! date that is not RFC 3339) is sent unchanged rather than dropped or invented.

use std::borrow::Cow;
use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate};

use super::source::Scalar;
use crate::protocol::geo::State;

/// A value format, parsed from its config name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A US phone number in one of the usual styles.
    Phone(PhoneStyle),
    /// A state as its two-letter code (`WA`).
    StateCode,
    /// A state as its name (`Washington`).
    StateName,
    /// A flag in one of the usual spellings.
    Bool(BoolStyle),
    /// An RFC 3339 timestamp or a `YYYY-MM-DD` date, rewritten with a strftime pattern.
    Date(Box<str>),
    /// Upper case.
    Upper,
    /// Lower case.
    Lower,
}

/// Phone styles, for ten-digit US numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneStyle {
    /// `+12065550100`.
    E164,
    /// `2065550100`.
    Digits,
    /// `206-555-0100`.
    Dashes,
    /// `206.555.0100`.
    Dots,
    /// `(206) 555-0100`.
    Paren,
}

/// Flag spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolStyle {
    /// `true` / `false` (a JSON boolean in JSON bodies).
    TrueFalse,
    /// `1` / `0` (a JSON number in JSON bodies).
    OneZero,
    /// `Y` / `N`.
    YN,
    /// `Yes` / `No`.
    YesNo,
}

/// Every format name, for error messages and docs.
pub const FORMAT_NAMES: &str = "phone_e164, phone_digits, phone_dashes, phone_dots, phone_paren, state_code, \
                                state_name, true_false, 1_0, y_n, yes_no, upper, lower, date:<strftime pattern>";

impl Format {
    /// Parses a format name (`phone_dashes`, `date:%m/%d/%Y`, ...).
    pub fn parse(name: &str) -> Result<Format, String> {
        if let Some(pattern) = name.strip_prefix("date:") {
            let bad = StrftimeItems::new(pattern).any(|item| matches!(item, Item::Error));
            if pattern.is_empty() || bad {
                return Err(format!("`{pattern}` is not a strftime pattern (e.g. `date:%m/%d/%Y`)"));
            }
            return Ok(Format::Date(pattern.into()));
        }
        Ok(match name {
            "phone_e164" => Format::Phone(PhoneStyle::E164),
            "phone_digits" => Format::Phone(PhoneStyle::Digits),
            "phone_dashes" => Format::Phone(PhoneStyle::Dashes),
            "phone_dots" => Format::Phone(PhoneStyle::Dots),
            "phone_paren" => Format::Phone(PhoneStyle::Paren),
            "state_code" => Format::StateCode,
            "state_name" => Format::StateName,
            "true_false" => Format::Bool(BoolStyle::TrueFalse),
            "1_0" => Format::Bool(BoolStyle::OneZero),
            "y_n" => Format::Bool(BoolStyle::YN),
            "yes_no" => Format::Bool(BoolStyle::YesNo),
            "upper" => Format::Upper,
            "lower" => Format::Lower,
            _ => return Err(format!("unknown format `{name}` (known: {FORMAT_NAMES})")),
        })
    }

    /// Writes `value` in this format, or returns it unchanged if the format cannot read it.
    pub fn apply<'a>(&self, value: Scalar<'a>) -> Scalar<'a> {
        let formatted = match (self, &value) {
            (Format::Bool(style), _) => flag(&value).map(|f| style.write(f)),
            (_, Scalar::Text(text)) => match self {
                Format::Phone(style) => phone(text, *style).map(text_scalar),
                Format::StateCode => State::parse(text.trim()).map(|s| text_scalar(s.code().to_owned())),
                Format::StateName => State::parse(text.trim()).map(|s| text_scalar(s.name().to_owned())),
                Format::Date(pattern) => date(text, pattern).map(text_scalar),
                Format::Upper => Some(text_scalar(text.to_uppercase())),
                Format::Lower => Some(text_scalar(text.to_lowercase())),
                Format::Bool(_) => None,
            },
            _ => None,
        };
        formatted.unwrap_or(value)
    }
}

fn text_scalar<'a>(text: String) -> Scalar<'a> {
    Scalar::Text(Cow::Owned(text))
}

impl BoolStyle {
    fn write<'a>(self, flag: bool) -> Scalar<'a> {
        let text = |yes: &'static str, no: &'static str| Scalar::Text(Cow::Borrowed(if flag { yes } else { no }));
        match self {
            BoolStyle::TrueFalse => Scalar::Bool(flag),
            BoolStyle::OneZero => Scalar::Number(u8::from(flag).into()),
            BoolStyle::YN => text("Y", "N"),
            BoolStyle::YesNo => text("Yes", "No"),
        }
    }
}

/// Reads a flag from a boolean, `0`/`1`, or the usual spellings.
fn flag(value: &Scalar<'_>) -> Option<bool> {
    match value {
        Scalar::Bool(flag) => Some(*flag),
        Scalar::Number(n) => n.as_f64().map(|n| n != 0.0),
        Scalar::Text(text) => {
            let text = text.trim();
            let any = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(text));
            if any(&["true", "1", "y", "yes"]) {
                Some(true)
            } else if any(&["false", "0", "n", "no"]) {
                Some(false)
            } else {
                None
            }
        }
    }
}

/// A US number (`+1` and ten digits, or ten digits) in `style`.
fn phone(text: &str, style: PhoneStyle) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        _ => return None,
    };
    let (area, exchange, line) = (&digits[..3], &digits[3..6], &digits[6..]);
    Some(match style {
        PhoneStyle::E164 => format!("+1{digits}"),
        PhoneStyle::Digits => digits.to_owned(),
        PhoneStyle::Dashes => format!("{area}-{exchange}-{line}"),
        PhoneStyle::Dots => format!("{area}.{exchange}.{line}"),
        PhoneStyle::Paren => format!("({area}) {exchange}-{line}"),
    })
}

/// An RFC 3339 timestamp (kept in its own offset) or a plain date, in `pattern`.
fn date(text: &str, pattern: &str) -> Option<String> {
    let text = text.trim();
    let mut out = String::new();
    let written = match DateTime::parse_from_rfc3339(text) {
        Ok(at) => write!(out, "{}", at.format(pattern)),
        Err(_) => write!(out, "{}", NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.format(pattern)),
    };
    // A pattern asking for a time of a plain date cannot be written: the value goes unchanged.
    written.ok().map(|()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(format: &str, value: Scalar<'static>) -> Scalar<'static> {
        Format::parse(format).expect("format").apply(value)
    }

    fn text(s: &'static str) -> Scalar<'static> {
        Scalar::Text(Cow::Borrowed(s))
    }

    #[test]
    fn phones_in_every_style() {
        for (format, want) in [
            ("phone_e164", "+12065550100"),
            ("phone_digits", "2065550100"),
            ("phone_dashes", "206-555-0100"),
            ("phone_dots", "206.555.0100"),
            ("phone_paren", "(206) 555-0100"),
        ] {
            assert_eq!(apply(format, text("+12065550100")), text(want), "{format}");
            assert_eq!(apply(format, text("(206) 555-0100")), text(want), "{format}");
        }
        assert_eq!(apply("phone_dashes", text("+442071234567")), text("+442071234567"), "not US: unchanged");
    }

    #[test]
    fn states_dates_case() {
        assert_eq!(apply("state_name", text("WA")), text("Washington"));
        assert_eq!(apply("state_code", text("new york")), text("NY"));
        assert_eq!(apply("state_name", text("Atlantis")), text("Atlantis"));
        assert_eq!(apply("date:%m/%d/%Y", text("2026-11-23T12:00:00Z")), text("11/23/2026"));
        assert_eq!(apply("date:%Y%m%d %H:%M", text("2026-11-23T12:05:00-08:00")), text("20261123 12:05"));
        assert_eq!(apply("date:%d.%m.%Y", text("2026-01-02")), text("02.01.2026"));
        assert_eq!(apply("date:%H:%M", text("2026-01-02")), text("2026-01-02"), "no time in a date");
        assert_eq!(apply("date:%Y", text("yesterday")), text("yesterday"));
        assert_eq!(apply("upper", text("good")), text("GOOD"));
        assert_eq!(apply("lower", text("GOOD")), text("good"));
    }

    #[test]
    fn booleans_in_every_spelling() {
        assert_eq!(apply("true_false", text("yes")), Scalar::Bool(true));
        assert_eq!(apply("1_0", Scalar::Bool(false)), Scalar::Number(0.into()));
        assert_eq!(apply("y_n", Scalar::Bool(true)), text("Y"));
        assert_eq!(apply("yes_no", Scalar::Number(0.into())), text("No"));
        assert_eq!(apply("yes_no", text("maybe")), text("maybe"));
    }

    #[test]
    fn bad_names_and_patterns_are_refused() {
        assert!(Format::parse("phone_fancy").is_err_and(|e| e.contains("unknown format")));
        assert!(Format::parse("date:%Q").is_err());
        assert!(Format::parse("date:").is_err());
    }
}
