//! corscope's local certificate authority: created on first run, reused afterwards.
//!
//! Layout in the data directory: `ca/corscope-ca.pem` (certificate, world-readable so a
//! browser can import it) and `ca/corscope-ca-key.pem` (private key, mode 0600) in a
//! directory of mode 0700. A key file that others can read is refused rather than used:
//! whoever holds it can impersonate any site to this machine's browsers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// Common name of the CA certificate, as shown in a browser's certificate manager.
pub const CA_COMMON_NAME: &str = "corscope local CA";
const CA_ORGANIZATION: &str = "corscope";
const CA_DIR: &str = "ca";
const CERT_FILE: &str = "corscope-ca.pem";
const KEY_FILE: &str = "corscope-ca-key.pem";
/// Ten years: a developer trusts the CA once and should not have to again.
const CA_VALIDITY_DAYS: i64 = 3650;

/// Why the CA could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "CA key {path} is readable by other users (mode {mode:o}); run `chmod 600` on it or \
         `corscope ca regenerate --yes`"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where the CA's files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CaPaths {
    /// The CA files under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join(CA_DIR);
        Self {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            dir,
        }
    }
}

/// The loaded CA: its certificate and the key that signs leaf certificates.
pub struct CertificateAuthority {
    paths: CaPaths,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    /// Subject and key-id method; a leaf's issuer field is built from these, so they
    /// must match what the stored certificate says (they are fixed constants here).
    params: CertificateParams,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert", &self.paths.cert)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Load the CA from `data_dir`, creating it (and the directory) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, CaError> {
        let paths = CaPaths::new(data_dir);
        if paths.cert.exists() && paths.key.exists() {
            return Self::load(paths);
        }
        Self::create(paths)
    }

    /// Replace the CA in `data_dir` with a new one.
    pub fn regenerate(data_dir: &Path) -> Result<Self, CaError> {
        Self::create(CaPaths::new(data_dir))
    }

    fn load(paths: CaPaths) -> Result<Self, CaError> {
        check_key_mode(&paths.key)?;
        let key_pem = read(&paths.key)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::Invalid {
            path: paths.key.clone(),
            reason: e.to_string(),
        })?;
        let cert_pem = read(&paths.cert)?;
        let cert_der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| CaError::Invalid {
                path: paths.cert.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            paths,
            cert_pem,
            cert_der,
            key,
            params: ca_params(),
        })
    }

    fn create(paths: CaPaths) -> Result<Self, CaError> {
        create_private_dir(&paths.dir)?;
        let key = KeyPair::generate()?;
        let mut params = ca_params();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(super::random_serial());
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        write_atomic(&paths.key, key.serialize_pem().as_bytes(), 0o600)?;
        write_atomic(&paths.cert, cert_pem.as_bytes(), 0o644)?;
        Ok(Self {
            paths,
            cert_pem,
            cert_der: cert.der().clone(),
            key,
            params: ca_params(),
        })
    }

    /// Paths of the CA's files.
    pub fn paths(&self) -> &CaPaths {
        &self.paths
    }

    /// The CA certificate in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The issuer used to sign leaf certificates.
    pub(crate) fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

/// The CA's fixed subject and extensions. Loading rebuilds these rather than parsing the
/// stored certificate, which is why they must never change for an existing CA.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })
}

#[cfg(unix)]
fn check_key_mode(path: &Path) -> Result<(), CaError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| CaError::Io {
        action: "inspecting",
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CaError::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_mode(_path: &Path) -> Result<(), CaError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), CaError> {
    let io_err = |source| CaError::Io {
        action: "creating directory",
        path: dir.to_owned(),
        source,
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(io_err)?;
        // An existing directory keeps its mode under `create`; tighten it.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(io_err)?;
    Ok(())
}

/// Write via a temporary file and rename, so a crash never leaves half a key behind, and
/// the key is never readable by others even for a moment.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let tmp = path.with_extension("tmp");
    let io_err = |action, source| CaError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(|e| io_err("creating", e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("writing", e))?;
    fs::rename(&tmp, path).map_err(|e| io_err("renaming into", e))
}
