//! `socle vpn-gateway`: the hub's agent, beside WireGuard in the gateway
//! pod. It reads the hub configuration socle writes (the Secret
//! `socle-vpn-hub-<gateway>`, mounted as a file), applies each change to
//! the interface without dropping the tunnels ([`interface`]), and serves
//! each peer's latest handshake and transfer counters on `/metrics`
//! (Prometheus) and `/peers` (JSON, [`stats::HubStats`]), with `/livez` and
//! `/readyz` (ready once a configuration was applied). The operator reads
//! `/peers` ([`client`]) so that a router is given a key only once the hub
//! has taken it.
//!
//! It polls the file rather than watching the API server: it needs no
//! Kubernetes credentials, and kubelet's atomic update of a Secret volume
//! (a directory swapped under a symlink) is a new file at the same path.
//!
//! A key rotation cuts no tunnel for longer than a handshake
//! ([`watch_takeovers`]): socle lists a member's next key in the
//! configuration, without routes, before the router is given it; the first
//! handshake of that key shows the router runs it, and the gateway moves
//! the member's routes to it at once, rather than when socle's next
//! configuration (the old key retired) reaches the file, which kubelet
//! takes up to a minute to refresh.

pub mod client;
pub mod config;
pub mod interface;
pub mod stats;

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{info, warn};
use zeroize::Zeroizing;

pub use self::interface::{GatewayError, Interface};
use self::stats::HubStats;

/// What `socle vpn-gateway` is told.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// The hub configuration (`wg0.conf` of the mounted Secret); the
    /// interface is named after the file, as wg-quick names it.
    pub config: PathBuf,
    /// Where `/metrics`, `/peers`, `/livez` and `/readyz` are served.
    pub address: SocketAddr,
    /// How often the file is read for a change.
    pub interval: Duration,
}

/// What the applier shares with the HTTP server and the takeovers' watch.
#[derive(Debug, Default)]
struct Applied {
    /// The members of the peers' keys in the applied configuration.
    members: BTreeMap<String, String>,
    /// The rotations under way whose next key has not taken over yet.
    takeovers: Vec<config::Takeover>,
    /// When each peer was last heard from.
    heard: stats::Heard,
    ready: bool,
}

/// How often the next keys' handshakes are looked at during a rotation.
const TAKEOVER_POLL: Duration = Duration::from_millis(100);

/// Applies the configuration at each change until `shutdown` resolves,
/// serving the peers' figures meanwhile.
pub async fn run(
    settings: GatewaySettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), GatewayError> {
    let name = settings
        .config
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("wg0")
        .to_owned();
    let interface = Interface { name };
    let applied = Arc::new(RwLock::new(Applied::default()));
    let listener = TcpListener::bind(settings.address)
        .await
        .map_err(|source| GatewayError::Read {
            path: settings.address.to_string(),
            source,
        })?;
    info!(address = %settings.address, interface = %interface.name, "vpn-gateway serving");
    let server = serve(listener, interface.clone(), applied.clone());
    let changes = apply_changes(&settings, &interface, &applied);
    let takeovers = watch_takeovers(&interface, &applied);
    tokio::select! {
        () = server => {}
        () = changes => {}
        () = takeovers => {}
        () = shutdown => {}
    }
    Ok(())
}

/// Reads the file every `interval`, applying it when it changed since the
/// last successful apply (or when the last one failed).
async fn apply_changes(
    settings: &GatewaySettings,
    interface: &Interface,
    applied: &RwLock<Applied>,
) {
    let mut last: Option<Zeroizing<String>> = None;
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let text = match tokio::fs::read_to_string(&settings.config).await {
            Ok(text) => Zeroizing::new(text),
            Err(source) => {
                warn!(error = %GatewayError::Read { path: settings.config.display().to_string(), source }, "hub configuration not applied");
                continue;
            }
        };
        if last.as_ref() == Some(&text) {
            continue;
        }
        match apply(interface, &text).await {
            Ok(config) => {
                info!(peers = config.members.len(), "hub configuration applied");
                let mut shared = applied.write().expect("not poisoned");
                shared.members = config.members;
                shared.takeovers = config.takeovers;
                shared.ready = true;
                last = Some(text);
            }
            Err(error) => warn!(%error, "hub configuration not applied"),
        }
    }
}

async fn apply(interface: &Interface, text: &str) -> Result<config::HubConfig, GatewayError> {
    let config = config::parse(text)?;
    interface.apply(&config).await?;
    Ok(config)
}

/// During a rotation, gives a member's next key its routes as soon as it
/// had a handshake: only the router holding that key can make one.
async fn watch_takeovers(interface: &Interface, applied: &RwLock<Applied>) {
    loop {
        tokio::time::sleep(TAKEOVER_POLL).await;
        let pending = applied.read().expect("not poisoned").takeovers.clone();
        if pending.is_empty() {
            continue;
        }
        let shaken = match interface.shaken_hands().await {
            Ok(shaken) => shaken,
            Err(error) => {
                warn!(%error, "reading the handshakes");
                continue;
            }
        };
        for takeover in pending.iter().filter(|t| shaken.contains(&t.next_key)) {
            match interface.take_over(takeover).await {
                Ok(()) => {
                    info!(member = %takeover.member, key = %takeover.next_key, "the member's next key took over its routes");
                    applied
                        .write()
                        .expect("not poisoned")
                        .takeovers
                        .retain(|t| t != takeover);
                }
                Err(error) => warn!(%error, "moving the routes to a next key"),
            }
        }
    }
}

async fn serve(listener: TcpListener, interface: Interface, applied: Arc<RwLock<Applied>>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                warn!(%error, "accepting a connection");
                continue;
            }
        };
        let (interface, applied) = (interface.clone(), applied.clone());
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let (interface, applied) = (interface.clone(), applied.clone());
            async move {
                let response = respond(request.uri().path(), &interface, &applied).await;
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                warn!(%error, "gateway connection");
            }
        });
    }
}

/// The interface's peers, each with when it was last heard from; none
/// before a configuration was applied (the interface may not exist yet).
async fn peers(
    interface: &Interface,
    applied: &RwLock<Applied>,
) -> Result<Vec<stats::PeerStats>, GatewayError> {
    let (members, ready) = {
        let shared = applied.read().expect("not poisoned");
        (shared.members.clone(), shared.ready)
    };
    if !ready {
        return Ok(Vec::new());
    }
    let mut peers = interface.stats(&members).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    applied
        .write()
        .expect("not poisoned")
        .heard
        .update(&mut peers, now);
    Ok(peers)
}

async fn respond(
    path: &str,
    interface: &Interface,
    applied: &RwLock<Applied>,
) -> Response<Full<Bytes>> {
    let ready = applied.read().expect("not poisoned").ready;
    let (status, body) = match path {
        "/livez" => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" if ready => (StatusCode::OK, "ok\n".to_owned()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no hub configuration applied yet\n".to_owned(),
        ),
        "/metrics" | "/peers" => match peers(interface, applied).await {
            Ok(peers) => {
                let stats = HubStats {
                    interface: interface.name.clone(),
                    peers,
                };
                if path == "/metrics" {
                    (StatusCode::OK, stats::encode_metrics(&stats))
                } else {
                    (
                        StatusCode::OK,
                        serde_json::to_string(&stats).expect("serializable"),
                    )
                }
            }
            Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")),
        },
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
