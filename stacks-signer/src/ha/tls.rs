//! TLS to the shared database, from the libpq parameters of `db_url`.
//!
//! `sslmode=require`, `verify-ca` or `verify-full` turns TLS on, and TLS here is always
//! verified: the server's certificate must chain to a trusted root and name the host of the
//! URL (libpq's `verify-full`, whichever of the three is written; an unverified connection
//! would let anyone on the path read the votes and forge the lease). The roots are the
//! certificates of `sslrootcert=<PEM file>` or, without it (or with `sslrootcert=system`), the
//! Mozilla roots built into the signer. `disable`, `allow`, `prefer` and no `sslmode` connect
//! without TLS; `prefer` does not try TLS first.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How to connect to the shared database: the URL to hand the PostgreSQL client (with the
/// parameters it does not know taken out) and the TLS to use.
#[derive(Clone)]
pub struct ConnectPlan {
    /// `db_url` as the client reads it.
    pub url: String,
    /// `None`: no TLS.
    pub tls: Option<MakeRustlsConnect>,
    /// Where the trusted roots come from, for logs: a file, or the built-in roots.
    pub roots: Option<String>,
}

impl std::fmt::Debug for ConnectPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectPlan")
            .field("url", &super::redact_url(&self.url))
            .field("tls", &self.tls.is_some())
            .field("roots", &self.roots)
            .finish()
    }
}

/// The `sslmode` values that turn TLS on.
const TLS_MODES: [&str; 3] = ["require", "verify-ca", "verify-full"];
/// The `sslmode` values that leave it off.
const PLAIN_MODES: [&str; 3] = ["disable", "allow", "prefer"];

/// Reads the TLS parameters of `db_url` and loads the roots it names; an error says what to
/// change (and never shows the password).
pub fn plan(db_url: &str) -> Result<ConnectPlan, String> {
    let (base, query) = match db_url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (db_url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(percent_decode(value)?),
            "sslrootcert" => root_cert = Some(percent_decode(value)?),
            _ => kept.push(pair),
        }
    }
    let tls = match mode.as_deref() {
        None => false,
        Some(m) if TLS_MODES.contains(&m) => true,
        Some(m) if PLAIN_MODES.contains(&m) => false,
        Some(other) => {
            return Err(format!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ))
        }
    };
    if !tls {
        if root_cert.is_some() {
            return Err(
                "sslrootcert is set but TLS is not: add sslmode=verify-full to use it".into(),
            );
        }
        kept.push("sslmode=disable");
        return Ok(ConnectPlan {
            url: join(base, &kept),
            tls: None,
            roots: None,
        });
    }
    let (roots, source) = match root_cert.as_deref() {
        None | Some("system") => (
            rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            "the built-in Mozilla roots".to_string(),
        ),
        Some(path) => (read_roots(&PathBuf::from(path))?, path.to_string()),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    kept.push("sslmode=require");
    Ok(ConnectPlan {
        url: join(base, &kept),
        tls: Some(MakeRustlsConnect::new(config)),
        roots: Some(source),
    })
}

fn join(base: &str, params: &[&str]) -> String {
    if params.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

/// The certificates of the PEM file at `path`, as trusted roots.
fn read_roots(path: &PathBuf) -> Result<rustls::RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("sslrootcert {shown}: no PEM certificate in it"));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    }
    Ok(roots)
}

/// `%XX` escapes of a URL parameter decoded (paths may carry them).
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in URL parameter {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("URL parameter {value:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgresql://signer:pw@db.example:5432/signers";

    #[test]
    fn without_sslmode_the_connection_is_plain_and_the_url_says_so() {
        let plan = plan(URL).unwrap();
        assert!(plan.tls.is_none());
        assert_eq!(plan.url, format!("{URL}?sslmode=disable"));
        let plan = plan_of("?connect_timeout=3&sslmode=prefer");
        assert!(plan.tls.is_none());
        assert_eq!(
            plan.url,
            format!("{URL}?connect_timeout=3&sslmode=disable"),
            "prefer does not try TLS"
        );
    }

    fn plan_of(query: &str) -> ConnectPlan {
        plan(&format!("{URL}{query}")).unwrap()
    }

    #[test]
    fn every_tls_mode_is_verified_with_the_built_in_roots_by_default() {
        for mode in TLS_MODES {
            let plan = plan_of(&format!("?sslmode={mode}"));
            assert!(plan.tls.is_some(), "{mode}");
            assert_eq!(plan.url, format!("{URL}?sslmode=require"), "{mode}");
            assert_eq!(plan.roots.as_deref(), Some("the built-in Mozilla roots"));
        }
        let plan = plan_of("?sslmode=verify-full&sslrootcert=system");
        assert_eq!(plan.roots.as_deref(), Some("the built-in Mozilla roots"));
    }

    #[test]
    fn a_root_certificate_file_is_read_and_checked_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = plan(&format!(
            "{URL}?sslmode=verify-full&sslrootcert={}",
            missing.display()
        ))
        .unwrap_err();
        assert!(
            err.starts_with("sslrootcert ") && err.contains("missing.pem"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = plan(&format!(
            "{URL}?sslmode=verify-full&sslrootcert={}",
            empty.display()
        ))
        .unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn a_root_certificate_without_tls_and_an_unknown_mode_are_refused() {
        let err = plan(&format!("{URL}?sslrootcert=/etc/ca.pem")).unwrap_err();
        assert!(err.contains("sslmode=verify-full"), "{err}");
        let err = plan(&format!("{URL}?sslmode=maybe")).unwrap_err();
        assert!(err.contains("sslmode=maybe"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }

    #[test]
    fn escaped_paths_are_decoded() {
        assert_eq!(
            percent_decode("%2Fetc%2Fpg%20ca.pem").unwrap(),
            "/etc/pg ca.pem"
        );
        assert!(percent_decode("%zz").is_err());
    }
}
