//! The filter bar's small expression language.
//!
//! An expression is a list of terms separated by spaces; a row must match every term.
//! - `word` — free text, case-insensitive, in method, host, path, origin and reason;
//! - `host:api.example` `origin:localhost` `method:PUT` — case-insensitive substring
//!   (method matches exactly, since `patch` and `PATCH` are different methods);
//! - `status:404`, `status:4xx`, `status:>=400`, `status:<300` — status code;
//! - `verdict:blocked` (`allowed`, `pending`, `not-cors`, `unknown`, `failed`) and
//!   `stage:preflight` (`actual`, `redirect`);
//! - `-term` negates a term; `"quoted text"` keeps spaces.

use super::model::{contains_ci, Badge, Row};

/// A parse failure, shown under the filter bar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown filter key `{0}:` (use host: origin: method: status: verdict: stage:)")]
    UnknownKey(String),
    #[error("bad status `{0}` (use 404, 4xx, >=400 or <300)")]
    BadStatus(String),
    #[error("unknown verdict `{0}` (allowed, blocked, pending, not-cors, unknown, failed)")]
    BadVerdict(String),
    #[error("unterminated quote")]
    UnterminatedQuote,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StatusMatch {
    Exact(u16),
    Class(u16),
    AtLeast(u16),
    AtMost(u16),
    Above(u16),
    Below(u16),
}

impl StatusMatch {
    fn matches(&self, status: u16) -> bool {
        match *self {
            StatusMatch::Exact(s) => status == s,
            StatusMatch::Class(c) => status / 100 == c,
            StatusMatch::AtLeast(s) => status >= s,
            StatusMatch::AtMost(s) => status <= s,
            StatusMatch::Above(s) => status > s,
            StatusMatch::Below(s) => status < s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Predicate {
    Text(String),
    Host(String),
    Origin(String),
    Method(String),
    Status(StatusMatch),
    Verdict(Badge),
    Stage(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    negated: bool,
    predicate: Predicate,
}

/// A parsed filter expression. The empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
    source: String,
}

impl Filter {
    /// Parse `expr`.
    pub fn parse(expr: &str) -> Result<Self, FilterError> {
        let terms = split_terms(expr)?
            .into_iter()
            .map(|raw| parse_term(&raw))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            terms,
            source: expr.trim().to_owned(),
        })
    }

    /// True when the filter has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The expression as typed (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Does `row` pass every term?
    pub fn matches(&self, row: &Row) -> bool {
        self.terms
            .iter()
            .all(|t| predicate_matches(&t.predicate, row) != t.negated)
    }
}

fn predicate_matches(p: &Predicate, row: &Row) -> bool {
    match p {
        Predicate::Text(t) => row.haystack_contains(t),
        Predicate::Host(h) => contains_ci(&row.host, h),
        Predicate::Origin(o) => row.origin.as_deref().is_some_and(|v| contains_ci(v, o)),
        Predicate::Method(m) => row.method == *m,
        Predicate::Status(s) => row.status.is_some_and(|st| s.matches(st)),
        Predicate::Verdict(b) => row.badge == *b,
        Predicate::Stage(s) => row.stage.is_some_and(|st| st.eq_ignore_ascii_case(s)),
    }
}

/// Split on whitespace, keeping `"quoted parts"` together (quotes removed).
fn split_terms(expr: &str) -> Result<Vec<String>, FilterError> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    for c in expr.chars() {
        match c {
            '"' => in_quote = !in_quote,
            c if c.is_whitespace() && !in_quote => {
                if !cur.is_empty() {
                    terms.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_quote {
        return Err(FilterError::UnterminatedQuote);
    }
    if !cur.is_empty() {
        terms.push(cur);
    }
    Ok(terms)
}

fn parse_term(raw: &str) -> Result<Term, FilterError> {
    let (negated, body) = match raw.strip_prefix('-') {
        Some(rest) if !rest.is_empty() => (true, rest),
        _ => (false, raw),
    };
    let predicate = match body.split_once(':') {
        // `http://…` typed as free text is a URL, not a key.
        Some((key, value)) if !value.starts_with("//") => parse_keyed(key, value)?,
        _ => Predicate::Text(body.to_lowercase()),
    };
    Ok(Term { negated, predicate })
}

fn parse_keyed(key: &str, value: &str) -> Result<Predicate, FilterError> {
    Ok(match key.to_ascii_lowercase().as_str() {
        "host" => Predicate::Host(value.to_lowercase()),
        "origin" => Predicate::Origin(value.to_lowercase()),
        "method" => Predicate::Method(value.to_owned()),
        "status" => Predicate::Status(parse_status(value)?),
        "verdict" | "is" => Predicate::Verdict(parse_verdict(value)?),
        "stage" => Predicate::Stage(value.to_owned()),
        other => return Err(FilterError::UnknownKey(other.to_owned())),
    })
}

fn parse_status(v: &str) -> Result<StatusMatch, FilterError> {
    let bad = || FilterError::BadStatus(v.to_owned());
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
    if let Some(rest) = v.strip_prefix(">=") {
        return Ok(StatusMatch::AtLeast(num(rest)?));
    }
    if let Some(rest) = v.strip_prefix("<=") {
        return Ok(StatusMatch::AtMost(num(rest)?));
    }
    if let Some(rest) = v.strip_prefix('>') {
        return Ok(StatusMatch::Above(num(rest)?));
    }
    if let Some(rest) = v.strip_prefix('<') {
        return Ok(StatusMatch::Below(num(rest)?));
    }
    let lower = v.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        let c = num(class)?;
        return if (1..=5).contains(&c) {
            Ok(StatusMatch::Class(c))
        } else {
            Err(bad())
        };
    }
    Ok(StatusMatch::Exact(num(v)?))
}

fn parse_verdict(v: &str) -> Result<Badge, FilterError> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "allowed" | "ok" => Badge::Allowed,
        "blocked" => Badge::Blocked,
        "pending" => Badge::Pending,
        "not-cors" | "notcors" | "none" => Badge::NotCors,
        "unknown" => Badge::Unknown,
        "failed" | "error" => Badge::Failed,
        _ => return Err(FilterError::BadVerdict(v.to_owned())),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn row(method: &str, host: &str, status: Option<u16>, badge: Badge) -> Row {
        Row {
            id: 1,
            started: chrono::DateTime::UNIX_EPOCH,
            badge,
            stage: (badge == Badge::Blocked).then_some("preflight"),
            method: method.into(),
            origin: Some("http://localhost:5173".into()),
            host: host.into(),
            path: "/api/items?page=2".into(),
            status,
            reason: "Method PUT is not allowed".into(),
            is_cors: true,
            is_preflight: false,
            paired_with: None,
        }
    }

    #[test]
    fn terms_combine_and_negate() {
        let r = row("PUT", "api.example.com", Some(200), Badge::Blocked);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("items", true),
            ("ITEMS", true),
            ("nothere", false),
            ("host:api.example", true),
            ("host:other", false),
            ("origin:5173", true),
            ("method:PUT", true),
            ("method:put", false),
            ("status:200", true),
            ("status:2xx", true),
            ("status:4xx", false),
            ("status:>=200 status:<300", true),
            ("status:>200", false),
            ("verdict:blocked", true),
            ("verdict:allowed", false),
            ("-verdict:allowed", true),
            ("stage:preflight", true),
            ("stage:actual", false),
            ("verdict:blocked host:api -status:5xx", true),
            ("\"not allowed\"", true),
            ("\"not  allowed\"", false),
            ("http://api", false),
        ];
        for (expr, want) in cases {
            let f = Filter::parse(expr).unwrap();
            assert_eq!(f.matches(&r), *want, "filter {expr:?}");
        }
    }

    #[test]
    fn rows_without_status_never_match_status_terms() {
        let r = row("GET", "h", None, Badge::Failed);
        assert!(!Filter::parse("status:5xx").unwrap().matches(&r));
        assert!(Filter::parse("-status:5xx").unwrap().matches(&r));
        assert!(Filter::parse("verdict:failed").unwrap().matches(&r));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            Filter::parse("colour:red"),
            Err(FilterError::UnknownKey("colour".into()))
        );
        assert_eq!(
            Filter::parse("status:abc"),
            Err(FilterError::BadStatus("abc".into()))
        );
        assert_eq!(
            Filter::parse("status:9xx"),
            Err(FilterError::BadStatus("9xx".into()))
        );
        assert_eq!(
            Filter::parse("verdict:maybe"),
            Err(FilterError::BadVerdict("maybe".into()))
        );
        assert_eq!(Filter::parse("\"open"), Err(FilterError::UnterminatedQuote));
    }
}
