//! Leaf certificates for intercepted hosts, signed by corscope's CA and cached.
//!
//! All leaves share one key pair generated at start (minting is then a single signature),
//! and each host's ready-made rustls `ServerConfig` is cached in a bounded map. Concurrent
//! first connections to one host wait on the same once-cell, so exactly one certificate
//! is minted per host.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};
use tokio::sync::OnceCell;

use super::ca::CertificateAuthority;

/// Hosts whose certificates are kept. A browsing session touches a few hundred hosts;
/// past this the oldest entry is dropped and re-minted if the host comes back.
pub const MAX_LEAF_CERTS: usize = 1_024;

/// Leaf validity. Kept under 398 days, the longest validity some clients accept even
/// from locally trusted roots.
const LEAF_VALIDITY_DAYS: i64 = 300;

/// ALPN protocols offered to intercepted clients, preferred first.
pub const CLIENT_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a leaf certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    #[error("minting a certificate for {host}: {source}")]
    Mint { host: String, source: rcgen::Error },
    #[error("building the TLS config for {host}: {source}")]
    Config { host: String, source: rustls::Error },
}

type Slot = Arc<OnceCell<Arc<ServerConfig>>>;

/// Mints and caches per-host server configs.
pub struct LeafCache {
    ca: Arc<CertificateAuthority>,
    key: KeyPair,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    by_host: HashMap<String, Slot>,
    order: VecDeque<String>,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache").finish_non_exhaustive()
    }
}

impl LeafCache {
    /// A cache signing with `ca`; generates the shared leaf key.
    pub fn new(ca: Arc<CertificateAuthority>) -> Result<Self, rcgen::Error> {
        Ok(Self {
            ca,
            key: KeyPair::generate()?,
            slots: Mutex::new(Slots::default()),
        })
    }

    /// The server config presenting a certificate for `host` (a DNS name or IP literal).
    pub async fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, LeafError> {
        let host = normalize(host);
        let slot = self.slot(&host);
        slot.get_or_try_init(|| async { self.mint(&host) })
            .await
            .cloned()
    }

    /// Number of hosts cached now.
    pub fn len(&self) -> usize {
        self.lock().by_host.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, host: &str) -> Slot {
        let mut slots = self.lock();
        if let Some(slot) = slots.by_host.get(host) {
            return slot.clone();
        }
        if slots.order.len() >= MAX_LEAF_CERTS {
            if let Some(old) = slots.order.pop_front() {
                slots.by_host.remove(&old);
            }
        }
        let slot = Slot::default();
        slots.by_host.insert(host.to_owned(), slot.clone());
        slots.order.push_back(host.to_owned());
        slot
    }

    fn mint(&self, host: &str) -> Result<Arc<ServerConfig>, LeafError> {
        let mint_err = |source| LeafError::Mint {
            host: host.to_owned(),
            source,
        };
        let params = leaf_params(host).map_err(mint_err)?;
        let cert = params
            .signed_by(&self.key, &self.ca.issuer())
            .map_err(mint_err)?;
        let chain = vec![cert.der().clone(), self.ca.cert_der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        let config_err = |source| LeafError::Config {
            host: host.to_owned(),
            source,
        };
        let mut config = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(config_err)?;
        config.alpn_protocols = CLIENT_ALPN.iter().map(|p| p.to_vec()).collect();
        tracing::debug!(host, "minted leaf certificate");
        Ok(Arc::new(config))
    }
}

/// Lower-case, without a trailing dot or IPv6 brackets: one cache entry per host.
fn normalize(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn leaf_params(host: &str) -> Result<CertificateParams, rcgen::Error> {
    // `new` turns an IP literal into an IP SAN and anything else into a DNS SAN.
    let mut params = CertificateParams::new(vec![host.to_owned()])?;
    let mut dn = DistinguishedName::new();
    // The CN is capped at 64 characters by X.509; the SAN carries the real name.
    let cn: String = host.chars().take(64).collect();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(LEAF_VALIDITY_DAYS);
    params.serial_number = Some(super::random_serial());
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}
