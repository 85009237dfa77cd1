//! `--proxy-auth user:pass`: HTTP Basic authentication of clients that use corscope as a
//! proxy (RFC 9110 §11.7.1–11.7.2: `Proxy-Authorization` in, `407` with
//! `Proxy-Authenticate` out).
//!
//! The expected credentials are never compared byte by byte: both sides go through an
//! HMAC with a key made at start and the tags are compared by `ring::hmac::verify`, which
//! takes the same time wherever they differ (and whatever the length of the guess).

use base64::Engine as _;
use http::HeaderValue;
use ring::hmac;
use ring::rand::SystemRandom;

/// The `Proxy-Authenticate` challenge corscope sends with a 407.
pub const CHALLENGE: &str = "Basic realm=\"corscope\"";

/// Why `--proxy-auth` is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ProxyAuthError {
    #[error("--proxy-auth must be USER:PASSWORD with a non-empty user (got no ':')")]
    NoColon,
    #[error("--proxy-auth must be USER:PASSWORD with a non-empty user")]
    EmptyUser,
    #[error("generating the --proxy-auth key failed")]
    Key,
}

/// The outcome of checking a request's `Proxy-Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCheck {
    Ok,
    /// No `Proxy-Authorization` header (a client's first try; browsers then ask the user).
    Missing,
    /// A header was sent and is wrong (bad scheme, bad base64 or wrong credentials).
    Wrong,
}

/// The credentials clients must send. `Debug` never shows them.
#[derive(Clone)]
pub struct ProxyAuth {
    user: String,
    key: hmac::Key,
    tag: Vec<u8>,
}

impl std::fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl ProxyAuth {
    /// Parse `user:password` (the password may contain `:`; RFC 7617 forbids one in the
    /// user name).
    pub fn parse(spec: &str) -> Result<Self, ProxyAuthError> {
        let (user, _) = spec.split_once(':').ok_or(ProxyAuthError::NoColon)?;
        if user.is_empty() {
            return Err(ProxyAuthError::EmptyUser);
        }
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| ProxyAuthError::Key)?;
        let tag = hmac::sign(&key, spec.as_bytes()).as_ref().to_vec();
        Ok(Self {
            user: user.to_owned(),
            key,
            tag,
        })
    }

    /// The user name (for messages; the password is never shown).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Check a `Proxy-Authorization` value.
    pub fn check(&self, header: Option<&HeaderValue>) -> AuthCheck {
        let Some(header) = header else {
            return AuthCheck::Missing;
        };
        let Some(credentials) = basic_credentials(header.as_bytes()) else {
            return AuthCheck::Wrong;
        };
        match hmac::verify(&self.key, &credentials, &self.tag) {
            Ok(()) => AuthCheck::Ok,
            Err(_) => AuthCheck::Wrong,
        }
    }
}

/// The decoded `user:password` of a `Basic` credential (scheme case-insensitive).
fn basic_credentials(value: &[u8]) -> Option<Vec<u8>> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(s: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(s);
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    #[test]
    fn checks_basic_credentials() {
        let auth = ProxyAuth::parse("alice:s3cret:with:colons").unwrap();
        assert_eq!(auth.check(None), AuthCheck::Missing);
        assert_eq!(
            auth.check(Some(&basic("alice:s3cret:with:colons"))),
            AuthCheck::Ok
        );
        let lower = HeaderValue::from_str(&format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons")
        ))
        .unwrap();
        assert_eq!(auth.check(Some(&lower)), AuthCheck::Ok);
        assert_eq!(auth.check(Some(&basic("alice:wrong"))), AuthCheck::Wrong);
        assert_eq!(auth.check(Some(&basic("alice:s3cret"))), AuthCheck::Wrong);
        let bearer = HeaderValue::from_static("Bearer abc");
        assert_eq!(auth.check(Some(&bearer)), AuthCheck::Wrong);
        let junk = HeaderValue::from_static("Basic !!!");
        assert_eq!(auth.check(Some(&junk)), AuthCheck::Wrong);
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn needs_a_user_and_a_colon() {
        assert!(matches!(
            ProxyAuth::parse("nocolon"),
            Err(ProxyAuthError::NoColon)
        ));
        assert!(matches!(
            ProxyAuth::parse(":pw"),
            Err(ProxyAuthError::EmptyUser)
        ));
        assert!(ProxyAuth::parse("u:").is_ok());
    }
}
