//! Email address lists as ARM stores them: one string, `;`-separated in the API docs, but
//! `,`-separated with spaces when people type them in the portal.
//!
//! Addresses compare trimmed and case-insensitively; we always write one `;`-joined string
//! without spaces. Order, case and separator differences alone are never drift.

use std::sync::LazyLock;

use regex::Regex;

use crate::crd::{EMAIL_PATTERN, limits::MAX_EMAIL_LEN};

static EMAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(EMAIL_PATTERN).expect("EMAIL_PATTERN is a valid regex"));

/// Whether `address` is accepted by the CRD schema (same pattern, same length bound).
pub fn is_valid(address: &str) -> bool {
    address.len() <= MAX_EMAIL_LEN && EMAIL_RE.is_match(address)
}

/// Splits an ARM `emails` value into trimmed, non-empty addresses, keeping their order and
/// dropping repeats (compared case-insensitively; the first spelling wins).
pub fn split(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for address in value
        .split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        if !contains(&out, address) {
            out.push(address.to_owned());
        }
    }
    out
}

/// The canonical ARM form: `;`-joined, no spaces.
pub fn join<S: AsRef<str>>(addresses: &[S]) -> String {
    addresses
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(";")
}

/// Case-insensitive membership.
pub fn contains<S: AsRef<str>>(list: &[S], address: &str) -> bool {
    list.iter()
        .any(|a| a.as_ref().eq_ignore_ascii_case(address))
}

/// The addresses of `wanted` that `present` lacks, in `wanted`'s order.
pub fn missing<'a, S: AsRef<str>>(present: &[S], wanted: &'a [String]) -> Vec<&'a str> {
    wanted
        .iter()
        .map(String::as_str)
        .filter(|w| !contains(present, w))
        .collect()
}

/// True when both lists hold the same addresses, ignoring order, case and repeats (the
/// property tests use it to state what Exact means).
#[cfg(test)]
pub fn same_set<A: AsRef<str>, B: AsRef<str>>(a: &[A], b: &[B]) -> bool {
    a.iter().all(|x| contains(b, x.as_ref())) && b.iter().all(|x| contains(a, x.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_both_separators_and_trims() {
        assert_eq!(
            split(" a@x.io , b@x.io;c@x.io ;; "),
            vec!["a@x.io", "b@x.io", "c@x.io"]
        );
        assert!(split("").is_empty());
        assert!(split(" ; , ").is_empty());
    }

    #[test]
    fn split_drops_case_insensitive_repeats_keeping_first_spelling() {
        assert_eq!(
            split("Jane@x.io;jane@X.io;bob@x.io"),
            vec!["Jane@x.io", "bob@x.io"]
        );
    }

    #[test]
    fn join_is_semicolon_without_spaces() {
        assert_eq!(join(&["a@x.io", "b@x.io"]), "a@x.io;b@x.io");
    }

    #[test]
    fn set_comparison_ignores_order_and_case() {
        assert!(same_set(&["A@x.io", "b@x.io"], &["b@X.IO", "a@x.io"]));
        assert!(!same_set(&["a@x.io"], &["a@x.io", "b@x.io"]));
    }

    #[test]
    fn missing_keeps_wanted_order() {
        let wanted = vec![
            "c@x.io".to_owned(),
            "a@x.io".to_owned(),
            "b@x.io".to_owned(),
        ];
        assert_eq!(missing(&["A@x.io"], &wanted), vec!["c@x.io", "b@x.io"]);
    }

    #[test]
    fn validity_follows_the_schema_pattern() {
        for ok in [
            "secops@contoso.com",
            "a.b+c@sub.example.org",
            "x@a-b.io",
            "o'neil@x.ie",
        ] {
            assert!(is_valid(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            "secops",
            "secops@contoso",
            "a@b@c.io",
            "Name <a@b.io>",
            "a b@c.io",
            "a@-x.io",
            "a@x-.io",
            "a@x..io",
            "a@x.io.",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(!is_valid(&long));
    }
}
