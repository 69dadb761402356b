//! Encoding a mapped message: the fields' target names (`to`), the tree they make (dots nest in
//! JSON and XML), and the three encodings. XML text is escaped and stripped of the characters
//! XML 1.0 cannot carry; form values are percent-encoded.

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::source::Scalar;
use crate::config::Encoding;

/// Where a field goes in the body: its path of names (one name in a form body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(Box<[Box<str>]>);

impl Target {
    /// Parses a `to` name for `encoding`.
    pub fn parse(to: &str, encoding: Encoding) -> Result<Target, String> {
        if encoding == Encoding::Form {
            if to.is_empty() {
                return Err("a form field name cannot be empty".into());
            }
            return Ok(Target(Box::new([to.into()])));
        }
        let segments: Box<[Box<str>]> = to.split('.').map(Into::into).collect();
        for segment in &segments {
            if segment.is_empty() {
                return Err(format!("`{to}` has an empty name between dots"));
            }
            if encoding == Encoding::Xml && !is_xml_name(segment) {
                return Err(format!(
                    "`{segment}` is not an XML element name (a letter or `_`, then letters, digits, `_`, `-`)"
                ));
            }
        }
        Ok(Target(segments))
    }

    /// True when one target would overwrite the other, or put a value where the other needs
    /// an element (`a.b` and `a`), or when they are the same.
    pub fn clashes_with(&self, other: &Target) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a == b)
    }
}

/// Whether `name` can be an XML element name (the ASCII subset, which legacy buyers use).
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A message being built: named values, nested by target path, in config order.
#[derive(Debug, Default)]
pub struct Tree<'a>(Vec<(&'a str, Node<'a>)>);

#[derive(Debug)]
enum Node<'a> {
    Leaf(Scalar<'a>),
    Branch(Tree<'a>),
}

impl<'a> Tree<'a> {
    /// Puts `value` at `target`. Targets were checked not to clash, so a name is a leaf or a
    /// branch, never both.
    pub fn insert(&mut self, target: &'a Target, value: Scalar<'a>) {
        let Some((last, parents)) = target.0.split_last() else {
            return;
        };
        let mut tree = self;
        for name in parents {
            let at = match tree.0.iter().position(|(n, node)| *n == &**name && matches!(node, Node::Branch(_))) {
                Some(at) => at,
                None => {
                    tree.0.push((name, Node::Branch(Tree::default())));
                    tree.0.len() - 1
                }
            };
            let Node::Branch(next) = &mut tree.0[at].1 else {
                return;
            };
            tree = next;
        }
        tree.0.push((last, Node::Leaf(value)));
    }

    /// The body in `encoding`; `xml_root` names the XML document's root element.
    pub fn encode(&self, encoding: Encoding, xml_root: &str) -> Bytes {
        match encoding {
            // Plain maps of strings, numbers and flags: serializing into a Vec cannot fail.
            Encoding::Json => serde_json::to_vec(self).unwrap_or_default().into(),
            Encoding::Xml => {
                let mut out = String::with_capacity(256);
                out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
                xml_element(&mut out, xml_root, |out| self.write_xml(out));
                out.into()
            }
            Encoding::Form => {
                let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
                self.write_form(&mut form);
                form.finish().into()
            }
        }
    }

    fn write_xml(&self, out: &mut String) {
        for (name, node) in &self.0 {
            xml_element(out, name, |out| match node {
                Node::Leaf(value) => xml_text(out, &value.text()),
                Node::Branch(tree) => tree.write_xml(out),
            });
        }
    }

    /// Form bodies are flat: a nested tree (not built for forms) would be written leaf by leaf.
    fn write_form(&self, form: &mut form_urlencoded::Serializer<'_, String>) {
        for (name, node) in &self.0 {
            match node {
                Node::Leaf(value) => {
                    form.append_pair(name, &value.text());
                }
                Node::Branch(tree) => tree.write_form(form),
            }
        }
    }
}

fn xml_element(out: &mut String, name: &str, content: impl FnOnce(&mut String)) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    content(out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escaped text, without the control characters XML 1.0 forbids even as references.
fn xml_text(out: &mut String, text: &str) {
    let allowed = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    if text.chars().all(allowed) {
        out.push_str(&quick_xml::escape::escape(text));
    } else {
        let clean: String = text.chars().filter(|&c| allowed(c)).collect();
        out.push_str(&quick_xml::escape::escape(clean.as_str()));
    }
}

impl Serialize for Tree<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, node) in &self.0 {
            match node {
                Node::Leaf(Scalar::Text(text)) => map.serialize_entry(name, text)?,
                Node::Leaf(Scalar::Number(number)) => map.serialize_entry(name, number)?,
                Node::Leaf(Scalar::Bool(flag)) => map.serialize_entry(name, flag)?,
                Node::Branch(tree) => map.serialize_entry(name, tree)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn targets(encoding: Encoding, names: &[&str]) -> Vec<Target> {
        names.iter().map(|n| Target::parse(n, encoding).expect("target")).collect()
    }

    fn body(encoding: Encoding, names: &[&str], values: &[Scalar<'static>]) -> String {
        let targets = targets(encoding, names);
        let mut tree = Tree::default();
        for (target, value) in targets.iter().zip(values) {
            tree.insert(target, value.clone());
        }
        String::from_utf8(tree.encode(encoding, "lead").to_vec()).expect("utf-8")
    }

    fn text(s: &'static str) -> Scalar<'static> {
        Scalar::Text(Cow::Borrowed(s))
    }

    #[test]
    fn json_nests_and_keeps_types_and_order() {
        let values = [text("98004"), Scalar::Number(42.into()), text("206-555-0100"), Scalar::Bool(true)];
        assert_eq!(
            body(Encoding::Json, &["zip", "applicant.age", "applicant.phone", "test"], &values),
            r#"{"zip":"98004","applicant":{"age":42,"phone":"206-555-0100"},"test":true}"#
        );
    }

    #[test]
    fn xml_nests_and_escapes() {
        let values = [text("a<b & \"c\"\u{0}"), text("206-555-0100"), Scalar::Number(7.into())];
        assert_eq!(
            body(Encoding::Xml, &["Note", "Applicant.Phone", "Applicant.Age"], &values),
            r#"<?xml version="1.0" encoding="UTF-8"?><lead><Note>a&lt;b &amp; &quot;c&quot;</Note><Applicant><Phone>206-555-0100</Phone><Age>7</Age></Applicant></lead>"#
        );
    }

    #[test]
    fn form_percent_encodes_and_keeps_dotted_names() {
        let values = [text("New York"), text("a&b=c"), Scalar::Bool(false)];
        assert_eq!(body(Encoding::Form, &["State", "x.y", "Test"], &values), "State=New+York&x.y=a%26b%3Dc&Test=false");
    }

    #[test]
    fn targets_are_checked() {
        assert!(Target::parse("Phone Number", Encoding::Xml).is_err());
        assert!(Target::parse("1st", Encoding::Xml).is_err());
        assert!(Target::parse("a..b", Encoding::Json).is_err());
        assert!(Target::parse("", Encoding::Form).is_err());
        let t = targets(Encoding::Json, &["a.b", "a", "a.c", "a.b"]);
        assert!(t[0].clashes_with(&t[1]) && t[1].clashes_with(&t[0]) && t[0].clashes_with(&t[3]));
        assert!(!t[0].clashes_with(&t[2]));
    }
}
