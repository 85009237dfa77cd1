//! Naming upstream failures: one readable line per cause, for the client's 502/504 body
//! and the exchange's `error`. hyper's own messages name only the outermost layer
//! ("connection error"); the cause is in the sources below it, so they are spelled out.
//! TLS certificate failures say which check failed and how to get past it.

use std::error::Error as StdError;
use std::fmt::Write as _;

use http::StatusCode;
use rustls::CertificateError;

use super::upstream::ConnectError;

/// A duration as a person reads it in a message: `1 s`, `0.5 s`.
pub(crate) fn seconds(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The error and each of its sources, joined with ": ", a source left out when the text
/// before it already says the same.
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    // One line: the client's body and the TUI both show it as one.
    out.replace(['\r', '\n'], " ")
}

/// Why a request got no response from upstream, and the status that says so (504 for a
/// connect timeout, 502 otherwise): `e` is the pooled client's error, or a connect or
/// hyper error from a connection of the client connection's own.
pub(crate) fn before_response(e: &(dyn StdError + 'static)) -> (StatusCode, String) {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            let status = if connect.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return (status, connect.to_string());
        }
        if let Some(hyper_err) = err.downcast_ref::<hyper::Error>() {
            let reason = if hyper_err.is_parse() {
                format!("upstream sent an invalid response: {}", chain(hyper_err))
            } else if hyper_err.is_incomplete_message() {
                "upstream closed the connection before sending a response".to_owned()
            } else {
                format!(
                    "upstream failed before sending a response: {}",
                    chain(hyper_err)
                )
            };
            return (StatusCode::BAD_GATEWAY, reason);
        }
        source = err.source();
    }
    (
        StatusCode::BAD_GATEWAY,
        format!("upstream request failed: {}", chain(e)),
    )
}

/// A failed TLS handshake with an upstream, as tokio-rustls reports it (an `io::Error`
/// wrapping the `rustls::Error`): which check failed, and what to pass to trust it.
pub(crate) fn tls_handshake(e: &std::io::Error) -> String {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_err {
        Some(rustls::Error::InvalidCertificate(cert)) => certificate(cert),
        Some(rustls::Error::InvalidMessage(_) | rustls::Error::PeerSentOversizedRecord) => format!(
            "the upstream did not answer with TLS ({}); is this port plain HTTP? then use an \
             http:// URL",
            chain(e)
        ),
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the upstream refused the handshake (TLS alert: {alert:?})")
        }
        Some(rustls::Error::PeerIncompatible(why)) => {
            format!("no TLS version or cipher in common with the upstream ({why:?})")
        }
        Some(other) => other.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the upstream closed the connection during the handshake".to_owned()
        }
        None => chain(e),
    }
}

const INSECURE: &str = "to connect anyway: --insecure-upstream (testing only)";

fn certificate(e: &CertificateError) -> String {
    match e {
        CertificateError::Expired => format!("certificate expired; {INSECURE}"),
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "certificate expired on {}; {INSECURE}",
            date(not_after.as_secs())
        ),
        CertificateError::NotValidYet => format!("certificate not valid yet; {INSECURE}"),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "certificate not valid until {}; {INSECURE}",
            date(not_before.as_secs())
        ),
        CertificateError::NotValidForName => format!("name mismatch; {INSECURE}"),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names: Vec<&str> = presented.iter().map(|n| bare_name(n)).collect();
            format!(
                "name mismatch: the certificate is for {}, not {}; {INSECURE}",
                if names.is_empty() {
                    "no name".to_owned()
                } else {
                    names.join(", ")
                },
                expected.to_str()
            )
        }
        CertificateError::UnknownIssuer => format!(
            "unknown issuer: the certificate is self-signed or from a CA corscope does not \
             trust; trust that CA with --upstream-ca FILE (PEM), or {INSECURE}"
        ),
        CertificateError::BadSignature => format!("bad certificate signature; {INSECURE}"),
        CertificateError::Revoked => format!("certificate revoked; {INSECURE}"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("certificate not valid for a TLS server ({e}); {INSECURE}")
        }
        other => format!("invalid certificate ({other}); {INSECURE}"),
    }
}

/// `2021-01-01 00:00:00 UTC` for seconds since the Unix epoch.
fn date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{secs} (Unix time)"),
            |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// `wrong.test` from rustls' `DnsName("wrong.test")`.
fn bare_name(presented: &str) -> &str {
    match (presented.find("(\""), presented.rfind("\")")) {
        (Some(open), Some(close)) if open + 2 <= close => &presented[open + 2..close],
        _ => presented,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_skip_repeats_and_stay_on_one_line() {
        let inner = std::io::Error::other("reset\nby peer");
        let outer = std::io::Error::other(inner);
        assert_eq!(chain(&outer), "reset by peer");
    }

    #[test]
    fn certificate_kinds_are_named_with_a_hint() {
        let text = tls_handshake(&std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        ));
        assert!(text.starts_with("unknown issuer"), "{text}");
        assert!(text.contains("--upstream-ca"), "{text}");
        let text = tls_handshake(&std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        ));
        assert!(text.starts_with("certificate expired"), "{text}");
        assert!(text.contains("--insecure-upstream"), "{text}");
    }

    #[test]
    fn presented_names_and_dates_read_plainly() {
        assert_eq!(bare_name("DnsName(\"wrong.test\")"), "wrong.test");
        assert_eq!(bare_name("odd"), "odd");
        assert_eq!(date(1_609_459_200), "2021-01-01 00:00:00 UTC");
    }
}
