//! The admin port: `/metrics` (Prometheus), `/livez`, `/readyz` (every
//! controller's watches have synced). Plain HTTP/1, for the kubelet's probes
//! and the cluster's Prometheus; it serves nothing else.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::warn;

use crate::runtime::telemetry::{Health, Metrics};

/// Serves the admin endpoints on `address` until `shutdown` resolves.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let (metrics, health) = (metrics.clone(), health.clone());
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let response = respond(request.uri().path(), &metrics, &health);
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                warn!(%error, "admin connection");
            }
        });
    }
}

fn respond(path: &str, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/metrics" => (StatusCode::OK, metrics.encode()),
        "/livez" => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" if health.is_ready() => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "watches not synced yet\n".to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_follows_the_watches() {
        let (metrics, health) = (Metrics::default(), Health::default());
        health.expect("tenant");
        assert_eq!(
            respond("/readyz", &metrics, &health).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.synced("tenant");
        assert_eq!(
            respond("/readyz", &metrics, &health).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/livez", &metrics, &health).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/nope", &metrics, &health).status(),
            StatusCode::NOT_FOUND
        );
    }
}
