//! The test environment's own certificate authority: a CA, the API server's
//! serving certificate, client certificates for the admin, the operator,
//! Velero's server and Flux's controllers (all O=system:masters for now),
//! and the
//! service-account signing key. Generated anew at every `up`, never reused.

use std::{fs, path::Path};

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A client identity: certificate and key, PEM.
#[derive(Debug)]
pub struct Identity {
    pub certificate: String,
    pub key: String,
}

/// What the kubeconfigs embed.
#[derive(Debug)]
pub struct ClientMaterial {
    /// The CA that signed the API server's certificate.
    pub ca: String,
    /// `socle-testenv-admin`: tests and the DSI's kubectl.
    pub admin: Identity,
    /// `socle-operator`: the operator, so the audit log tells its requests apart.
    pub operator: Identity,
    /// `velero-server`: `velero server`, for the same reason.
    pub velero: Identity,
    /// `flux-source-controller` and `flux-kustomize-controller`: Flux's
    /// controllers (in system:masters, as Flux's install binds
    /// cluster-admin to kustomize-controller).
    pub flux_source: Identity,
    pub flux_kustomize: Identity,
}

fn client_identity(common_name: &str, ca: &Issuer<'_, KeyPair>) -> Result<Identity> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let certificate = params.signed_by(&key, ca)?;
    Ok(Identity {
        certificate: certificate.pem(),
        key: key.serialize_pem(),
    })
}

/// Writes every file the control plane reads into `dir`; returns what the
/// kubeconfigs need.
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
        admin: client_identity("socle-testenv-admin", &ca)?,
        operator: client_identity("socle-operator", &ca)?,
        velero: client_identity("velero-server", &ca)?,
        flux_source: client_identity("flux-source-controller", &ca)?,
        flux_kustomize: client_identity("flux-kustomize-controller", &ca)?,
    })
}
