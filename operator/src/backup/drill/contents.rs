//! What a backup holds, asked of Velero the way `velero backup describe
//! --details` does: a DownloadRequest for the backup's `BackupResourceList`,
//! then a GET of the signed URL Velero answers with (a gzipped JSON map),
//! trusting the system's CAs and the storage location's own CA.
//!
//! Whatever comes back is untrusted and bounded, so that a download can
//! fail the drill but never the operator: only a DownloadRequest socle made
//! for this drill and backup is read; its URL is https unless the storage
//! location itself is plain http (and then it must point there); the body
//! read is at most [`MAX_LIST_BYTES`] gzipped and unpacked, and the list at
//! most [`MAX_LIST_ENTRIES`] names.

use std::{io::Read, time::Duration};

use flate2::read::GzDecoder;
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};

use super::checks::ResourceList;
use crate::backup::{
    build::download_request,
    http,
    plan::BackupPlan,
    velero::{BackupStorageLocation, BackupStorageLocationSpec, DownloadRequest},
};

/// How long one download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest resource list read, gzipped or unpacked (a tenant's is
/// kilobytes): a few kilobytes of gzip can unpack to gigabytes, and each
/// listed name costs more in memory than in JSON.
const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// The most names a resource list may hold (a tenant has hundreds).
const MAX_LIST_ENTRIES: usize = 100_000;

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
    if !is_socles(&request, &wanted) {
        // Made by someone else under the name socle would use: its URL could
        // point anywhere. Not read, not deleted (it is not socle's).
        return Ok(Contents::Unreadable(format!(
            "DownloadRequest {}/{name} was not made by socle for this drill and backup: not read",
            plan.velero_namespace
        )));
    }
    let Some(url) = request.status.and_then(|status| status.download_url) else {
        return Ok(Contents::Pending);
    };
    let location = storage_location(client, plan).await;
    let outcome = match allowed_url(&url, location.as_ref()) {
        Ok(()) => {
            let ca = location
                .and_then(|l| l.object_storage)
                .and_then(|o| o.ca_cert)
                .map(|pem| pem.0);
            match http::get(&url, ca.as_deref(), MAX_LIST_BYTES, DOWNLOAD_TIMEOUT).await {
                Ok(gzipped) => decode(&gzipped).map(Contents::Listed),
                Err(error) => Err(error),
            }
        }
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

/// Whether `request` is the one socle makes (`wanted`): socle's labels for
/// this drill, and the resource list of the drill's backup.
fn is_socles(request: &DownloadRequest, wanted: &DownloadRequest) -> bool {
    let labels = request.metadata.labels.clone().unwrap_or_default();
    let wanted_labels = wanted.metadata.labels.clone().unwrap_or_default();
    wanted_labels
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
        && request.spec.target == wanted.spec.target
}

/// The storage location of the plan, if it can be read.
async fn storage_location(client: &Client, plan: &BackupPlan) -> Option<BackupStorageLocationSpec> {
    let locations =
        Api::<BackupStorageLocation>::namespaced(client.clone(), &plan.velero_namespace);
    Some(locations.get_opt(&plan.storage_location).await.ok()??.spec)
}

/// An https URL; a plain http one only when the storage location itself is
/// plain http (`config.s3Url`), and then only to that address.
fn allowed_url(url: &str, location: Option<&BackupStorageLocationSpec>) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|error| format!("Velero gave an invalid URL: {error}"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let store = location
                .and_then(|l| l.config.get("s3Url"))
                .and_then(|s3| s3.parse::<hyper::Uri>().ok())
                .filter(|s3| s3.scheme_str() == Some("http"));
            match store {
                Some(store) if store.authority() == uri.authority() => Ok(()),
                _ => Err(format!(
                    "the download URL is plain http ({}) while the storage location is not an http store at that address: not read",
                    uri.authority().map_or("?", |a| a.as_str())
                )),
            }
        }
        other => Err(format!(
            "the download URL's scheme {other:?} is not https: not read"
        )),
    }
}

/// Gunzips and parses Velero's resource list, within the bounds.
fn decode(gzipped: &[u8]) -> Result<ResourceList, String> {
    let mut json = Vec::new();
    // One byte more than allowed, to tell a list at the bound from a longer one.
    GzDecoder::new(gzipped)
        .take(MAX_LIST_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|error| format!("the resource list is not gzip: {error}"))?;
    if json.len() > MAX_LIST_BYTES {
        return Err(format!(
            "the resource list unpacks to more than {} MiB: not read",
            MAX_LIST_BYTES / 1024 / 1024
        ));
    }
    let list: ResourceList = serde_json::from_slice(&json)
        .map_err(|error| format!("the resource list is not a JSON map of lists: {error}"))?;
    let entries: usize = list.values().map(Vec::len).sum();
    if entries > MAX_LIST_ENTRIES {
        return Err(format!(
            "the resource list names {entries} objects, more than {MAX_LIST_ENTRIES}: not read"
        ));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_is_refused_before_it_is_parsed() {
        // ~64 KB of gzip for 64 MiB of empty names: hundreds of MiB parsed.
        let mut json = b"{\"v1/ConfigMap\":[".to_vec();
        json.extend(b"\"\",".repeat(64 * 1024 * 1024 / 3));
        json.extend(b"\"\"]}");
        let bomb = gzip(&json);
        assert!(bomb.len() < 512 * 1024, "{} bytes", bomb.len());
        let error = decode(&bomb).unwrap_err();
        assert!(error.contains("more than 4 MiB"), "{error}");
        // Within the bytes, too many names.
        let mut many = b"{\"v1/ConfigMap\":[".to_vec();
        many.extend(b"\"\",".repeat(MAX_LIST_ENTRIES));
        many.extend(b"\"\"]}");
        let error = decode(&gzip(&many)).unwrap_err();
        assert!(error.contains("more than 100000"), "{error}");
    }

    #[test]
    fn plain_http_only_to_a_plain_http_store() {
        let store = |s3: &str| BackupStorageLocationSpec {
            object_storage: None,
            config: [("s3Url".to_owned(), s3.to_owned())].into(),
        };
        let https = store("https://s3.datacenter.example");
        let http = store("http://127.0.0.1:7070");
        assert!(allowed_url("https://s3.datacenter.example/b/l?sig=1", Some(&https)).is_ok());
        assert!(allowed_url("https://elsewhere.example/x", None).is_ok());
        assert!(allowed_url("http://127.0.0.1:7070/b/l?sig=1", Some(&http)).is_ok());
        assert!(allowed_url("http://127.0.0.1:7070/b/l", Some(&https)).is_err());
        assert!(allowed_url("http://attacker.example/l", Some(&http)).is_err());
        assert!(allowed_url("http://127.0.0.1:7070/l", None).is_err());
        assert!(allowed_url("file:///etc/shadow", Some(&http)).is_err());
    }

    #[test]
    fn only_socle_s_own_download_request_is_read() {
        let plan = crate::backup::plan::example_plan();
        let wanted = download_request(&plan, "drill-allaire-1", "allaire-20260301");
        assert!(is_socles(&wanted, &wanted));
        let mut foreign = wanted.clone();
        foreign.metadata.labels = None;
        assert!(!is_socles(&foreign, &wanted));
        let mut other_backup = wanted.clone();
        other_backup.spec.target.name = "bruc-sur-aff-20260301".into();
        assert!(!is_socles(&other_backup, &wanted));
    }

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
