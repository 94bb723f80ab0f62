//! The one string matcher of policy rules and alarm routing: whole-value globs and whole-field selectors.
//!
//! There are no prefix or substring matches anywhere in the gateway's decisions; a `*` in a glob is the only
//! wildcard. Pure: no SDK, no serde.

use std::fmt;

/// A glob over a whole value: `*` matches any run of characters (including none), everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// Builds a glob; the pattern must be non-empty printable ASCII.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() || !pattern.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("pattern {pattern:?} must be non-empty printable ASCII"));
        }
        Ok(Glob(pattern.to_owned()))
    }

    /// Whether the whole of `value` matches. Linear-time greedy matching with single-star backtracking, so a
    /// hostile value cannot make evaluation slow.
    pub fn matches(&self, value: &str) -> bool {
        let (p, v) = (self.0.as_bytes(), value.as_bytes());
        let (mut pi, mut vi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while vi < v.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, vi));
                pi += 1;
            } else if pi < p.len() && p[pi] == v[vi] {
                pi += 1;
                vi += 1;
            } else if let Some((sp, sv)) = star {
                pi = sp + 1;
                vi = sv + 1;
                star = Some((sp, sv + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }

    /// The pattern.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole-field selector: an explicit `*`, or exact values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `*`: any value.
    Any,
    /// One of these exact values.
    OneOf(Vec<String>),
}

impl Field {
    /// Whether `value` is selected.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Field::Any => true,
            Field::OneOf(values) => values.iter().any(|v| v == value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_values() {
        let table = [
            ("*", "", true),
            ("*", "anything", true),
            ("orders-*", "orders-", true),
            ("orders-*", "orders-api", true),
            ("orders-*", "xorders-api", false),
            ("orders", "orders-api", false),
            ("*-api", "orders-api", true),
            ("*-api", "orders-api-2", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("a*a*a*a*b", &"a".repeat(200), false),
        ];
        for (pattern, value, expected) in table {
            assert_eq!(Glob::new(pattern).unwrap().matches(value), expected, "{pattern} vs {value}");
        }
    }
}
