//! The rustls client configuration corscope uses to reach upstream servers: the webpki
//! roots, the operating system's certificate store (as curl and the browser use it, so a
//! company or dev CA installed there is trusted), and any `--upstream-ca`; or no
//! verification at all with `--insecure-upstream`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Why the upstream TLS config could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    #[error("reading upstream CA {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("upstream CA {path} holds no certificate")]
    EmptyCaFile { path: PathBuf },
    #[error("building the upstream TLS config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How upstream certificates are checked.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTrust {
    /// Extra CA certificates (PEM files) trusted besides the webpki roots.
    pub extra_ca_files: Vec<PathBuf>,
    /// Extra CA certificates given directly (tests, embedding).
    pub extra_ca_certs: Vec<CertificateDer<'static>>,
    /// Skip verification entirely.
    pub insecure: bool,
    /// Also trust the operating system's certificate store (on Unix the bundle
    /// `openssl-probe` finds, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set). The command
    /// line always sets it; tests leave it off so that only the CAs they name count.
    pub system_roots: bool,
}

/// A client config offering `alpn` (preferred first) and verifying as `trust` says.
pub fn client_config(
    trust: &UpstreamTrust,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, UpstreamTlsError> {
    client_config_with(&trusted_roots(trust)?, alpn)
}

/// The CAs upstream certificates are checked against, `None` for no checks at all. Read
/// once and shared by the client configs built from it ([`client_config_with`]): the
/// system store is a file of a few hundred certificates.
pub fn trusted_roots(
    trust: &UpstreamTrust,
) -> Result<Option<Arc<RootCertStore>>, UpstreamTlsError> {
    match trust.insecure {
        true => Ok(None),
        false => Ok(Some(Arc::new(root_store(trust)?))),
    }
}

/// A client config offering `alpn` (preferred first) and verifying against `roots`.
pub fn client_config_with(
    roots: &Option<Arc<RootCertStore>>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, UpstreamTlsError> {
    let provider = super::provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match roots {
        Some(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn root_store(trust: &UpstreamTrust) -> Result<RootCertStore, UpstreamTlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if trust.system_roots {
        add_system_roots(&mut roots);
    }
    for path in &trust.extra_ca_files {
        for cert in read_pem_certs(path)? {
            roots.add(cert)?;
        }
    }
    for cert in &trust.extra_ca_certs {
        roots.add(cert.clone())?;
    }
    Ok(roots)
}

/// The operating system's trusted CAs, added to `roots`. A store that cannot be read, or
/// certificates in it that cannot be parsed, are logged and skipped: the webpki roots and
/// `--upstream-ca` still apply.
fn add_system_roots(roots: &mut RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("reading the system's CA certificates: {error}");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!("{ignored} of the system's CA certificates could not be used");
    }
    tracing::debug!("trusting {added} CA certificates from the system store");
}

/// Every certificate in a PEM file.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, UpstreamTlsError> {
    let bytes = std::fs::read(path).map_err(|e| UpstreamTlsError::CaFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UpstreamTlsError::CaFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(UpstreamTlsError::EmptyCaFile {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// `--insecure-upstream`: accept any certificate, but still check handshake signatures
/// so the TLS session itself is sound.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
