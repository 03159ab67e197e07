//! TLS on the remoting ports (rustls through `futures-rustls`, which works on any executor's
//! `futures-io` streams), with Java's server modes (`tls.server.mode`):
//!
//! * `disabled`: plaintext only;
//! * `permissive` (Java's default): TLS and plaintext on the same port, told apart by the
//!   first byte a client sends (0x16 opens a TLS handshake record; a remoting frame starts
//!   with its length, whose first byte is 0 for any frame under 16 MiB);
//! * `enforcing`: TLS only; a plaintext client fails the handshake and is disconnected.
//!
//! Certificates and keys are PEM files (`tls.server.certPath` — the chain, leaf first —
//! and `tls.server.keyPath`, PKCS#8, PKCS#1 or SEC1). Client certificates are asked for
//! when `tls.server.need.client.auth` is `optional` or `require` and are verified against
//! `tls.server.trustCertPath`. Without a certificate, `permissive` serves plaintext only
//! (Java would make a self-signed certificate) and `enforcing` refuses to start.
//!
//! The client side ([`ClientTls`]) verifies the server against trusted roots and can present
//! a certificate chain of its own.

use std::io;
use std::path::Path;
use std::sync::Arc;

use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::{self, RootCertStore};
use futures_rustls::{TlsAcceptor, TlsConnector};

/// `tls.server.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disabled,
    Permissive,
    Enforcing,
}

impl TlsMode {
    /// Java's names (case-insensitive).
    pub fn parse(s: &str) -> Result<TlsMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disabled" => Ok(TlsMode::Disabled),
            "permissive" => Ok(TlsMode::Permissive),
            "enforcing" => Ok(TlsMode::Enforcing),
            other => Err(format!(
                "tls.server.mode={other}: expected disabled, permissive or enforcing"
            )),
        }
    }
}

/// `tls.server.need.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Optional,
    Require,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Result<ClientAuth, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(ClientAuth::None),
            "optional" => Ok(ClientAuth::Optional),
            "require" => Ok(ClientAuth::Require),
            other => Err(format!(
                "tls.server.need.client.auth={other}: expected none, optional or require"
            )),
        }
    }
}

/// The server-side TLS settings as written in the config file.
#[derive(Debug, Clone, Default)]
pub struct ServerTlsSettings {
    pub mode: String,
    pub cert_path: String,
    pub key_path: String,
    pub key_password: String,
    pub need_client_auth: String,
    pub trust_cert_path: String,
}

/// A port's TLS: the mode and, unless plaintext only, the acceptor.
#[derive(Clone)]
pub struct ServerTls {
    pub mode: TlsMode,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerTls({:?})", self.mode)
    }
}

impl ServerTls {
    /// Build from the config; `None` for plaintext only.
    pub fn from_settings(s: &ServerTlsSettings) -> Result<Option<Arc<ServerTls>>, String> {
        let mode = TlsMode::parse(if s.mode.trim().is_empty() {
            "permissive"
        } else {
            &s.mode
        })?;
        let has_cert = !s.cert_path.trim().is_empty() && !s.key_path.trim().is_empty();
        match mode {
            TlsMode::Disabled => return Ok(None),
            TlsMode::Permissive if !has_cert => return Ok(None),
            TlsMode::Enforcing if !has_cert => {
                return Err(
                    "tls.server.mode=enforcing needs tls.server.certPath and tls.server.keyPath"
                        .into(),
                )
            }
            _ => {}
        }
        if !s.key_password.trim().is_empty() {
            return Err("tls.server.keyPassword: encrypted keys are not supported; give an unencrypted PEM key".into());
        }
        let chain = read_certs(Path::new(s.cert_path.trim()))?;
        let key = read_key(Path::new(s.key_path.trim()))?;
        let auth = ClientAuth::parse(&s.need_client_auth)?;
        let trust = if s.trust_cert_path.trim().is_empty() {
            None
        } else {
            Some(read_certs(Path::new(s.trust_cert_path.trim()))?)
        };
        let config = server_config(chain, key, auth, trust)?;
        Ok(Some(Arc::new(ServerTls {
            mode,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })))
    }

    /// From PEM-decoded parts (tests, embedding).
    pub fn new(
        mode: TlsMode,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        auth: ClientAuth,
        trust: Option<Vec<CertificateDer<'static>>>,
    ) -> Result<Arc<ServerTls>, String> {
        let config = server_config(chain, key, auth, trust)?;
        Ok(Arc::new(ServerTls {
            mode,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(certs: Vec<CertificateDer<'static>>) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for c in certs {
        store
            .add(c)
            .map_err(|e| format!("trusted certificate: {e}"))?;
    }
    Ok(Arc::new(store))
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    auth: ClientAuth,
    trust: Option<Vec<CertificateDer<'static>>>,
) -> Result<rustls::ServerConfig, String> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (auth, trust) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(
                "tls.server.need.client.auth needs tls.server.trustCertPath to verify clients"
                    .into(),
            )
        }
        (auth, Some(trust)) => {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots(trust)?,
                provider(),
            );
            let v = if auth == ClientAuth::Optional {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("server certificate: {e}"))
}

/// The client side: trusted roots and, optionally, a certificate chain to present.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    pub fn new(
        trust: Vec<CertificateDer<'static>>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Arc<ClientTls>, String> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots(trust)?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?,
        };
        Ok(Arc::new(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
        }))
    }

    /// From PEM files: `trust` (the roots), and a chain + key to present.
    pub fn from_files(
        trust: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Arc<ClientTls>, String> {
        let identity = match identity {
            None => None,
            Some((c, k)) => Some((read_certs(c)?, read_key(k)?)),
        };
        Self::new(read_certs(trust)?, identity)
    }

    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The name the server's certificate must carry for `addr` (its IP address).
    pub fn server_name(addr: std::net::SocketAddr) -> ServerName<'static> {
        ServerName::IpAddress(addr.ip().into())
    }
}

/// Every certificate of a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, io::Error>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no private key in the file", path.display()))
}

/// The first byte of a TLS handshake record.
pub const TLS_HANDSHAKE: u8 = 0x16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_auth_parse() {
        assert_eq!(TlsMode::parse("Enforcing"), Ok(TlsMode::Enforcing));
        assert!(TlsMode::parse("strict").is_err());
        assert_eq!(ClientAuth::parse(""), Ok(ClientAuth::None));
        assert_eq!(ClientAuth::parse("require"), Ok(ClientAuth::Require));
    }

    #[test]
    fn permissive_without_certificates_is_plaintext_and_enforcing_refuses() {
        let mut s = ServerTlsSettings {
            mode: "permissive".into(),
            ..Default::default()
        };
        assert!(ServerTls::from_settings(&s).unwrap().is_none());
        s.mode = "enforcing".into();
        assert!(ServerTls::from_settings(&s).is_err());
        s.mode = "disabled".into();
        s.cert_path = "/nonexistent".into();
        s.key_path = "/nonexistent".into();
        assert!(ServerTls::from_settings(&s).unwrap().is_none());
    }
}
