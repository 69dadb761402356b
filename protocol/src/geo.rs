//! US geography value types: [`State`] (the 50 states, DC and the five inhabited territories)
//! and [`Zip`] (a 5-digit ZIP code with an optional +4). Both are small `Copy` values that
//! parse from what people type and never allocate, so leads can carry them and buyer filters
//! can index by them cheaply (a set of states fits in a `u64` bitmask of [`State::index`]).

use std::fmt;

/// `(code, name)` per state, in index order. The order is part of the contract: indexes may be
/// stored (bitmasks, precomputed tables), so entries are only ever appended.
const TABLE: [(&str, &str); 56] = [
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("PR", "Puerto Rico"),
    ("VI", "Virgin Islands"),
    ("GU", "Guam"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands"),
];

// A set of states must fit in a `u64` bitmask.
const _: () = assert!(State::COUNT <= 64);

/// A US state, DC or territory, stored as its index into a fixed table (see [`State::index`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct State(u8);

impl State {
    /// Number of known states, DC and territories (56); every index is below this.
    pub const COUNT: usize = TABLE.len();

    /// Parses a two-letter code ("WA", "wa") or a full name ("Washington", "new  york"),
    /// ignoring ASCII case, surrounding whitespace and the width of inner whitespace runs.
    /// Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<State> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        TABLE
            .iter()
            .position(|&(code, name)| code.eq_ignore_ascii_case(s) || name_matches(name, s))
            .and_then(State::from_index)
    }

    /// The two-letter USPS code, e.g. "WA".
    pub fn code(self) -> &'static str {
        TABLE[self.index()].0
    }

    /// The full name, e.g. "Washington".
    pub fn name(self) -> &'static str {
        TABLE[self.index()].1
    }

    /// Stable index in `0..State::COUNT`, usable as a bit position or table row.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The state at `index`, or `None` when `index >= State::COUNT`.
    pub fn from_index(index: usize) -> Option<State> {
        u8::try_from(index).ok().filter(|_| index < Self::COUNT).map(State)
    }

    /// Every state, DC and territory, in index order.
    pub fn all() -> impl Iterator<Item = State> {
        (0..Self::COUNT).filter_map(State::from_index)
    }
}

/// Whether `input` (already trimmed) spells `name`, ignoring ASCII case and treating any run of
/// whitespace as the single space between words.
fn name_matches(name: &str, input: &str) -> bool {
    let mut want = name.split(' ');
    let mut got = input.split_whitespace();
    loop {
        match (want.next(), got.next()) {
            (Some(w), Some(g)) if w.eq_ignore_ascii_case(g) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A US ZIP code: five digits (never "00000") and an optional ZIP+4 extension.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Zip {
    zip5: u32,
    plus4: Option<u16>,
}

impl Zip {
    /// Parses "12345", "12345-6789" or "123456789" (surrounding whitespace ignored). Rejects
    /// "00000", signs, inner spaces, non-ASCII digits and any other length.
    pub fn parse(s: &str) -> Option<Zip> {
        let b = s.trim().as_bytes();
        let (five, four) = match b.len() {
            5 => (b, None),
            9 => (&b[..5], Some(&b[5..])),
            10 if b[5] == b'-' => (&b[..5], Some(&b[6..])),
            _ => return None,
        };
        let zip5 = parse_digits(five)?;
        if zip5 == 0 {
            return None;
        }
        let plus4 = match four {
            Some(four) => Some(u16::try_from(parse_digits(four)?).ok()?),
            None => None,
        };
        Some(Zip { zip5, plus4 })
    }

    /// The 5-digit ZIP as a number (1..=99999); leading zeros are not represented.
    pub fn zip5(self) -> u32 {
        self.zip5
    }

    /// The +4 extension (0..=9999), when one was given.
    pub fn plus4(self) -> Option<u16> {
        self.plus4
    }

    /// Writes the five ASCII digits, with leading zeros, into `out`.
    pub fn write5(self, out: &mut [u8; 5]) {
        let mut n = self.zip5;
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
}

impl fmt::Display for Zip {
    /// The 5-digit form with leading zeros, e.g. "02139" (the +4 is not printed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05}", self.zip5)
    }
}

/// The value of a short run of ASCII digits, or `None` if any byte is not one.
fn parse_digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_is_complete_and_unique() {
        assert_eq!(State::COUNT, 56);
        let mut mask = 0u64;
        for state in State::all() {
            mask |= 1u64 << state.index();
        }
        assert_eq!(mask.count_ones() as usize, State::COUNT);
        for (i, (code, name)) in TABLE.iter().enumerate() {
            assert_eq!(code.len(), 2);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(!name.contains("  ") && name.trim() == *name, "{name}");
            for (other_code, other_name) in &TABLE[i + 1..] {
                assert_ne!(code, other_code);
                assert_ne!(name, other_name);
            }
        }
    }

    #[test]
    fn every_index_round_trips() {
        for i in 0..State::COUNT {
            let state = State::from_index(i);
            let Some(state) = state else { panic!("index {i} has no state") };
            assert_eq!(state.index(), i);
            let code = state.code();
            let name = state.name();
            for spelling in [
                code.to_string(),
                code.to_ascii_lowercase(),
                name.to_string(),
                name.to_ascii_uppercase(),
                name.to_ascii_lowercase(),
                format!("  {}\t", name.replace(' ', " \t ")),
            ] {
                assert_eq!(State::parse(&spelling), Some(state), "{spelling:?}");
            }
        }
        assert_eq!(State::from_index(State::COUNT), None);
        assert_eq!(State::from_index(256), None);
        assert_eq!(State::from_index(usize::MAX), None);
        assert_eq!(State::all().count(), State::COUNT);
    }

    #[test]
    fn state_parse_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("WA", Some("WA")),
            ("wa", Some("WA")),
            (" wA \n", Some("WA")),
            ("washington", Some("WA")),
            ("WASHINGTON", Some("WA")),
            ("District of Columbia", Some("DC")),
            ("district   OF columbia", Some("DC")),
            ("new  york", Some("NY")),
            ("New\tYork", Some("NY")),
            ("Puerto Rico", Some("PR")),
            ("vi", Some("VI")),
            ("Virgin Islands", Some("VI")),
            ("guam", Some("GU")),
            ("American Samoa", Some("AS")),
            ("Northern Mariana Islands", Some("MP")),
            ("MA", Some("MA")),
            ("", None),
            ("   ", None),
            ("XX", None),
            ("W", None),
            ("WAS", None),
            ("W A", None),
            ("Washington DC", None),
            ("newyork", None),
            ("New York City", None),
            ("New", None),
            ("York", None),
            ("Ｗａ", None),
            ("Wáshington", None),
        ];
        for &(input, want) in cases {
            assert_eq!(State::parse(input).map(State::code), want, "{input:?}");
        }
    }

    #[test]
    fn zip_parse_table() {
        /// `(zip5, plus4)` when the input is a ZIP.
        type Parsed = Option<(u32, Option<u16>)>;
        let cases: &[(&str, Parsed)] = &[
            ("98004", Some((98004, None))),
            ("02139", Some((2139, None))),
            (" 00501 ", Some((501, None))),
            ("99999", Some((99999, None))),
            ("12345-6789", Some((12345, Some(6789)))),
            ("123456789", Some((12345, Some(6789)))),
            ("02139-0000", Some((2139, Some(0)))),
            ("00000", None),
            ("00000-1234", None),
            ("", None),
            ("1234", None),
            ("123456", None),
            ("1234567890", None),
            ("12345-678", None),
            ("12345-67890", None),
            ("12345 6789", None),
            ("12345+6789", None),
            ("+1234", None),
            ("-1234", None),
            ("12 45", None),
            ("1234a", None),
            ("abcde", None),
            ("１２３４５", None),
            ("1234٥", None),
        ];
        for &(input, want) in cases {
            assert_eq!(Zip::parse(input).map(|z| (z.zip5(), z.plus4())), want, "{input:?}");
        }
    }

    #[test]
    fn zip_formats_with_leading_zeros() {
        let Some(zip) = Zip::parse("02139-4307") else { panic!("valid zip rejected") };
        assert_eq!(zip.to_string(), "02139");
        let mut out = [0u8; 5];
        zip.write5(&mut out);
        assert_eq!(&out, b"02139");
        let Some(zip) = Zip::parse("00001") else { panic!("valid zip rejected") };
        zip.write5(&mut out);
        assert_eq!(&out, b"00001");
        assert_eq!(zip.to_string(), "00001");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = State::parse(&s);
            if let Some(zip) = Zip::parse(&s) {
                prop_assert!((1..=99_999).contains(&zip.zip5()));
                prop_assert!(zip.plus4().is_none_or(|p| p <= 9999));
                prop_assert_eq!(Zip::parse(&zip.to_string()).map(Zip::zip5), Some(zip.zip5()));
            }
        }

        #[test]
        fn zip_shaped_strings_round_trip(zip5 in 1u32..=99_999, plus4 in proptest::option::of(0u16..=9999)) {
            let text = match plus4 {
                Some(p) => format!("{zip5:05}-{p:04}"),
                None => format!("{zip5:05}"),
            };
            let parsed = Zip::parse(&text);
            prop_assert_eq!(parsed.map(|z| (z.zip5(), z.plus4())), Some((zip5, plus4)));
            let mut out = [0u8; 5];
            if let Some(z) = parsed {
                z.write5(&mut out);
                prop_assert_eq!(std::str::from_utf8(&out).ok(), Some(&text[..5]));
            }
        }

        #[test]
        fn state_parse_is_consistent(s in "[ \t]{0,2}[A-Za-z ]{1,26}[ \t]{0,2}") {
            if let Some(state) = State::parse(&s) {
                prop_assert_eq!(State::parse(state.code()), Some(state));
                prop_assert_eq!(State::parse(state.name()), Some(state));
            }
        }
    }
}
