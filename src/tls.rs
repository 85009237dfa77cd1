//! TLS for interception: the local CA ([`ca`]), leaf certificates minted per host
//! ([`leaf`]) and the client configuration used to reach upstreams ([`upstream`]).
//! Everything uses rustls with the `ring` provider.

pub mod ca;
pub mod leaf;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider for every TLS config corscope builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A random, positive 16-byte certificate serial. Leaves share one key, so the serial
/// must not be derived from the key (Firefox rejects two different certificates with the
/// same issuer and serial).
pub(crate) fn random_serial() -> rcgen::SerialNumber {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let rng = ring::rand::SystemRandom::new();
    if rng.fill(&mut bytes).is_err() {
        // The system RNG failing is practically impossible; fall back to the clock so a
        // serial is still unique per certificate.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_be_bytes();
    }
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}
