//! Phone number validation for lead intake: accepts the formats people type and returns the
//! number in E.164 form ("+12065550100"), or says why it was refused.
//!
//! Numbers without a leading '+' must be North American Numbering Plan numbers (country code 1).
//! Numbers with a '+' and another country code are only checked for shape (E.164 length).

use std::fmt;

/// Inputs longer than this many bytes are refused before any other work.
const MAX_INPUT: usize = 64;
/// E.164 allows at most 15 digits, country code included.
const MAX_DIGITS: usize = 15;
/// Shortest international number accepted, country code included.
const MIN_INTL_DIGITS: usize = 8;

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing but whitespace and separators.
    Empty,
    /// A character other than digits, spaces, `-`, `.`, `(`, `)` and one leading `+`.
    InvalidCharacter,
    /// Too few or too many digits (or an overlong input).
    WrongLength,
    /// NANP area code starting with 0 or 1, of the form N11, or with middle digit 9.
    InvalidAreaCode,
    /// NANP exchange starting with 0 or 1, or of the form N11.
    InvalidExchange,
    /// A country code starting with 0, or 11 digits without '+' not starting with 1.
    InvalidCountryCode,
}

impl PhoneError {
    /// A short human sentence saying what is wrong.
    pub fn message(self) -> &'static str {
        match self {
            PhoneError::Empty => "phone number is empty",
            PhoneError::InvalidCharacter => {
                "phone number may contain only digits, spaces, '-', '.', '(', ')' and a leading '+'"
            }
            PhoneError::WrongLength => "phone number has the wrong number of digits",
            PhoneError::InvalidAreaCode => {
                "area code must start with 2-9, not be N11 and not have 9 as its middle digit"
            }
            PhoneError::InvalidExchange => "exchange must start with 2-9 and not be N11",
            PhoneError::InvalidCountryCode => {
                "country code is not valid; write numbers outside North America with a leading '+'"
            }
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PhoneError {}

/// Normalizes a phone number to E.164, e.g. "(206) 555-0100" -> "+12065550100".
///
/// Spaces, dashes, dots and parentheses are ignored; a '+' is allowed only as the first
/// character. Without '+' the number must be a valid NANP number (10 digits, or 11 starting
/// with 1). With "+1" it must be a valid NANP number too; with another country code it must have
/// 8 to 15 digits in all.
pub fn normalize_phone(input: &str) -> Result<String, PhoneError> {
    if input.len() > MAX_INPUT {
        return Err(PhoneError::WrongLength);
    }
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };

    let mut buf = [0u8; MAX_INPUT];
    let mut len = 0;
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => {
                buf[len] = b;
                len += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return Err(PhoneError::InvalidCharacter),
        }
    }
    let digits = &buf[..len];

    match (plus, digits) {
        (_, []) => Err(PhoneError::Empty),
        (_, [b'1', national @ ..]) if len == 11 => nanp(national),
        (true, [b'1', ..]) => Err(PhoneError::WrongLength),
        (true, [b'0', ..]) => Err(PhoneError::InvalidCountryCode),
        (true, _) if (MIN_INTL_DIGITS..=MAX_DIGITS).contains(&len) => Ok(e164(&[], digits)),
        (true, _) => Err(PhoneError::WrongLength),
        (false, _) if len == 10 => nanp(digits),
        (false, _) if len == 11 => Err(PhoneError::InvalidCountryCode),
        (false, _) => Err(PhoneError::WrongLength),
    }
}

/// Checks a 10-digit NANP national number (area code, exchange, line) and returns "+1...".
fn nanp(national: &[u8]) -> Result<String, PhoneError> {
    let &[a, b, c, d, e, f, _, _, _, _] = national else {
        return Err(PhoneError::WrongLength);
    };
    let n11 = |middle: u8, last: u8| middle == b'1' && last == b'1';
    if !(b'2'..=b'9').contains(&a) || b == b'9' || n11(b, c) {
        return Err(PhoneError::InvalidAreaCode);
    }
    if !(b'2'..=b'9').contains(&d) || n11(e, f) {
        return Err(PhoneError::InvalidExchange);
    }
    Ok(e164(b"1", national))
}

/// "+" followed by `country` and `rest` (all ASCII digits).
fn e164(country: &[u8], rest: &[u8]) -> String {
    let mut out = String::with_capacity(1 + country.len() + rest.len());
    out.push('+');
    out.extend(country.iter().chain(rest).map(|&b| char::from(b)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use PhoneError::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_formats() {
        let cases = [
            ("+12065550100", "+12065550100"),
            ("+1 (206) 555-0100", "+12065550100"),
            ("206-555-0100", "+12065550100"),
            ("206.555.0100", "+12065550100"),
            ("(206) 555 0100", "+12065550100"),
            ("12065550100", "+12065550100"),
            ("1-206-555-0100", "+12065550100"),
            ("  2065550100\n", "+12065550100"),
            ("+1.206.555.0199", "+12065550199"),
            ("416 555 0123", "+14165550123"),
            ("(800) 234-5678", "+18002345678"),
            ("989-999-9999", "+19899999999"),
            ("201-200-0000", "+12012000000"),
            ("+44 20 7946 0958", "+442079460958"),
            ("+49 (30) 901820", "+4930901820"),
            ("+61-2-9374-4000", "+61293744000"),
            ("+353 1 234 5678", "+35312345678"),
            ("+86 138 0013 8000", "+8613800138000"),
            ("+999 999 999 999 999", "+999999999999999"),
            ("+7 495 123 45 67", "+74951234567"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_phone(input).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn refused_inputs() {
        let long = "1".repeat(MAX_INPUT + 1);
        let long_spaces = format!("2065550100{}", " ".repeat(MAX_INPUT));
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("+", Empty),
            ("( ) - .", Empty),
            ("0", WrongLength),
            ("555-0100", WrongLength),
            ("206555010", WrongLength),
            ("206555010000", WrongLength),
            ("+1 206 555 010", WrongLength),
            ("+1 206 555 01000", WrongLength),
            ("+44 1234", WrongLength),
            ("+1234 5678", WrongLength),
            ("+1234567890123456", WrongLength),
            (long.as_str(), WrongLength),
            (long_spaces.as_str(), WrongLength),
            ("22065550100", InvalidCountryCode),
            ("+0 206 555 0100", InvalidCountryCode),
            ("+1 206 155 0100", InvalidExchange),
            ("+1 206 055 0100", InvalidExchange),
            ("206-911-0100", InvalidExchange),
            ("206-411-0100", InvalidExchange),
            ("+1 911 555 0100", InvalidAreaCode),
            ("211-555-0100", InvalidAreaCode),
            ("106-555-0100", InvalidAreaCode),
            ("006-555-0100", InvalidAreaCode),
            ("1-106-555-0100", InvalidAreaCode),
            ("296-555-0100", InvalidAreaCode),
            ("+1 (396) 555-0100", InvalidAreaCode),
            ("206-555-0100 x123", InvalidCharacter),
            ("206-555-0100x1", InvalidCharacter),
            ("206-555-0100#", InvalidCharacter),
            ("*67 206 555 0100", InvalidCharacter),
            ("++12065550100", InvalidCharacter),
            ("+1+2065550100", InvalidCharacter),
            ("1 +206 555 0100", InvalidCharacter),
            ("206/555/0100", InvalidCharacter),
            ("206\t555\t0100", InvalidCharacter),
            ("206-555-O100", InvalidCharacter),
            ("tel:+12065550100", InvalidCharacter),
            ("２０６５５５０１００", InvalidCharacter),
            ("206 555 0100\u{200b}", InvalidCharacter),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_phone(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn errors_have_messages() {
        let all = [Empty, InvalidCharacter, WrongLength, InvalidAreaCode, InvalidExchange, InvalidCountryCode];
        for error in all {
            assert!(!error.message().is_empty());
            assert_eq!(error.to_string(), error.message());
        }
        assert!(InvalidAreaCode.message().contains("N11"));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics_and_output_is_stable(s in any::<String>()) {
            if let Ok(out) = normalize_phone(&s) {
                prop_assert_eq!(normalize_phone(&out), Ok(out.clone()));
            }
        }

        #[test]
        fn phone_shaped_input_is_stable(s in r"\s?\+?[0-9 ().+-]{0,22}") {
            if let Ok(out) = normalize_phone(&s) {
                prop_assert!(out.starts_with('+'));
                prop_assert!(out.len() <= 1 + MAX_DIGITS);
                prop_assert!(out[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(normalize_phone(&out), Ok(out.clone()));
            }
        }

        #[test]
        fn valid_nanp_numbers_are_accepted(
            area in (2u32..=9, 0u32..=8, 0u32..=9).prop_filter("N11", |&(_, b, c)| !(b == 1 && c == 1)),
            exchange in (2u32..=9, 0u32..=9, 0u32..=9).prop_filter("N11", |&(_, b, c)| !(b == 1 && c == 1)),
            line in 0u32..=9999,
        ) {
            let area = area.0 * 100 + area.1 * 10 + area.2;
            let exchange = exchange.0 * 100 + exchange.1 * 10 + exchange.2;
            let want = format!("+1{area:03}{exchange:03}{line:04}");
            prop_assert_eq!(normalize_phone(&format!("({area:03}) {exchange:03}-{line:04}")), Ok(want.clone()));
            prop_assert_eq!(normalize_phone(&format!("1.{area:03}.{exchange:03}.{line:04}")), Ok(want));
        }
    }
}
