//! An exchange's request as a `curl` command line (the `y` key), so a developer can replay
//! it outside the browser.

use crate::capture::Exchange;

/// Headers curl sets itself or that only make sense on the original connection.
const SKIP: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "accept-encoding",
];

/// Quote for a POSIX shell: single quotes, with embedded single quotes closed and escaped.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as one shell word: as it is when nothing in it is special to a shell, else quoted.
pub(crate) fn sh_word(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into()
    } else {
        sh_quote(s).into()
    }
}

/// `curl -X METHOD 'url' -H '…' --data-binary '…'`. Bodies that are not UTF-8 or were cut
/// by the capture limit are left out and said so in a trailing comment.
pub fn to_curl(ex: &Exchange) -> String {
    let r = &ex.request;
    let mut parts = vec!["curl".to_owned()];
    if r.method != "GET" || r.body.total_size > 0 {
        parts.push(format!("-X {}", sh_quote(&r.method)));
    }
    parts.push(sh_quote(&r.url));
    for h in r.headers.iter() {
        if h.name.starts_with(':') || SKIP.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        parts.push(format!(
            "-H {}",
            sh_quote(&format!("{}: {}", h.name, h.value))
        ));
    }
    let mut note = None;
    if r.body.total_size > 0 {
        match std::str::from_utf8(&r.body.captured) {
            Ok(text) if !r.body.is_truncated() => {
                parts.push(format!("--data-binary {}", sh_quote(text)));
            }
            _ => note = Some("# request body not included (binary or larger than the capture)"),
        }
    }
    if r.http_version == "HTTP/2" {
        parts.push("--http2".to_owned());
    }
    let mut out = parts.join(" ");
    if let Some(n) = note {
        out.push(' ');
        out.push_str(n);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capture::{Body, HeaderList, RequestRecord};

    #[test]
    fn replays_method_headers_and_body() {
        let mut headers = HeaderList::default();
        headers.push("Host", "api.test");
        headers.push("Origin", "http://app.test");
        headers.push("X-Note", "it's");
        let ex = Exchange {
            request: RequestRecord {
                method: "patch".into(),
                url: "http://api.test/items/1".into(),
                http_version: "HTTP/1.1".into(),
                headers,
                body: Body {
                    captured: bytes::Bytes::from_static(b"{\"a\":1}"),
                    total_size: 7,
                },
            },
            ..Default::default()
        };
        assert_eq!(
            to_curl(&ex),
            r#"curl -X 'patch' 'http://api.test/items/1' -H 'Origin: http://app.test' -H 'X-Note: it'\''s' --data-binary '{"a":1}'"#
        );
    }
}
