//! The operator's side of the gateway's API: `GET /peers`, to know which
//! keys the hub has taken before a router is given one.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use super::stats::HubStats;

/// The gateway's API could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the VPN gateway's API at {url} cannot be read: {reason}")]
pub struct GatewayUnreachable {
    pub url: String,
    pub reason: String,
}

/// `GET <base>/peers`, within `timeout`.
pub async fn peers(base: &str, timeout: Duration) -> Result<HubStats, GatewayUnreachable> {
    let url = format!("{}/peers", base.trim_end_matches('/'));
    let failed = |reason: String| GatewayUnreachable {
        url: url.clone(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|error| failed(format!("{error}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = async {
        let response = client.get(uri).await.map_err(|error| error.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        serde_json::from_slice(&body).map_err(|error| error.to_string())
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))?
        .map_err(failed)
}
