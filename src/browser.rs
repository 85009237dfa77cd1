//! `corscope browser`: start a browser with a fresh temporary profile that sends all its
//! traffic (localhost included) through corscope and trusts corscope's CA, then remove
//! the profile when the browser exits.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `corscope browser`: launch a browser against the corscope proxy listening on
/// `--listen` (started separately, e.g. `corscope` in another terminal) and wait for it.
pub fn run(proxy: &crate::cli::ProxyArgs, args: &crate::cli::BrowserArgs) -> anyhow::Result<i32> {
    use anyhow::Context as _;
    crate::logging::init_stderr();
    let config = crate::config::ProxyConfig::from_args(proxy)?;
    let ca = crate::tls::ca::CertificateAuthority::load_or_create(&config.data_dir)
        .context("loading the CA")?;
    let (kind, exe) = match (&args.executable, args.kind) {
        (Some(exe), kind) => (kind.unwrap_or(BrowserKind::Chromium), exe.clone()),
        (None, kind) => find(kind)?,
    };
    let opts = LaunchOptions {
        proxy: config.listen,
        ca_der: ca.cert_der().to_vec(),
        ca_pem_path: ca.paths().cert.clone(),
        headless: args.headless,
        url: args.url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect(opts.proxy),
        )
        .await
        .map_or(true, |r| r.is_err())
        {
            anyhow::bail!(
                "no corscope proxy is listening on {}: start `corscope` (or `corscope demo`) \
                 in another terminal first, or pass --listen with its address",
                opts.proxy
            );
        }
        let mut launched = launch(kind, &exe, &opts)?;
        for note in &launched.notes {
            tracing::warn!("{note}");
        }
        tracing::info!(
            "{} started with a temporary profile ({}), using the proxy at {}",
            exe.display(),
            launched.profile.path().display(),
            opts.proxy
        );
        tokio::select! {
            status = launched.child.wait() => {
                status.context("waiting for the browser")?;
            }
            () = crate::headless::wait_for_signal() => {
                let _ = launched.child.kill().await;
            }
        }
        Ok(0)
    })
}

/// Browsers corscope knows how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrowserKind {
    Chromium,
    Chrome,
    Firefox,
}

impl BrowserKind {
    fn executables(self) -> &'static [&'static str] {
        match self {
            BrowserKind::Chromium => &["chromium", "chromium-browser"],
            BrowserKind::Chrome => &["google-chrome", "google-chrome-stable", "chrome"],
            BrowserKind::Firefox => &["firefox", "firefox-esr"],
        }
    }

    /// Install locations outside PATH (macOS app bundles, snaps).
    fn usual_paths(self) -> &'static [&'static str] {
        match self {
            BrowserKind::Chromium => &[
                "/snap/bin/chromium",
                "/Applications/Chromium.app/Contents/MacOS/Chromium",
            ],
            BrowserKind::Chrome => &[
                "/opt/google/chrome/chrome",
                "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
            ],
            BrowserKind::Firefox => &[
                "/snap/bin/firefox",
                "/Applications/Firefox.app/Contents/MacOS/firefox",
            ],
        }
    }

    fn is_firefox(self) -> bool {
        self == BrowserKind::Firefox
    }
}

/// Why a browser could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "no browser found (looked for {looked}). Install one, e.g. `sudo apt-get install chromium` \
         on Debian/Ubuntu, `brew install --cask chromium` on macOS, or pass the browser's path \
         with --executable"
    )]
    NotFound { looked: String },
    #[error("cannot read the CA certificate: {0}")]
    Certificate(String),
    #[error("cannot prepare the browser profile in {path}: {source}")]
    Profile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Find the executable for `kind` (or the first of chromium, chrome, firefox found).
pub fn find(kind: Option<BrowserKind>) -> Result<(BrowserKind, PathBuf), BrowserError> {
    let kinds = match kind {
        Some(k) => vec![k],
        None => vec![
            BrowserKind::Chromium,
            BrowserKind::Chrome,
            BrowserKind::Firefox,
        ],
    };
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut looked = Vec::new();
    for k in kinds {
        looked.extend(k.executables().iter().map(|e| (*e).to_owned()));
        if let Some(found) = find_in(&path_dirs, k) {
            return Ok((k, found));
        }
    }
    Err(BrowserError::NotFound {
        looked: looked.join(", "),
    })
}

/// The executable for `kind` in `dirs` or the usual install locations.
fn find_in(dirs: &[PathBuf], kind: BrowserKind) -> Option<PathBuf> {
    kind.executables()
        .iter()
        .flat_map(|exe| dirs.iter().map(move |d| d.join(exe)))
        .chain(kind.usual_paths().iter().map(PathBuf::from))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// What the launched browser must be told.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub proxy: SocketAddr,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The CA certificate file (PEM), for browsers that import it.
    pub ca_pem_path: PathBuf,
    pub headless: bool,
    pub url: Option<String>,
}

/// Command-line arguments for a Chromium-family browser using `profile` as its profile.
pub fn chromium_args(opts: &LaunchOptions, profile: &Path) -> Result<Vec<OsString>, BrowserError> {
    let spki = spki_sha256_base64(&opts.ca_der).map_err(BrowserError::Certificate)?;
    let mut args: Vec<OsString> = vec![
        format!("--user-data-dir={}", profile.display()).into(),
        format!("--proxy-server=http://{}", opts.proxy).into(),
        // Chromium never proxies loopback unless told to; corscope must see localhost APIs.
        "--proxy-bypass-list=<-loopback>".into(),
        // Trust certificates issued by corscope's CA (and only those) without touching
        // the system store.
        format!("--ignore-certificate-errors-spki-list={spki}").into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-default-apps".into(),
        "--disable-quic".into(),
    ];
    if opts.headless {
        args.push("--headless=new".into());
        args.push("--disable-gpu".into());
    }
    if running_as_root() {
        // Chromium refuses to start as root with its sandbox on (CI containers).
        args.push("--no-sandbox".into());
    }
    args.push(
        opts.url
            .clone()
            .unwrap_or_else(|| "about:blank".into())
            .into(),
    );
    Ok(args)
}

/// Preferences for a Firefox profile that uses the proxy for everything.
pub fn firefox_user_js(proxy: SocketAddr) -> String {
    let host = proxy.ip();
    let port = proxy.port();
    let prefs: &[(&str, String)] = &[
        ("network.proxy.type", "1".into()),
        ("network.proxy.http", format!("\"{host}\"")),
        ("network.proxy.http_port", port.to_string()),
        ("network.proxy.ssl", format!("\"{host}\"")),
        ("network.proxy.ssl_port", port.to_string()),
        ("network.proxy.share_proxy_settings", "true".into()),
        ("network.proxy.no_proxies_on", "\"\"".into()),
        ("network.proxy.allow_hijacking_localhost", "true".into()),
        ("network.http.http3.enable", "false".into()),
        ("browser.shell.checkDefaultBrowser", "false".into()),
        ("browser.aboutwelcome.enabled", "false".into()),
        ("datareporting.policy.dataSubmissionEnabled", "false".into()),
        ("toolkit.telemetry.reportingpolicy.firstRun", "false".into()),
        ("app.update.enabled", "false".into()),
        ("network.captive-portal-service.enabled", "false".into()),
        ("network.connectivity-service.enabled", "false".into()),
    ];
    let mut out = String::from("// Written by corscope for a temporary profile.\n");
    for (k, v) in prefs {
        out.push_str(&format!("user_pref(\"{k}\", {v});\n"));
    }
    out
}

fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The owner of /proc/self is the effective user.
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// A running browser; its temporary profile is removed when this is dropped.
pub struct Launched {
    pub kind: BrowserKind,
    pub child: tokio::process::Child,
    /// Kept alive until the browser is done with it.
    pub profile: tempfile::TempDir,
    /// Notes for the user (e.g. the CA could not be imported into Firefox).
    pub notes: Vec<String>,
}

/// Start `exe` configured for corscope.
pub fn launch(
    kind: BrowserKind,
    exe: &Path,
    opts: &LaunchOptions,
) -> Result<Launched, BrowserError> {
    let profile = tempfile::Builder::new()
        .prefix("corscope-browser-")
        .tempdir()
        .map_err(|source| BrowserError::Profile {
            path: std::env::temp_dir(),
            source,
        })?;
    let mut notes = Vec::new();
    let mut cmd = tokio::process::Command::new(exe);
    if kind.is_firefox() {
        let user_js = profile.path().join("user.js");
        std::fs::write(&user_js, firefox_user_js(opts.proxy)).map_err(|source| {
            BrowserError::Profile {
                path: user_js.clone(),
                source,
            }
        })?;
        notes.extend(import_ca_into_firefox(profile.path(), &opts.ca_pem_path));
        cmd.arg("-profile").arg(profile.path()).arg("-no-remote");
        if opts.headless {
            cmd.arg("-headless");
        }
        if let Some(url) = &opts.url {
            cmd.arg(url);
        }
    } else {
        cmd.args(chromium_args(opts, profile.path())?);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|source| BrowserError::Spawn {
        path: exe.to_owned(),
        source,
    })?;
    Ok(Launched {
        kind,
        child,
        profile,
        notes,
    })
}

/// Firefox keeps its own certificate store; NSS's `certutil` can add the CA to the new
/// profile. Without it, say how to trust the CA by hand.
fn import_ca_into_firefox(profile: &Path, ca_pem: &Path) -> Option<String> {
    let db = format!("sql:{}", profile.display());
    let ok = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("certutil")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let created = ok(&[
        "-N".as_ref(),
        "-d".as_ref(),
        db.as_ref(),
        "--empty-password".as_ref(),
    ]);
    let added = created
        && ok(&[
            "-A".as_ref(),
            "-n".as_ref(),
            "corscope local CA".as_ref(),
            "-t".as_ref(),
            "C,,".as_ref(),
            "-i".as_ref(),
            ca_pem.as_os_str(),
            "-d".as_ref(),
            db.as_ref(),
        ]);
    (!added).then(|| {
        format!(
            "could not import the CA into the Firefox profile (install NSS tools: \
             `sudo apt-get install libnss3-tools`); HTTPS sites will show a certificate \
             warning until you import {} in Settings → Certificates",
            ca_pem.display()
        )
    })
}

/// The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's
/// `--ignore-certificate-errors-spki-list` wants it.
pub fn spki_sha256_base64(cert_der: &[u8]) -> Result<String, String> {
    use base64::Engine as _;
    let spki = der::subject_public_key_info(cert_der)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    Ok(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
}

/// Just enough DER to find the SubjectPublicKeyInfo in an X.509 certificate.
mod der {
    /// One TLV: tag, the whole element (header included), its contents, and what follows.
    type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

    fn element(input: &[u8]) -> Result<Element<'_>, String> {
        let tag = *input.first().ok_or("truncated DER")?;
        let first = *input.get(1).ok_or("truncated DER")?;
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err("unsupported DER length".into());
            }
            let bytes = input.get(2..2 + n).ok_or("truncated DER")?;
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or("DER length overflow")?;
        let whole = input.get(..end).ok_or("truncated DER")?;
        let rest = input.get(end..).ok_or("truncated DER")?;
        Ok((tag, whole, &whole[header..], rest))
    }

    const SEQUENCE: u8 = 0x30;
    const VERSION_TAG: u8 = 0xa0;

    /// Certificate → tbsCertificate → [version], serial, signature, issuer, validity,
    /// subject, subjectPublicKeyInfo.
    pub fn subject_public_key_info(cert: &[u8]) -> Result<&[u8], String> {
        let (tag, _, cert_body, _) = element(cert)?;
        if tag != SEQUENCE {
            return Err("not a certificate".into());
        }
        let (tag, _, mut tbs, _) = element(cert_body)?;
        if tag != SEQUENCE {
            return Err("not a certificate".into());
        }
        let (tag, _, _, rest) = element(tbs)?;
        if tag == VERSION_TAG {
            tbs = rest; // skip the optional version; the serial follows
        }
        // serial, signature algorithm, issuer, validity, subject
        for _ in 0..5 {
            let (_, _, _, rest) = element(tbs)?;
            tbs = rest;
        }
        let (tag, spki, _, _) = element(tbs)?;
        if tag != SEQUENCE {
            return Err("certificate has no SubjectPublicKeyInfo".into());
        }
        Ok(spki)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn spki_hash_matches_the_key_pairs_own_spki() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["corscope.test".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let spki = der::subject_public_key_info(cert.der()).unwrap();
        assert_eq!(
            spki,
            rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
        );
        assert_eq!(spki_sha256_base64(cert.der()).unwrap().len(), 44);
        assert!(spki_sha256_base64(b"\x30\x03\x02\x01").is_err());
        assert!(spki_sha256_base64(b"").is_err());
    }

    #[test]
    fn chromium_is_told_to_proxy_loopback_and_trust_the_ca() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ca".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let opts = LaunchOptions {
            proxy: "127.0.0.1:8080".parse().unwrap(),
            ca_der: cert.der().to_vec(),
            ca_pem_path: PathBuf::from("/tmp/ca.pem"),
            headless: true,
            url: Some("http://127.0.0.1:3000/".into()),
        };
        let args: Vec<String> = chromium_args(&opts, Path::new("/tmp/p"))
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.contains(&"--proxy-server=http://127.0.0.1:8080".to_owned()));
        assert!(args.contains(&"--proxy-bypass-list=<-loopback>".to_owned()));
        assert!(args.contains(&"--headless=new".to_owned()));
        let spki = spki_sha256_base64(cert.der()).unwrap();
        assert!(args.contains(&format!("--ignore-certificate-errors-spki-list={spki}")));
        assert_eq!(args.last().unwrap(), "http://127.0.0.1:3000/");
    }

    #[test]
    fn firefox_prefs_proxy_localhost_too() {
        let js = firefox_user_js("127.0.0.1:9090".parse().unwrap());
        assert!(js.contains("user_pref(\"network.proxy.http_port\", 9090);"));
        assert!(js.contains("user_pref(\"network.proxy.allow_hijacking_localhost\", true);"));
        assert!(js.contains("user_pref(\"network.proxy.ssl\", \"127.0.0.1\");"));
    }

    #[test]
    fn finds_only_executable_files() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("chromium");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let dirs = [dir.path().to_owned()];
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_ne!(find_in(&dirs, BrowserKind::Chromium), Some(exe.clone()));
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(find_in(&dirs, BrowserKind::Chromium), Some(exe));
        let err = BrowserError::NotFound {
            looked: "chromium".into(),
        };
        assert!(err.to_string().contains("apt-get install chromium"));
    }
}
