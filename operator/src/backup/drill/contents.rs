//! What a backup holds, asked of Velero the way `velero backup describe
//! --details` does: a DownloadRequest for the backup's `BackupResourceList`,
//! then a GET of the signed URL Velero answers with (a gzipped JSON map),
//! trusting the system's CAs and the storage location's own CA.

use std::{io::Read, sync::Arc, time::Duration};

use flate2::read::GzDecoder;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use rustls::pki_types::{CertificateDer, pem::PemObject};

use super::checks::ResourceList;
use crate::backup::{
    build::download_request,
    plan::BackupPlan,
    velero::{BackupStorageLocation, DownloadRequest},
};

/// How long one download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest resource list read (a tenant's is kilobytes).
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// Where the reading of a backup's contents stands.
#[derive(Debug)]
pub enum Contents {
    /// Velero has not answered the DownloadRequest yet.
    Pending,
    /// The backup's resource list.
    Listed(ResourceList),
    /// The list could not be had; asked again on the next try.
    Unreadable(String),
}

/// One step towards the resource list of `backup`, for the drill `drill`.
pub async fn read(
    client: &Client,
    plan: &BackupPlan,
    drill: &str,
    backup: &str,
) -> Result<Contents, kube::Error> {
    let requests = Api::<DownloadRequest>::namespaced(client.clone(), &plan.velero_namespace);
    let wanted = download_request(plan, drill, backup);
    let name = wanted.metadata.name.clone().unwrap_or_default();
    let Some(request) = requests.get_opt(&name).await? else {
        match requests.create(&PostParams::default(), &wanted).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error),
        }
        return Ok(Contents::Pending);
    };
    let Some(url) = request.status.and_then(|status| status.download_url) else {
        return Ok(Contents::Pending);
    };
    let ca = storage_ca(client, plan).await;
    let outcome = match download(&url, ca.as_deref()).await {
        Ok(gzipped) => decode(&gzipped).map(Contents::Listed),
        Err(error) => Err(error),
    };
    // Used or spoilt: a next try asks Velero for a fresh URL.
    forget(client, plan, drill).await?;
    Ok(outcome.unwrap_or_else(Contents::Unreadable))
}

/// Deletes the drill's DownloadRequest, if any.
pub async fn forget(client: &Client, plan: &BackupPlan, drill: &str) -> Result<(), kube::Error> {
    let requests = Api::<DownloadRequest>::namespaced(client.clone(), &plan.velero_namespace);
    match requests
        .delete(&format!("{drill}-contents"), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

/// The PEM CA bundle of the storage location's object storage, if it has one.
async fn storage_ca(client: &Client, plan: &BackupPlan) -> Option<Vec<u8>> {
    let locations =
        Api::<BackupStorageLocation>::namespaced(client.clone(), &plan.velero_namespace);
    let location = locations.get_opt(&plan.storage_location).await.ok()??;
    Some(location.spec.object_storage?.ca_cert?.0)
}

/// GETs `url` (https or http).
async fn download(url: &str, ca: Option<&[u8]>) -> Result<Vec<u8>, String> {
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
        .map_err(|error| format!("Velero gave an invalid URL: {error}"))?;
    let shown = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("?", |a| a.as_str()),
        uri.path()
    );
    let fetched = tokio::time::timeout(DOWNLOAD_TIMEOUT, async {
        let response = http
            .get(uri)
            .await
            .map_err(|error| format!("GET {shown}: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {shown}: HTTP {status}"));
        }
        Limited::new(response.into_body(), MAX_LIST_BYTES)
            .collect()
            .await
            .map(|body| body.to_bytes().to_vec())
            .map_err(|error| format!("GET {shown}: {error}"))
    })
    .await;
    fetched.unwrap_or_else(|_| {
        Err(format!(
            "GET {shown}: no answer within {DOWNLOAD_TIMEOUT:?}"
        ))
    })
}

/// Gunzips and parses Velero's resource list.
fn decode(gzipped: &[u8]) -> Result<ResourceList, String> {
    let mut json = Vec::new();
    GzDecoder::new(gzipped)
        .take(MAX_LIST_BYTES as u64)
        .read_to_end(&mut json)
        .map_err(|error| format!("the resource list is not gzip: {error}"))?;
    serde_json::from_slice(&json)
        .map_err(|error| format!("the resource list is not a JSON map of lists: {error}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    #[test]
    fn velero_s_gzipped_resource_list_is_read() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(br#"{"v1/ConfigMap":["commune-a/app"],"v1/Namespace":["commune-a"]}"#)
            .unwrap();
        let list = decode(&encoder.finish().unwrap()).unwrap();
        assert_eq!(list["v1/ConfigMap"], ["commune-a/app"]);
        assert!(decode(b"not gzip").is_err());
    }
}
