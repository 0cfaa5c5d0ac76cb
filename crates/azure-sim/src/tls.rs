//! A throw-away certificate authority and a server certificate it signs.
//!
//! `azure_core` refuses to send a bearer token over plain HTTP, so the simulator must speak
//! TLS; clients trust it by adding the CA (not the leaf) to their roots. The crypto provider
//! is passed explicitly (aws-lc-rs, the only one compiled in) so that nothing has to install
//! a process-wide default provider first.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::SimError;

/// The generated CA and the server configuration using the leaf it signed.
pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

/// Generates a CA and a leaf for `localhost`, `127.0.0.1`, `::1` and `extra_ip` (the bound
/// address, when it is a specific one).
pub(crate) fn generate(extra_ip: Option<IpAddr>) -> Result<TlsMaterial, SimError> {
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut ca_name = DistinguishedName::new();
    ca_name.push(
        DnType::CommonName,
        "security-contact-operator Azure simulator CA",
    );
    ca_params.distinguished_name = ca_name;
    let ca_key = KeyPair::generate().map_err(SimError::Certificate)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(SimError::Certificate)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(ip) = extra_ip.filter(|ip| !ip.is_unspecified() && !ip.is_loopback()) {
        names.push(ip.to_string());
    }
    let mut leaf_params = CertificateParams::new(names).map_err(SimError::Certificate)?;
    let mut leaf_name = DistinguishedName::new();
    leaf_name.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = leaf_name;
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_key = KeyPair::generate().map_err(SimError::Certificate)?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .map_err(SimError::Certificate)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SimError::Tls)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(SimError::Tls)?;
    // HTTP/1.1 only: hyper is built without HTTP/2, and clients fall back cleanly via ALPN.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        server_config: Arc::new(server_config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_pem_ca() {
        let material = generate(None).expect("certificates");
        assert!(material.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            material.server_config.alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }
}
