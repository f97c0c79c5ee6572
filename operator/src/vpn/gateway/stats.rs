//! Each peer's latest handshake and transfer counters, from `wg show <if>
//! dump`: what the gateway serves on `/metrics` and `/peers`, and what the
//! operator reads back. Pure.

use std::collections::BTreeMap;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use serde::{Deserialize, Serialize};

/// One peer of the hub, as `GET /peers` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerStats {
    /// The member whose key this is (socle's comment in the configuration);
    /// empty for a peer socle did not write.
    pub member: String,
    pub public_key: String,
    /// Where its packets last came from (`host:port`), if they ever did.
    pub endpoint: Option<String>,
    /// Unix time of the latest handshake; `None` before the first.
    pub latest_handshake: Option<u64>,
    /// Unix time at which the gateway last saw bytes from the peer (its
    /// received counter grown since the gateway's previous look; the
    /// router sends a keepalive every 25 s); `None` before any.
    #[serde(default)]
    pub latest_receive: Option<u64>,
    pub received_bytes: u64,
    pub sent_bytes: u64,
}

/// What `GET /peers` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubStats {
    pub interface: String,
    pub peers: Vec<PeerStats>,
}

/// The peers of `wg show <interface> dump`. Its first line is the
/// interface's own, private key included: it is skipped, never kept.
pub fn parse_dump(dump: &str, members: &BTreeMap<String, String>) -> Vec<PeerStats> {
    dump.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [
                public_key,
                _preshared,
                endpoint,
                _allowed,
                handshake,
                rx,
                tx,
                ..,
            ] = fields.as_slice()
            else {
                return None;
            };
            let handshake: u64 = handshake.parse().ok()?;
            Some(PeerStats {
                member: members.get(*public_key).cloned().unwrap_or_default(),
                public_key: (*public_key).to_owned(),
                endpoint: (*endpoint != "(none)").then(|| (*endpoint).to_owned()),
                latest_handshake: (handshake > 0).then_some(handshake),
                latest_receive: None,
                received_bytes: rx.parse().ok()?,
                sent_bytes: tx.parse().ok()?,
            })
        })
        .collect()
}

/// When each peer was last heard from: its received counter, and when it
/// was last seen growing.
#[derive(Clone, Debug, Default)]
pub struct Heard(BTreeMap<String, (u64, u64)>);

impl Heard {
    /// Fills in `peers`' `latest_receive`, looking at them at `now` (Unix
    /// seconds). A peer first seen with bytes received counts as heard now.
    pub fn update(&mut self, peers: &mut [PeerStats], now: u64) {
        for peer in peers.iter_mut() {
            let heard = match self.0.get(&peer.public_key) {
                Some(&(received, at)) if peer.received_bytes <= received => (at > 0).then_some(at),
                _ => (peer.received_bytes > 0).then_some(now),
            };
            self.0.insert(
                peer.public_key.clone(),
                (peer.received_bytes, heard.unwrap_or(0)),
            );
            peer.latest_receive = heard;
        }
        self.0
            .retain(|key, _| peers.iter().any(|peer| &peer.public_key == key));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    member: String,
    public_key: String,
}

/// The Prometheus text of `stats`.
pub fn encode_metrics(stats: &HubStats) -> String {
    let mut registry = Registry::with_prefix("socle_vpn_peer");
    let handshake = Family::<PeerLabels, Gauge>::default();
    let received = Family::<PeerLabels, Counter>::default();
    let sent = Family::<PeerLabels, Counter>::default();
    registry.register(
        "latest_handshake_seconds",
        "Unix time of the peer's latest handshake (0: none yet)",
        handshake.clone(),
    );
    registry.register(
        "received_bytes",
        "Bytes received from the peer",
        received.clone(),
    );
    registry.register("sent_bytes", "Bytes sent to the peer", sent.clone());
    for peer in &stats.peers {
        let labels = PeerLabels {
            member: peer.member.clone(),
            public_key: peer.public_key.clone(),
        };
        handshake
            .get_or_create(&labels)
            .set(i64::try_from(peer.latest_handshake.unwrap_or(0)).unwrap_or(i64::MAX));
        received.get_or_create(&labels).inc_by(peer.received_bytes);
        sent.get_or_create(&labels).inc_by(peer.sent_bytes);
    }
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_heard_when_its_received_counter_grows() {
        let peer = |received_bytes| PeerStats {
            member: "allaire".into(),
            public_key: "k".into(),
            endpoint: None,
            latest_handshake: Some(100),
            latest_receive: None,
            received_bytes,
            sent_bytes: 0,
        };
        let mut heard = Heard::default();
        let mut peers = [peer(0)];
        heard.update(&mut peers, 1000);
        assert_eq!(peers[0].latest_receive, None, "nothing received yet");
        let mut peers = [peer(500)];
        heard.update(&mut peers, 1010);
        assert_eq!(peers[0].latest_receive, Some(1010));
        let mut peers = [peer(500)];
        heard.update(&mut peers, 1040);
        assert_eq!(peers[0].latest_receive, Some(1010), "silent since");
        let mut peers = [peer(532)];
        heard.update(&mut peers, 1050);
        assert_eq!(peers[0].latest_receive, Some(1050), "a keepalive");
    }

    #[test]
    fn peers_are_read_and_the_private_key_line_is_skipped() {
        let dump = "hub-private\thub-public\t51820\toff\n\
            allaire-public\t(none)\t198.19.0.2:40000\t10.200.0.2/32,192.168.10.0/24\t1765000000\t1200\t3400\toff\n\
            bains-public\t(none)\t(none)\t10.200.0.3/32\t0\t0\t0\toff\n";
        let members = BTreeMap::from([("allaire-public".to_owned(), "allaire".to_owned())]);
        let peers = parse_dump(dump, &members);
        assert_eq!(
            peers,
            [
                PeerStats {
                    member: "allaire".into(),
                    public_key: "allaire-public".into(),
                    endpoint: Some("198.19.0.2:40000".into()),
                    latest_handshake: Some(1_765_000_000),
                    latest_receive: None,
                    received_bytes: 1200,
                    sent_bytes: 3400,
                },
                PeerStats {
                    member: String::new(),
                    public_key: "bains-public".into(),
                    endpoint: None,
                    latest_handshake: None,
                    latest_receive: None,
                    received_bytes: 0,
                    sent_bytes: 0,
                },
            ]
        );
        let metrics = encode_metrics(&HubStats {
            interface: "wg0".into(),
            peers,
        });
        assert!(!metrics.contains("hub-private"), "{metrics}");
        assert!(
            metrics.contains(
                "socle_vpn_peer_latest_handshake_seconds{member=\"allaire\",public_key=\"allaire-public\"} 1765000000"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "socle_vpn_peer_received_bytes_total{member=\"allaire\",public_key=\"allaire-public\"} 1200"
            ),
            "{metrics}"
        );
    }
}
