//! corscope's CA: created once, reused, private key 0600 in a 0700 directory, and the
//! `corscope ca` commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use corscope::tls::ca::{CaError, CertificateAuthority};

fn corscope(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_corscope"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

#[test]
fn the_ca_persists_across_starts_with_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertificateAuthority::load_or_create(dir.path()).unwrap();
    let second = CertificateAuthority::load_or_create(dir.path()).unwrap();
    assert_eq!(first.cert_pem(), second.cert_pem());
    assert!(first.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.paths().key), 0o600);
        assert_eq!(mode(&first.paths().dir), 0o700);
    }
    let regenerated = CertificateAuthority::regenerate(dir.path()).unwrap();
    assert_ne!(regenerated.cert_pem(), first.cert_pem());
}

#[cfg(unix)]
#[test]
fn a_world_readable_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
    std::fs::set_permissions(&ca.paths().key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = CertificateAuthority::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, CaError::KeyPermissions { .. }), "{err}");
}

#[test]
fn ca_commands_print_path_export_and_need_yes_to_regenerate() {
    let dir = tempfile::tempdir().unwrap();
    let path = corscope(dir.path(), &["ca", "path"]);
    assert!(path.status.success());
    let cert_path = String::from_utf8(path.stdout).unwrap().trim().to_owned();
    assert!(cert_path.ends_with("corscope-ca.pem"), "{cert_path}");
    let on_disk = std::fs::read_to_string(&cert_path).unwrap();

    let pem = corscope(dir.path(), &["ca", "export"]);
    assert_eq!(String::from_utf8(pem.stdout).unwrap(), on_disk);
    let der = corscope(dir.path(), &["ca", "export", "--format", "der"]);
    assert!(der.status.success());
    assert_eq!(der.stdout[0], 0x30, "DER starts with a SEQUENCE");

    let refused = corscope(dir.path(), &["ca", "regenerate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert_eq!(std::fs::read_to_string(&cert_path).unwrap(), on_disk);

    let done = corscope(dir.path(), &["ca", "regenerate", "--yes"]);
    assert!(done.status.success());
    assert_ne!(std::fs::read_to_string(&cert_path).unwrap(), on_disk);
}
