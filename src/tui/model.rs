//! What the list shows for one exchange: a small, render-ready row built once when the
//! exchange or its verdict changes (never per frame), so scrolling 100,000 rows only
//! touches the visible ones.

use chrono::{DateTime, Utc};

/// The verdict badge: colour in the theme, and a symbol so it reads without colour too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Badge {
    Allowed,
    Blocked,
    Pending,
    /// Not a CORS exchange (same-origin, navigation, no-cors, non-browser).
    NotCors,
    /// A CORS exchange the engine could not judge from what the wire showed.
    Unknown,
    /// The exchange failed on the way (upstream refused, TLS error …).
    Failed,
}

impl Badge {
    /// One-column symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Badge::Allowed => "✓",
            Badge::Blocked => "✗",
            Badge::Pending => "…",
            Badge::NotCors => "·",
            Badge::Unknown => "?",
            Badge::Failed => "!",
        }
    }

    /// The word used in filters (`verdict:blocked`) and in the detail pane.
    pub fn word(self) -> &'static str {
        match self {
            Badge::Allowed => "allowed",
            Badge::Blocked => "blocked",
            Badge::Pending => "pending",
            Badge::NotCors => "not-cors",
            Badge::Unknown => "unknown",
            Badge::Failed => "failed",
        }
    }
}

/// One list row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: u64,
    pub started: DateTime<Utc>,
    pub badge: Badge,
    /// `preflight`, `actual` or `redirect` when blocked.
    pub stage: Option<&'static str>,
    /// Method exactly as sent.
    pub method: String,
    /// The request's `Origin`, when it had one.
    pub origin: Option<String>,
    /// Host (with port when not default) of the URL.
    pub host: String,
    /// Path and query.
    pub path: String,
    pub status: Option<u16>,
    /// Short reason (why blocked, or the error).
    pub reason: String,
    /// True for cross-origin exchanges the CORS rules apply to (preflights included).
    pub is_cors: bool,
    /// True for a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub is_preflight: bool,
    /// The exchange this one is paired with (a preflight's actual request, or the actual
    /// request's preflight).
    pub paired_with: Option<u64>,
}

impl Row {
    /// Text searched by free-text filter terms.
    pub fn haystack_contains(&self, needle_lower: &str) -> bool {
        contains_ci(&self.method, needle_lower)
            || contains_ci(&self.host, needle_lower)
            || contains_ci(&self.path, needle_lower)
            || contains_ci(&self.reason, needle_lower)
            || self
                .origin
                .as_deref()
                .is_some_and(|o| contains_ci(o, needle_lower))
    }
}

/// Case-insensitive substring test; `needle_lower` must already be lower-case.
pub fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle_lower.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle_lower)
}
