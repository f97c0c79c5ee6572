//! GETs from Velero's side: the signed URLs of its DownloadRequests and its
//! server's metrics. Whatever comes back is bounded in size and time by the
//! caller.

use std::{sync::Arc, time::Duration};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use rustls::pki_types::{CertificateDer, pem::PemObject};

/// GETs `url` (https, or http where the caller allows it), trusting the
/// system's CAs and `ca`; at most `limit` bytes of body, within `timeout`.
pub async fn get(
    url: &str,
    ca: Option<&[u8]>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok();
    }
    if let Some(pem) = ca {
        for cert in CertificateDer::pem_slice_iter(pem).flatten() {
            roots.add(cert).ok();
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let http: HttpClient<_, Empty<Bytes>> =
        HttpClient::builder(TokioExecutor::new()).build(connector);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|error| format!("invalid URL: {error}"))?;
    let shown = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("?", |a| a.as_str()),
        uri.path()
    );
    let fetched = tokio::time::timeout(timeout, async {
        let response = http
            .get(uri)
            .await
            .map_err(|error| format!("GET {shown}: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {shown}: HTTP {status}"));
        }
        Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map(|body| body.to_bytes().to_vec())
            .map_err(|error| format!("GET {shown}: {error}"))
    })
    .await;
    fetched.unwrap_or_else(|_| Err(format!("GET {shown}: no answer within {timeout:?}")))
}
