//! TLS to the shared database of an active/standby pair, on a real PostgreSQL that accepts
//! TCP clients only over TLS, with a certificate from a CA made for the test: a signer with
//! `sslmode=verify-full&sslrootcert=<the CA>` connects encrypted and takes the lease; a plain
//! connection, a server certificate from another CA, and a certificate for another host name
//! are each refused with an error that says why.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use stacks_signer::ha::cluster::TempPostgres;
use stacks_signer::ha::{HaConfig, LeaseKeeper, SharedStore};

fn key() -> StacksPublicKey {
    StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"ha tls"))
}

fn config(url: &str) -> HaConfig {
    HaConfig {
        db_url: url.to_string(),
        lease: Duration::from_millis(3_000),
        renew: Duration::from_millis(1_000),
        instance: "tls-test".to_string(),
    }
}

/// A certificate authority made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// Writes the CA's certificate to `dir/<file>`; its path.
    fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// A server certificate for `names`, and its key, both PEM.
    fn server_certificate(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A cluster that refuses TCP clients without TLS, its certificate naming `names`.
fn tls_only_cluster(ca: &TestCa, names: &[&str]) -> TempPostgres {
    let mut pg = TempPostgres::start()
        .expect("a throwaway PostgreSQL cluster (see docs/high-availability.md)");
    let (cert, key) = ca.server_certificate(names);
    pg.enable_tls(&cert, &key, true).unwrap();
    pg
}

fn connect_error(url: &str) -> String {
    match SharedStore::connect(&config(url), &key()) {
        Ok(_) => panic!("{url}: connected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_signer_reaches_a_tls_only_server_encrypted_and_takes_the_lease() {
    let ca = TestCa::new("signer test CA");
    let pg = tls_only_cluster(&ca, &["localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let url = format!(
        "postgresql://signer:signer@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port(),
        ca_file.display()
    );
    let store = SharedStore::connect(&config(&url), &key()).unwrap();
    assert_eq!(store.tls_roots(), Some(ca_file.to_str().unwrap()));
    assert!(
        store.connection_is_encrypted().unwrap(),
        "the server reports the connection as TLS"
    );
    // The lease keeper opens its own connection with the same TLS.
    let keeper =
        LeaseKeeper::start(store.clone(), slog::Logger::root(slog::Discard, slog::o!())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_active() {
        assert!(
            Instant::now() < deadline,
            "the lease was not taken over TLS"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    keeper.stop();
}

#[test]
fn a_plain_connection_to_a_tls_only_server_is_refused() {
    let ca = TestCa::new("signer test CA");
    let pg = tls_only_cluster(&ca, &["localhost"]);
    let err = connect_error(&format!(
        "postgresql://signer:signer@localhost:{}/postgres",
        pg.port()
    ));
    assert!(
        err.contains("cannot connect") && err.contains("no encryption"),
        "the server's refusal is shown: {err}"
    );
    assert!(
        !err.contains("signer:signer"),
        "the password is hidden: {err}"
    );
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let ca = TestCa::new("signer test CA");
    let pg = tls_only_cluster(&ca, &["localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let other = TestCa::new("someone else's CA").write(dir.path(), "other.pem");
    let err = connect_error(&format!(
        "postgresql://signer:signer@localhost:{}/postgres?sslmode=require&sslrootcert={}",
        pg.port(),
        other.display()
    ));
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "require is verified too: {err}"
    );
    // Without sslrootcert the built-in public roots do not trust a private CA either.
    let err = connect_error(&format!(
        "postgresql://signer:signer@localhost:{}/postgres?sslmode=verify-full",
        pg.port()
    ));
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn a_certificate_for_another_host_name_is_refused() {
    let ca = TestCa::new("signer test CA");
    let pg = tls_only_cluster(&ca, &["db.internal"]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let err = connect_error(&format!(
        "postgresql://signer:signer@localhost:{}/postgres?sslmode=verify-ca&sslrootcert={}",
        pg.port(),
        ca_file.display()
    ));
    assert!(
        err.contains("certificate not valid for name \"localhost\""),
        "the host name is checked, even with verify-ca: {err}"
    );
}
