//! The test environment's own certificate authority: a CA, the API server's
//! serving certificate, an admin client certificate (O=system:masters) and the
//! service-account signing key. Generated anew at every `up`, never reused.

use std::{fs, path::Path};

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM material the kubeconfig embeds.
#[derive(Debug)]
pub struct ClientMaterial {
    pub ca: String,
    pub certificate: String,
    pub key: String,
}

/// Writes every file the control plane reads into `dir`; returns what the
/// admin kubeconfig needs.
pub fn generate(dir: &Path) -> Result<ClientMaterial> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "socle-testenv-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "127.0.0.1".into(),
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default.svc".into(),
    ])?;
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &ca)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::new())?;
    admin
        .distinguished_name
        .push(DnType::CommonName, "socle-testenv-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &ca)?;

    // The API server signs tokens with the private half and verifies them
    // with the public half, which it wants as a PUBLIC KEY block.
    let service_account_key = KeyPair::generate()?;

    fs::write(dir.join("ca.crt"), ca_cert.pem())?;
    fs::write(dir.join("apiserver.crt"), serving_cert.pem())?;
    fs::write(dir.join("apiserver.key"), serving_key.serialize_pem())?;
    fs::write(
        dir.join("service-account.key"),
        service_account_key.serialize_pem(),
    )?;
    fs::write(
        dir.join("service-account.pub"),
        service_account_key.public_key_pem(),
    )?;
    Ok(ClientMaterial {
        ca: ca_cert.pem(),
        certificate: admin_cert.pem(),
        key: admin_key.serialize_pem(),
    })
}
