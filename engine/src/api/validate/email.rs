//! Email address validation for lead intake: a strict, ASCII-only subset of RFC 5321/5322
//! addresses (dot-atom local part, host-name domain), normalized by lowercasing the domain.
//! Quoted local parts, IP-literal domains and internationalized (non-ASCII) addresses are refused.

use std::fmt;

/// Longest accepted address, in bytes (RFC 5321 path limit less the angle brackets).
const MAX_TOTAL: usize = 254;
/// Longest accepted local part, in bytes.
const MAX_LOCAL: usize = 64;
/// Longest accepted domain label, in bytes.
const MAX_LABEL: usize = 63;
/// Characters allowed in the local part besides ASCII letters and digits.
const LOCAL_SPECIALS: &[u8] = b"!#$%&'*+/=?^_`{|}~.-";

/// Why an email address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    /// Nothing but whitespace.
    Empty,
    /// Longer than 254 bytes.
    TooLong,
    /// No '@'.
    MissingAt,
    /// The part before the '@' is empty, too long, or has a character or dot it may not.
    InvalidLocalPart,
    /// The part after the '@' is not a host name with a top-level domain.
    InvalidDomain,
}

impl EmailError {
    /// A short human sentence saying what is wrong.
    pub fn message(self) -> &'static str {
        match self {
            EmailError::Empty => "email address is empty",
            EmailError::TooLong => "email address is longer than 254 characters",
            EmailError::MissingAt => "email address must contain '@'",
            EmailError::InvalidLocalPart => {
                "the part before '@' must be 1-64 letters, digits or !#$%&'*+/=?^_`{|}~.- \
                 with no leading, trailing or double dot"
            }
            EmailError::InvalidDomain => "the part after '@' must be a domain name such as example.com",
        }
    }
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EmailError {}

/// Validates an email address and returns it with surrounding whitespace removed and the domain
/// lowercased; the local part keeps its case ("Jane.Doe+tag@Example.COM" ->
/// "Jane.Doe+tag@example.com").
pub fn normalize_email(input: &str) -> Result<String, EmailError> {
    let address = input.trim();
    if address.is_empty() {
        return Err(EmailError::Empty);
    }
    if address.len() > MAX_TOTAL {
        return Err(EmailError::TooLong);
    }
    let (local, domain) = address.split_once('@').ok_or(EmailError::MissingAt)?;
    if !valid_local(local) {
        return Err(EmailError::InvalidLocalPart);
    }
    if !valid_domain(domain) {
        return Err(EmailError::InvalidDomain);
    }
    let mut out = String::with_capacity(address.len());
    out.push_str(local);
    out.push('@');
    out.extend(domain.chars().map(|c| c.to_ascii_lowercase()));
    Ok(out)
}

/// A dot-atom: 1..=64 allowed characters, dots only between non-empty runs.
fn valid_local(local: &str) -> bool {
    (1..=MAX_LOCAL).contains(&local.len())
        && local.split('.').all(|atom| !atom.is_empty())
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(&b))
}

/// At least two labels of 1..=63 letters, digits and inner hyphens; the last (the top-level
/// domain) is at least two characters and starts with a letter, so it is never all digits.
fn valid_domain(domain: &str) -> bool {
    let Some((rest, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    rest.split('.').all(valid_label)
        && valid_label(tld)
        && tld.len() >= 2
        && tld.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
}

/// One host-name label: 1..=63 ASCII letters, digits or hyphens, not starting or ending with '-'.
fn valid_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmailError::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_addresses() {
        let local64 = format!("{}@example.com", "a".repeat(64));
        let label63 = format!("x@{}.com", "d".repeat(63));
        let total254 = format!("x@{}.{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(56));
        assert_eq!(total254.len(), MAX_TOTAL);
        let cases = [
            ("jane@example.com", "jane@example.com"),
            ("Jane.Doe+tag@Example.COM", "Jane.Doe+tag@example.com"),
            ("  x@y.io \n", "x@y.io"),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("user_name-1@sub.Example.co.UK", "user_name-1@sub.example.co.uk"),
            ("a!#$%&'*+/=?^_`{|}~-@example.com", "a!#$%&'*+/=?^_`{|}~-@example.com"),
            ("1@123.com", "1@123.com"),
            ("a@b-c.d-e.org", "a@b-c.d-e.org"),
            ("a@b.c2", "a@b.c2"),
            ("x@xn--80ak6aa92e.com", "x@xn--80ak6aa92e.com"),
            ("x@example.xn--p1ai", "x@example.xn--p1ai"),
            (local64.as_str(), local64.as_str()),
            (label63.as_str(), label63.as_str()),
            (total254.as_str(), total254.as_str()),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_email(input).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn refused_addresses() {
        let local65 = format!("{}@example.com", "a".repeat(65));
        let label64 = format!("x@{}.com", "d".repeat(64));
        let total255 = format!("x@{}.{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(57));
        let cases = [
            ("", Empty),
            (" \t\n", Empty),
            (total255.as_str(), TooLong),
            ("jane.example.com", MissingAt),
            ("jane", MissingAt),
            ("@example.com", InvalidLocalPart),
            (".jane@example.com", InvalidLocalPart),
            ("jane.@example.com", InvalidLocalPart),
            ("ja..ne@example.com", InvalidLocalPart),
            ("\"jane doe\"@example.com", InvalidLocalPart),
            ("jane doe@example.com", InvalidLocalPart),
            ("ja(ne)@example.com", InvalidLocalPart),
            ("ja,ne@example.com", InvalidLocalPart),
            ("jané@example.com", InvalidLocalPart),
            (local65.as_str(), InvalidLocalPart),
            ("a@", InvalidDomain),
            ("a@b", InvalidDomain),
            ("a@@b.com", InvalidDomain),
            ("a@b@c.com", InvalidDomain),
            ("a@b..com", InvalidDomain),
            ("a@.b.com", InvalidDomain),
            ("a@b.com.", InvalidDomain),
            ("a@-b.com", InvalidDomain),
            ("a@b-.com", InvalidDomain),
            ("a@b.-com", InvalidDomain),
            ("a@b.c", InvalidDomain),
            ("a@b.123", InvalidDomain),
            ("a@b.1a", InvalidDomain),
            ("a@1.2.3.4", InvalidDomain),
            ("a@[127.0.0.1]", InvalidDomain),
            ("a@b_c.com", InvalidDomain),
            ("a@exämple.com", InvalidDomain),
            ("a@example .com", InvalidDomain),
            ("a@example.com\u{200b}", InvalidDomain),
            (label64.as_str(), InvalidDomain),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_email(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn errors_have_messages() {
        for error in [Empty, TooLong, MissingAt, InvalidLocalPart, InvalidDomain] {
            assert!(!error.message().is_empty());
            assert_eq!(error.to_string(), error.message());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics_and_output_is_stable(s in any::<String>()) {
            if let Ok(out) = normalize_email(&s) {
                prop_assert_eq!(normalize_email(&out), Ok(out.clone()));
            }
        }

        #[test]
        fn email_shaped_input_is_stable(s in r"\s?[a-zA-Z0-9.+_'é -]{0,12}@{0,2}[a-zA-Z0-9._-]{0,20}\s?") {
            if let Ok(out) = normalize_email(&s) {
                prop_assert!(out.is_ascii() && !out.contains(char::is_whitespace));
                prop_assert_eq!(normalize_email(&out), Ok(out.clone()));
            }
        }

        #[test]
        fn well_formed_addresses_are_accepted(
            local in r"[a-zA-Z0-9+_]{1,10}(\.[a-zA-Z0-9+_-]{1,10}){0,2}",
            domain in r"([a-zA-Z0-9]{1,10}\.){1,3}[a-zA-Z]{2,6}",
        ) {
            let want = format!("{local}@{}", domain.to_ascii_lowercase());
            prop_assert_eq!(normalize_email(&format!("{local}@{domain}")), Ok(want));
        }
    }
}
