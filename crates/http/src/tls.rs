//! TLS for the node's listener: a certificate and key, and optionally a CA whose client certificates are required.

use std::path::PathBuf;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServeError;

/// Where the listener's TLS material is.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates: when set, peers must present a client certificate signed by one (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

fn tls_err(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(format!("{what} {}: {e}", path.display()))
}

/// Builds the rustls server configuration.
pub fn server_config(s: &TlsSettings) -> Result<RustlsConfig, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&s.cert)
        .map_err(|e| tls_err("cannot read the certificate", &s.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("bad certificate in", &s.cert, e))?;
    if certs.is_empty() {
        return Err(tls_err("no certificate in", &s.cert, "empty"));
    }
    let key = PrivateKeyDer::from_pem_file(&s.key)
        .map_err(|e| tls_err("cannot read the private key", &s.key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match &s.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| tls_err("cannot read the client CA", ca, e))?
            {
                let cert = cert.map_err(|e| tls_err("bad certificate in", ca, e))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_err("unusable CA certificate in", ca, e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| ServeError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
