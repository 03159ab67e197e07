//! TLS on the broker and name server ports, with certificates made here: a root CA, a server
//! certificate it signs, and a client chain (root → intermediate CA → client leaf).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::remoting::{ClientTls, ConnectionOptions, RejectAll, RemotingClient};
use apogee::rt;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::RemotingCommand;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

struct Pki {
    root: Certificate,
    server_pem: String,
    server_key_pem: String,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

fn ca(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn pki() -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let root = ca("apogee test root").self_signed(&root_key).unwrap();

    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &root, &root_key).unwrap();

    let inter_key = KeyPair::generate().unwrap();
    let inter = ca("apogee test intermediate")
        .signed_by(&inter_key, &root, &root_key)
        .unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "apogee test client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &inter, &inter_key).unwrap();

    Pki {
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        client_chain: vec![client_cert.der().clone(), inter.der().clone()],
        client_key: PrivatePkcs8KeyDer::from(client_key.serialize_der()).into(),
        root,
    }
}

/// Write the server's PEM files into `dir`; returns (cert, key, trust) paths.
fn write_pems(pki: &Pki, dir: &Path) -> (String, String, String) {
    let p = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    (
        p("server.pem", &pki.server_pem),
        p("server.key", &pki.server_key_pem),
        p("root.pem", &pki.root.pem()),
    )
}

fn tls_client(pki: &Pki, with_cert: bool) -> RemotingClient {
    let identity = with_cert.then(|| (pki.client_chain.clone(), pki.client_key.clone_key()));
    let tls = ClientTls::new(vec![pki.root.der().clone()], identity).unwrap();
    RemotingClient::new(
        Arc::new(RejectAll),
        ConnectionOptions {
            tls_client: Some(tls),
            ..Default::default()
        },
    )
}

fn try_call(c: &RemotingClient, addr: SocketAddr, code: i32) -> Option<RemotingCommand> {
    rt::block_on(c.invoke(
        addr,
        RemotingCommand::request(code, 0),
        Duration::from_secs(5),
    ))
    .ok()
}

fn start_broker(pki: &Pki, mode: &str, client_auth: &str) -> common::TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, trust) = write_pems(pki, dir.path());
    let (mut b, s) = common::configs(&dir.path().join("store"), None);
    b.tls_server_mode = mode.into();
    b.tls_server_cert_path = cert;
    b.tls_server_key_path = key;
    b.tls_server_need_client_auth = client_auth.into();
    b.tls_server_trust_cert_path = trust;
    common::start_broker_with(b, s, dir)
}

#[test]
fn enforcing_broker_serves_tls_clients_with_a_certificate_chain_only() {
    let pki = pki();
    let tb = start_broker(&pki, "enforcing", "require");
    let addr = tb.addr();

    let c = tls_client(&pki, true);
    let r = try_call(&c, addr, rc::GET_BROKER_CONFIG).expect("TLS client is answered");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    // A second request on the same TLS session.
    let r = try_call(&c, addr, rc::GET_BROKER_RUNTIME_INFO).expect("answered");
    assert_eq!(r.code, response::SUCCESS, "{r}");

    // Plaintext is refused: the connection closes without an answer.
    assert!(try_call(&common::client(), addr, rc::GET_BROKER_CONFIG).is_none());
    // TLS without a client certificate is refused when one is required.
    assert!(try_call(&tls_client(&pki, false), addr, rc::GET_BROKER_CONFIG).is_none());
    tb.stop();
}

#[test]
fn permissive_broker_serves_tls_and_plaintext_on_one_port() {
    let pki = pki();
    let tb = start_broker(&pki, "permissive", "none");
    let addr = tb.addr();
    let r = try_call(&tls_client(&pki, false), addr, rc::GET_BROKER_CONFIG).expect("TLS");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let r = try_call(&common::client(), addr, rc::GET_BROKER_CONFIG).expect("plaintext");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    tb.stop();
}

#[test]
fn enforcing_name_server_needs_tls_but_no_credentials() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_pems(&pki, dir.path());
    let ns = rt::block_on(NameServer::start(NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.path().join("kv.json").to_string_lossy().into_owned(),
        tls_server_mode: "enforcing".into(),
        tls_server_cert_path: cert,
        tls_server_key_path: key,
        ..Default::default()
    }))
    .unwrap();
    let addr = ns.local_addr();
    let r = try_call(&tls_client(&pki, false), addr, rc::GET_BROKER_CLUSTER_INFO).expect("TLS");
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(try_call(&common::client(), addr, rc::GET_BROKER_CLUSTER_INFO).is_none());
    ns.shutdown();
}

#[test]
fn enforcing_without_a_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), None);
    b.tls_server_mode = "enforcing".into();
    let r = rt::block_on(apogee::broker::Broker::start(
        b,
        s,
        apogee::store::fs::Fs::real(),
    ));
    assert!(r.is_err());
}

#[test]
fn broker_registers_with_an_enforcing_name_server_over_tls() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, trust) = write_pems(&pki, dir.path());
    let ns = rt::block_on(NameServer::start(NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.path().join("kv.json").to_string_lossy().into_owned(),
        tls_server_mode: "enforcing".into(),
        tls_server_cert_path: cert,
        tls_server_key_path: key,
        ..Default::default()
    }))
    .unwrap();
    let ns_addr = ns.local_addr();
    let (mut b, s) = common::configs(&dir.path().join("store"), Some(ns_addr));
    b.tls_enable = true;
    b.tls_client_trust_cert_path = trust;
    let tb = common::start_broker_with(b, s, tempfile::tempdir().unwrap());

    let c = tls_client(&pki, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = try_call(&c, ns_addr, rc::GET_BROKER_CLUSTER_INFO).expect("TLS");
        if String::from_utf8_lossy(&r.body).contains("broker-test") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broker never registered over TLS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tb.stop();
    ns.shutdown();
}

#[test]
fn tls_enable_without_trusted_roots_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), None);
    b.tls_enable = true;
    let r = rt::block_on(apogee::broker::Broker::start(
        b,
        s,
        apogee::store::fs::Fs::real(),
    ));
    assert!(r.is_err());
}
