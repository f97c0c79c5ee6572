//! The VPN issue's acceptance, end to end: the real control plane, the VPN
//! controller run in-process (one per test, limited to the test's Members,
//! as the ServiceAccount of the test's copy of the shipped install, with only
//! its permissions), and communes' routers played by real
//! OpenSSH servers on 127.0.0.1 running the router emulator
//! (`socle_e2e::router`, the `socle-router-emulator` crate). Hub
//! configurations are checked with the real `wg`.

use std::time::{Duration, Instant};

use anyhow::ensure;
use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use serde_json::json;
use socle::{
    api::member::{RouterDialect, TOWN_HALL},
    labels,
    vpn::{
        cidr::Network,
        hub, ipam,
        secrets::{self, KeyRemoval},
    },
};
use socle_e2e::{
    AuditMark, TestScope, eventually,
    router::{Router, SshRouter, check_with_wg, wg},
};

use socle_e2e::vpn::{
    Fixture, Site, annotate, assert_no_key_material, condition, events_of_type, hub_config,
    member_key, poke, site_status, warning_events,
};

/// For a first push, on a loaded 2-core machine.
const PUSH: Duration = Duration::from_secs(60);

/// A commune's first tunnel: the router gets socle's configuration (its key
/// matching the public key in status), the hub gets the peer and passes the
/// real `wg`; a second reconcile writes nothing, a restart of the operator
/// keeps the address and writes nothing, a changed site network reaches both
/// ends.
#[tokio::test]
async fn first_push_then_nothing_then_a_changed_site_is_pushed() {
    let mut fx = Fixture::new("vpn_first_push").await;
    let router = Router::start();
    let name = fx
        .member(
            "allaire",
            &router,
            RouterDialect::Openwrt,
            &["192.168.10.0/24"],
        )
        .await;
    let started = Instant::now();
    let ready = fx.wait_ready(&name, "Configured", PUSH).await;
    println!("first push verified in {:.1?}", started.elapsed());
    let vpn = site_status(&ready, TOWN_HALL);
    let public = vpn.public_key.unwrap();
    let address = vpn.tunnel_address.unwrap();
    assert!(address.starts_with("10.200.0."), "{address}");
    assert_ne!(
        address, "10.200.0.1/32",
        "the hub's address is not handed out"
    );
    // The router runs the member's key: the real `wg pubkey` of what the
    // router holds is the public key in status.
    assert_eq!(
        router.live_public_key("socle0").as_deref(),
        Some(public.as_str())
    );
    let uci = router.uci();
    assert!(
        uci.contains("firewall.socle0_out.src_ip='192.168.10.0/24'"),
        "site network pushed"
    );
    assert!(uci.contains(&format!(
        "network.socle0.addresses='{}/24'",
        address.trim_end_matches("/32")
    )));
    // The hub: parsed by the real tools, the peer's allowed IPs as wanted.
    let config = hub_config(&fx).await;
    let stripped = check_with_wg(&config, "hub");
    assert!(stripped.contains(&format!("PublicKey = {public}")));
    assert!(config.contains(&format!("AllowedIPs = {address}, 192.168.10.0/24")));
    let hub_private = line_value(&config, "PrivateKey");
    let hub_public = wg(&["pubkey"], &hub_private);
    assert!(uci.contains(&format!("network.socle0_hub.public_key='{hub_public}'")));

    // A second reconcile reads and writes nothing; nor does a new operator
    // (a restart), which finds the same address and key.
    assert_eq!(router.steps("apply"), 1);
    reconcile_writes_nothing(&fx, &router, &name).await;
    let restarted = AuditMark::now();
    fx.restart_operator().await;
    reconcile_writes_nothing(&fx, &router, &name).await;
    // Not even while its caches fill: no status flapping at start-up.
    let writes = operator_writes(&fx, &restarted, &name).await;
    assert!(writes.is_empty(), "API writes after a restart: {writes:?}");
    let after = site_status(&fx.member_now(&name).await, TOWN_HALL);
    assert_eq!(after.tunnel_address.as_deref(), Some(address.as_str()));
    assert_eq!(after.public_key.as_deref(), Some(public.as_str()));

    // A changed site network reaches the router and the hub.
    fx.patch_vpn(&name, json!({"siteCidrs": ["192.168.20.0/24"]}))
        .await;
    eventually(PUSH, || async {
        ensure!(
            router
                .uci()
                .contains("firewall.socle0_out.src_ip='192.168.20.0/24'"),
            "router not updated yet"
        );
        Ok(())
    })
    .await;
    eventually(PUSH, || async {
        let config = hub_config(&fx).await;
        ensure!(
            config.contains(&format!("AllowedIPs = {address}, 192.168.20.0/24")),
            "hub not updated yet"
        );
        Ok(())
    })
    .await;
    assert_eq!(router.steps("apply"), 2);
    fx.finish().await;
}

/// The Linux dialect: a wg-quick file the real wg-quick and wg accept, the
/// interface up with the member's key; a key change of the hub only syncs.
#[tokio::test]
async fn a_linux_router_gets_a_wg_quick_file() {
    let mut fx = Fixture::new("vpn_linux").await;
    let router = Router::start();
    let name = fx
        .member(
            "bains",
            &router,
            RouterDialect::Linux,
            &["192.168.30.0/24", "192.168.31.0/24"],
        )
        .await;
    let ready = fx.wait_ready(&name, "Configured", PUSH).await;
    let public = site_status(&ready, TOWN_HALL).public_key.unwrap();
    let file = router.wg_quick_file("socle0").expect("the wg-quick file");
    let stripped = check_with_wg(&file, "socle0");
    assert!(stripped.contains("Endpoint = 127.0.0.1:51820"));
    assert!(
        file.contains(
            "forward iifname \"%i\" ip daddr != { 192.168.30.0/24, 192.168.31.0/24 } drop"
        )
    );
    assert_eq!(
        router.live_public_key("socle0").as_deref(),
        Some(public.as_str())
    );
    assert!(
        router
            .commands()
            .iter()
            .all(|c| !c.contains(&line_value(&file, "PrivateKey"))),
        "the key travels on standard input, never in a command"
    );
    fx.finish().await;
}

/// A router presenting another host key is never written to; a router that
/// refuses the credentials neither. Both say why, in status and Events.
#[tokio::test]
async fn a_wrong_host_key_and_refused_credentials_stop_the_push() {
    let mut fx = Fixture::new("vpn_refused").await;
    let (router, impostor) = (Router::start(), Router::start());
    let pinned_elsewhere = fx
        .member_with(
            "carentoir",
            &impostor,
            RouterDialect::Openwrt,
            &["192.168.40.0/24"],
            |spec| {
                spec["router"]["hostKey"] = json!(router.host_key());
            },
        )
        .await;
    let stranger = Router::start();
    let wrong = fx
        .create_credentials(
            "stranger",
            &fx.scope.name("cournon"),
            &router.username(),
            &stranger.client_private_key(),
        )
        .await;
    let wrong_login = fx
        .member_with(
            "cournon",
            &router,
            RouterDialect::Openwrt,
            &["192.168.41.0/24"],
            |spec| spec["router"]["credentialsSecret"] = json!(wrong),
        )
        .await;
    let refused = fx
        .wait_ready(&pinned_elsewhere, "HostKeyRejected", PUSH)
        .await;
    let message = condition(&refused, "VpnReady").unwrap().message;
    assert!(message.contains("not the pinned"), "{message}");
    assert!(
        impostor.commands().is_empty(),
        "nothing ran on the impostor"
    );
    let denied = fx
        .wait_ready(&wrong_login, "AuthenticationFailed", PUSH)
        .await;
    let message = condition(&denied, "VpnReady").unwrap().message;
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(
        router.commands().is_empty(),
        "nothing ran without authentication"
    );
    for name in [&pinned_elsewhere, &wrong_login] {
        eventually(PUSH, || async {
            let events = warning_events(&fx, name).await;
            ensure!(!events.is_empty(), "no Warning Event for {name} yet");
            Ok(())
        })
        .await;
    }
    fx.finish().await;
}

/// A Member logs in to a router only with a credentials Secret labelled as
/// its own. One naming another member's login (Redon's, on a host whose
/// key it pinned itself) is refused before socle connects — that host sees
/// no connection at all — with VpnReady=False CredentialsNotTied naming the
/// Secret and the label to set, and a Warning Event; its own labelled
/// Secret then works.
#[tokio::test]
async fn another_members_router_login_is_refused_before_connecting() {
    let mut fx = Fixture::new("vpn_foreign_login").await;
    let (redon_router, pinned) = (Router::start(), Router::start());
    let redon = fx
        .member(
            "redon",
            &redon_router,
            RouterDialect::Openwrt,
            &["192.168.150.0/24"],
        )
        .await;
    fx.wait_ready(&redon, "Configured", PUSH).await;
    let redon_login = credentials_of(&fx, &redon).await;
    let intruder = fx
        .member_with(
            "rieux",
            &pinned,
            RouterDialect::Openwrt,
            &["192.168.151.0/24"],
            |spec| spec["router"]["credentialsSecret"] = json!(redon_login),
        )
        .await;
    let refused = fx.wait_ready(&intruder, "CredentialsNotTied", PUSH).await;
    let message = condition(&refused, "VpnReady").unwrap().message;
    assert!(message.contains(&redon_login), "{message}");
    assert!(
        message.contains(&format!("{}={intruder}", labels::MEMBER)),
        "{message}"
    );
    eventually(PUSH, || async {
        let warnings = warning_events(&fx, &intruder).await;
        ensure!(
            warnings
                .iter()
                .any(|(reason, note)| reason == "CredentialsNotTied" && note.contains(&redon_login)),
            "no CredentialsNotTied Event yet: {warnings:?}"
        );
        Ok(())
    })
    .await;
    assert_eq!(
        pinned.connections(),
        0,
        "socle connected to the pinned host"
    );
    assert!(pinned.commands().is_empty());

    // Its own login, labelled as its own by the fixture, works.
    let own = fx.scope.name("router-rieux");
    fx.patch_vpn(&intruder, json!({"router": {"credentialsSecret": own}}))
        .await;
    fx.wait_ready(&intruder, "Configured", PUSH).await;
    assert!(pinned.connections() > 0, "the count of connections counts");
    fx.finish().await;
}

/// The credentials Secret Member `name` names.
async fn credentials_of(fx: &Fixture, name: &str) -> String {
    let member = fx.member_now(name).await;
    member.spec.vpn.unwrap().router.unwrap().credentials_secret
}

/// A router command failing midway (after uci commit, at ifup) leaves the
/// router as it was before the push.
#[tokio::test]
async fn a_command_failing_midway_is_rolled_back() {
    let mut fx = Fixture::new("vpn_rollback").await;
    let router = Router::start();
    let name = fx
        .member(
            "festel",
            &router,
            RouterDialect::Openwrt,
            &["192.168.50.0/24"],
        )
        .await;
    fx.wait_ready(&name, "Configured", PUSH).await;
    let before = router.uci();
    router.fail_once("ifup");
    fx.patch_vpn(&name, json!({"siteCidrs": ["192.168.51.0/24"]}))
        .await;
    let failed = fx.wait_ready(&name, "PushRolledBack", PUSH).await;
    let message = condition(&failed, "VpnReady").unwrap().message;
    assert!(
        message.contains("rolled back to the previous configuration"),
        "{message}"
    );
    assert_eq!(
        sorted(&router.uci()),
        sorted(&before),
        "the router is as before"
    );
    // The fault was once: the retry pushes the new network.
    eventually(PUSH, || async {
        ensure!(
            router.uci().contains("192.168.51.0/24"),
            "not pushed on retry yet"
        );
        Ok(())
    })
    .await;
    fx.finish().await;
}

/// A router that accepts TCP but never speaks delays only its own member:
/// the others are pushed meanwhile, and it ends as RouterUnreachable. The
/// members, created at once, all get distinct addresses.
#[tokio::test]
async fn an_unreachable_router_does_not_delay_the_others() {
    let mut fx = Fixture::with_timeout("vpn_unreachable", Duration::from_secs(20)).await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let routers: Vec<Router> = (0..4).map(|_| Router::start()).collect();
    let started = Instant::now();
    let mut names = Vec::new();
    for (i, router) in routers.iter().enumerate() {
        names.push(
            fx.member(
                &format!("m{i}"),
                router,
                RouterDialect::Openwrt,
                &[&format!("192.168.{}.0/24", 60 + i)],
            )
            .await,
        );
    }
    let stuck = fx
        .member_with(
            "stuck",
            &routers[0],
            RouterDialect::Openwrt,
            &["192.168.70.0/24"],
            |spec| {
                spec["router"]["port"] = json!(silent_port);
            },
        )
        .await;
    let ready = join_all(
        names
            .iter()
            .map(|name| fx.wait_ready(name, "Configured", PUSH)),
    )
    .await;
    let others_done = started.elapsed();
    let stuck_now = fx.member_now(&stuck).await;
    println!(
        "{} routers pushed in {others_done:.1?} while one hung",
        names.len()
    );
    assert!(
        condition(&stuck_now, "VpnReady").is_none_or(|c| c.reason != "RouterUnreachable"),
        "the others finished before the silent router's timeout"
    );
    fx.wait_ready(&stuck, "RouterUnreachable", PUSH).await;
    let mut addresses: Vec<String> = ready
        .iter()
        .map(|m| site_status(m, TOWN_HALL).tunnel_address.unwrap())
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        names.len(),
        "distinct addresses: {addresses:?}"
    );
    drop(silent);
    fx.finish().await;
}

/// A site network overlapping an earlier member's is refused, naming both
/// members and the prefix; nothing reaches its router or the hub.
#[tokio::test]
async fn overlapping_site_networks_are_refused() {
    let mut fx = Fixture::new("vpn_overlap").await;
    let (first_router, second_router) = (Router::start(), Router::start());
    let first = fx
        .member(
            "guer",
            &first_router,
            RouterDialect::Openwrt,
            &["192.168.0.0/16"],
        )
        .await;
    fx.wait_ready(&first, "Configured", PUSH).await;
    let second = fx
        .member(
            "lieuron",
            &second_router,
            RouterDialect::Openwrt,
            &["192.168.80.0/24"],
        )
        .await;
    let refused = fx.wait_ready(&second, "SiteOverlap", PUSH).await;
    let message = condition(&refused, "VpnReady").unwrap().message;
    for part in [first.as_str(), second.as_str(), "prefix 192.168.80.0/24"] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    assert!(second_router.commands().is_empty(), "nothing pushed");
    let config = hub_config(&fx).await;
    assert!(
        !config.contains(&format!("# member {second}")),
        "no hub peer"
    );
    assert!(config.contains(&format!("# member {first}")));
    fx.finish().await;
}

/// An older Member widening its site networks onto a newer one's is the
/// one refused, with the condition on it: the newer keeps its tunnel and
/// its place at the hub, and nothing is pushed to the older's router.
#[tokio::test]
async fn an_older_member_widening_onto_a_newer_one_is_refused_itself() {
    let mut fx = Fixture::new("vpn_widening").await;
    let (older_router, newer_router) = (Router::start(), Router::start());
    // Named in creation order too: a tie of creation times goes the same way.
    let older = fx
        .member(
            "arzal",
            &older_router,
            RouterDialect::Openwrt,
            &["192.168.90.0/24"],
        )
        .await;
    fx.wait_ready(&older, "Configured", PUSH).await;
    let newer = fx
        .member(
            "bruc",
            &newer_router,
            RouterDialect::Openwrt,
            &["192.168.91.0/24"],
        )
        .await;
    fx.wait_ready(&newer, "Configured", PUSH).await;
    let applies = older_router.steps("apply");

    fx.patch_vpn(&older, json!({"siteCidrs": ["192.168.0.0/16"]}))
        .await;
    let refused = fx.wait_ready(&older, "SiteOverlap", PUSH).await;
    let message = condition(&refused, "VpnReady").unwrap().message;
    for part in [
        older.as_str(),
        newer.as_str(),
        "prefix 192.168.91.0/24",
        "already routing",
    ] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    assert_eq!(older_router.steps("apply"), applies, "nothing pushed");
    // The newer one, reconciled again, keeps its tunnel and its hub peer.
    poke(&fx, &newer).await;
    eventually(PUSH, || async {
        let config = hub_config(&fx).await;
        ensure!(
            !config.contains(&format!("# member {older}")),
            "the hub still routes {older}: {config}"
        );
        ensure!(
            config.contains(&format!("# member {newer}")) && config.contains(", 192.168.91.0/24"),
            "{newer} is not at the hub: {config}"
        );
        Ok(())
    })
    .await;
    let kept = fx.member_now(&newer).await;
    assert_eq!(
        condition(&kept, "VpnReady").map(|c| c.reason).as_deref(),
        Some("Configured")
    );
    fx.finish().await;
}

/// A dry run shows the change, keys redacted, and changes nothing.
#[tokio::test]
async fn a_dry_run_shows_a_diff_and_changes_nothing() {
    let mut fx = Fixture::new("vpn_dry_run").await;
    let router = Router::start();
    let name = fx
        .member_with(
            "maure",
            &router,
            RouterDialect::Openwrt,
            &["192.168.90.0/24"],
            |spec| {
                spec["dryRun"] = json!(true);
            },
        )
        .await;
    let member = fx.wait_ready(&name, "DryRun", PUSH).await;
    let diff = site_status(&member, TOWN_HALL).pending_diff.unwrap();
    assert!(
        diff.contains("+ network.socle0.proto='wireguard'"),
        "{diff}"
    );
    assert!(
        diff.contains("+ network.socle0.private_key=<redacted>"),
        "{diff}"
    );
    assert!(
        diff.contains("+ firewall.socle0_out.src_ip='192.168.90.0/24'"),
        "{diff}"
    );
    assert_eq!(router.uci(), "", "nothing written");
    assert_eq!(router.steps("apply"), 0);
    assert!(router.steps("read") >= 1);
    fx.finish().await;
}

/// A router changed by hand: VpnDrift and a Warning Event, the router left
/// alone; with correctDrift, socle's configuration is put back.
#[tokio::test]
async fn drift_is_reported_then_corrected_when_asked() {
    let mut fx = Fixture::new("vpn_drift").await;
    let router = Router::start();
    let name = fx
        .member(
            "pipriac",
            &router,
            RouterDialect::Openwrt,
            &["192.168.100.0/24"],
        )
        .await;
    fx.wait_ready(&name, "Configured", PUSH).await;
    let pushed = router.uci();
    router.set_uci(&pushed.replace("persistent_keepalive='25'", "persistent_keepalive='0'"));
    poke(&fx, &name).await;
    let drifted = fx.wait_ready(&name, "DriftNotCorrected", PUSH).await;
    let drift = condition(&drifted, "VpnDrift").unwrap();
    assert_eq!(drift.status, "True");
    assert!(
        drift
            .message
            .contains("+ network.socle0_hub.persistent_keepalive='0'"),
        "{}",
        drift.message
    );
    assert!(
        router.uci().contains("persistent_keepalive='0'"),
        "left alone"
    );
    eventually(PUSH, || async {
        let events = warning_events(&fx, &name).await;
        ensure!(
            events.iter().any(|e| e.0 == "VpnDrift"),
            "no VpnDrift Event yet: {events:?}"
        );
        Ok(())
    })
    .await;
    fx.patch_vpn(&name, json!({"correctDrift": true})).await;
    let corrected = fx.wait_ready(&name, "Configured", PUSH).await;
    // DriftCorrected, or NoDrift from the reconcile that followed.
    assert_eq!(condition(&corrected, "VpnDrift").unwrap().status, "False");
    assert_eq!(sorted(&router.uci()), sorted(&pushed));
    let events = warning_events(&fx, &name).await;
    assert!(
        events.iter().any(|(_, note)| note.contains("was put back")),
        "{events:?}"
    );
    fx.finish().await;
}

/// Address claims made at once, by many reconciles, never collide: the API
/// server arbitrates each address. A /28 pool holds 13 member addresses
/// (16 less network, broadcast and hub): 20 claimers, 13 winners.
#[tokio::test]
async fn concurrent_claims_get_distinct_addresses_until_the_pool_is_full() {
    let fx = Fixture::new("vpn_ipam").await;
    let client = fx.scope.client();
    let pool: Network = "10.201.0.0/28".parse().unwrap();
    let gateway = fx.scope.name("pool");
    let claims = (0..20).map(|i| {
        let (client, namespace, gateway) = (
            client.clone(),
            fx.operator_namespace.clone(),
            gateway.clone(),
        );
        async move {
            ipam::claim(
                &client,
                &namespace,
                &gateway,
                pool,
                &format!("member-{i}"),
                TOWN_HALL,
                Duration::from_secs(60),
            )
            .await
        }
    });
    let results = join_all(claims).await;
    let mut won: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(ToString::to_string))
        .collect();
    let exhausted = results
        .iter()
        .filter(|r| matches!(r, Err(ipam::IpamError::Exhausted { .. })))
        .count();
    won.sort();
    won.dedup();
    assert_eq!(won.len(), 13, "13 distinct addresses: {won:?}");
    assert_eq!(exhausted, 7);
    assert!(!won.contains(&hub::hub_address(pool).to_string()));
    // Claiming again returns the same address (persistence).
    let again = ipam::claim(
        &client,
        &fx.operator_namespace,
        &gateway,
        pool,
        "member-0",
        TOWN_HALL,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(again.ok(), results[0].as_ref().ok().copied());
    // A released address stays out of the pool during its quarantine.
    ipam::release(&client, &fx.operator_namespace, "member-0", None)
        .await
        .unwrap();
    let newcomer = ipam::claim(
        &client,
        &fx.operator_namespace,
        &gateway,
        pool,
        "newcomer",
        TOWN_HALL,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        matches!(newcomer, Err(ipam::IpamError::Exhausted { .. })),
        "{newcomer:?}"
    );
    let after_quarantine = ipam::claim(
        &client,
        &fx.operator_namespace,
        &gateway,
        pool,
        "newcomer",
        TOWN_HALL,
        Duration::ZERO,
    )
    .await;
    assert_eq!(after_quarantine.ok(), results[0].as_ref().ok().copied());
    fx.finish().await;
}

/// No private key — the members', the hub's, the router login's — in the
/// operator's logs, the Members' status, the Events, the routers' command
/// logs, or anything this test prints; raw or base64-encoded again (as in
/// a Secret's JSON).
#[tokio::test]
async fn no_private_key_material_in_logs_status_events_or_output() {
    let mut fx = Fixture::new("vpn_no_secrets").await;
    let (router, linux) = (Router::start(), Router::start());
    let a = fx
        .member(
            "sixt",
            &router,
            RouterDialect::Openwrt,
            &["192.168.110.0/24"],
        )
        .await;
    let b = fx
        .member(
            "ruffiac",
            &linux,
            RouterDialect::Linux,
            &["192.168.111.0/24"],
        )
        .await;
    fx.wait_ready(&a, "Configured", PUSH).await;
    fx.wait_ready(&b, "Configured", PUSH).await;
    // A rollback, a dry run and a drift: every path that prints a diff.
    router.fail_once("reload_config");
    fx.patch_vpn(&a, json!({"siteCidrs": ["192.168.112.0/24"]}))
        .await;
    fx.wait_ready(&a, "PushRolledBack", PUSH).await;
    fx.patch_vpn(
        &b,
        json!({"dryRun": true, "siteCidrs": ["192.168.113.0/24"]}),
    )
    .await;
    fx.wait_ready(&b, "DryRun", PUSH).await;
    let mut secrets = vec![
        member_key(&fx, &a).await,
        member_key(&fx, &b).await,
        line_value(&hub_config(&fx).await, "PrivateKey"),
    ];
    for key in [router.client_private_key(), linux.client_private_key()] {
        // The base64 body of the OpenSSH key, line by line.
        secrets.extend(
            key.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
    }
    let checked = assert_no_key_material(&fx, &secrets, &[&a, &b], &[&router, &linux]).await;
    println!(
        "{} secrets searched ({checked} checks, {} bytes of logs)",
        secrets.len(),
        fx.logs().len()
    );
    // The Secret does hold them: the search looked for the right strings.
    let stored: Secret = Api::namespaced(fx.scope.client(), &fx.operator_namespace)
        .get(&socle::vpn::secrets::member_secret(&a))
        .await
        .unwrap();
    let stored = String::from_utf8(stored.data.unwrap()["privateKey"].0.clone()).unwrap();
    assert!(stored == secrets[0], "the searched key is the stored one");
    fx.finish().await;
}

/// A key rotation asked by annotation: the router runs the new key (the
/// real `wg pubkey` of its live key is the new public key in status), its
/// configuration holds the new private key and not the old, the hub lists
/// the new peer key and not the old; one router write, one `KeyRotated`
/// Event. The same request asks for nothing more, even across a restart; a
/// new value rotates again. No private key, old or new, leaks.
#[tokio::test]
async fn a_key_rotation_reaches_both_ends_once_per_request() {
    let mut fx = Fixture::new("vpn_rotation").await;
    let router = Router::start();
    let name = fx
        .member(
            "quelneuc",
            &router,
            RouterDialect::Openwrt,
            &["192.168.120.0/24"],
        )
        .await;
    let first = fx.wait_ready(&name, "Configured", PUSH).await;
    let old_public = site_status(&first, TOWN_HALL).public_key.unwrap();
    let old_private = member_key(&fx, &name).await;
    let applies = router.steps("apply");

    let (new_public, new_private) = rotate(&fx, &router, &name, "2026-11-29T10:00").await;
    assert_ne!(new_public, old_public, "a new key pair");
    assert_ne!(new_private, old_private);
    assert!(
        !router.uci().contains(&old_private),
        "the old private key is gone from the router"
    );
    let config = hub_config(&fx).await;
    assert!(
        !config.contains(&old_public),
        "the hub no longer lists the old key"
    );
    assert_eq!(router.steps("apply"), applies + 1, "one router write");
    let secret: Secret = Api::namespaced(fx.scope.client(), &fx.operator_namespace)
        .get(&socle::vpn::secrets::member_secret(&name))
        .await
        .unwrap();
    assert!(
        !secret
            .data
            .unwrap()
            .contains_key(socle::vpn::secrets::NEXT_PRIVATE_KEY),
        "no key left half-rotated"
    );

    // The same request again, and after a restart: nothing more.
    reconcile_writes_nothing(&fx, &router, &name).await;
    let restarted = AuditMark::now();
    fx.restart_operator().await;
    reconcile_writes_nothing(&fx, &router, &name).await;
    let writes = operator_writes(&fx, &restarted, &name).await;
    assert!(writes.is_empty(), "API writes after a restart: {writes:?}");
    let after = site_status(&fx.member_now(&name).await, TOWN_HALL);
    assert_eq!(after.public_key.as_deref(), Some(new_public.as_str()));
    let rotations = events_of_type(&fx, &name, "Normal")
        .await
        .into_iter()
        .filter(|(reason, _)| reason == "KeyRotated")
        .collect::<Vec<_>>();
    assert_eq!(rotations.len(), 1, "one KeyRotated Event: {rotations:?}");
    assert!(rotations[0].1.contains(&new_public), "{}", rotations[0].1);
    assert!(rotations[0].1.contains(&old_public), "{}", rotations[0].1);

    // A new value is a new request. Its first push fails and is rolled
    // back: the old key keeps working at both ends (the hub knows the next
    // key already, without routes) until the retry brings the new one.
    router.fail_once("ifup");
    annotate(&fx, &name, socle::vpn::ROTATE_KEY, "second").await;
    fx.wait_ready(&name, "PushRolledBack", PUSH).await;
    assert_eq!(
        router.live_public_key("socle0").as_deref(),
        Some(new_public.as_str()),
        "the router still runs the current key"
    );
    let halfway = hub_config(&fx).await;
    check_with_wg(&halfway, "hub-halfway");
    assert!(
        halfway.contains(&format!(
            "PublicKey = {new_public}\nAllowedIPs = {}",
            after.tunnel_address.as_deref().unwrap()
        )),
        "the routes stay with the current key: {halfway}"
    );
    assert!(halfway.contains("next key (rotation under way)\nPublicKey = "));
    let (third_public, third_private) = rotated(&fx, &router, &name, "second").await;
    assert_ne!(third_public, new_public);
    assert!(
        !hub_config(&fx).await.contains(&new_public),
        "the retired key is gone from the hub"
    );

    let secrets = [old_private, new_private, third_private];
    let checked = assert_no_key_material(&fx, &secrets, &[&name], &[&router]).await;
    println!("{checked} searches for the rotated keys");
    fx.finish().await;
}

/// Asks for a rotation with `request`, then [`rotated`].
async fn rotate(fx: &Fixture, router: &Router, name: &str, request: &str) -> (String, String) {
    annotate(fx, name, socle::vpn::ROTATE_KEY, request).await;
    rotated(fx, router, name, request).await
}

/// Waits for the rotation answering `request` to be recorded; checks that
/// the router and the hub run the new key. Returns the new (public,
/// private) key.
async fn rotated(fx: &Fixture, router: &Router, name: &str, request: &str) -> (String, String) {
    let members = Api::<socle::api::Member>::all(fx.scope.client());
    let vpn = eventually(PUSH, || async {
        let vpn = site_status(&members.get(name).await?, TOWN_HALL);
        let vpn = Some(vpn).filter(|vpn| vpn.key_rotation_request.as_deref() == Some(request));
        vpn.ok_or_else(|| anyhow::anyhow!("rotation {request} not recorded yet"))
    })
    .await;
    assert!(vpn.last_key_rotation.is_some());
    let public = vpn.public_key.unwrap();
    let private = member_key(fx, name).await;
    assert_eq!(
        router.live_public_key("socle0").as_deref(),
        Some(public.as_str()),
        "the router's interface runs the new key"
    );
    assert!(
        router
            .uci()
            .contains(&format!("network.socle0.private_key='{private}'")),
        "the router's configuration holds the new private key"
    );
    let config = hub_config(fx).await;
    check_with_wg(&config, "hub-rotated");
    assert!(config.contains(&format!("PublicKey = {public}")));
    assert!(
        !config.contains("next key"),
        "the rotation is over at the hub"
    );
    (public, private)
}

/// A router replaced by another (another address, port and host key): the
/// old one is cleaned over SSH, the member's key is replaced — the hub
/// lists the new public key alone, so the old router's key no longer works
/// — and the new router, empty, is configured in full rather than taken for
/// a router changed by hand; a RouterReplaced Event says so.
#[tokio::test]
async fn a_replaced_router_is_cleaned_and_the_new_one_gets_a_new_key() {
    let mut fx = Fixture::new("vpn_replace").await;
    let (first, second) = (Router::start(), Router::start());
    let name = fx
        .member(
            "langon",
            &first,
            RouterDialect::Openwrt,
            &["192.168.160.0/24"],
        )
        .await;
    let ready = fx.wait_ready(&name, "Configured", PUSH).await;
    let old_public = site_status(&ready, TOWN_HALL).public_key.unwrap();
    let old_private = member_key(&fx, &name).await;
    assert_eq!(
        first.live_public_key("socle0").as_deref(),
        Some(old_public.as_str())
    );

    let (new_public, new_private) = replace_router(&fx, &name, &second, &old_public).await;
    assert_eq!(
        first.uci().trim(),
        "",
        "nothing of socle's left on the old router"
    );
    assert_eq!(
        first.live_public_key("socle0"),
        None,
        "its interface is down"
    );
    let member = fx.member_now(&name).await;
    let drift = condition(&member, "VpnDrift").unwrap();
    assert_eq!(drift.reason, "NoDrift", "{}", drift.message);
    let replaced = events_of_type(&fx, &name, "Normal").await;
    assert!(
        replaced
            .iter()
            .any(|(reason, note)| reason == "RouterReplaced"
                && note.contains("interface socle0 removed from it")
                && note.contains(&new_public)),
        "{replaced:?}"
    );
    let secrets = [old_private, new_private];
    assert_no_key_material(&fx, &secrets, &[&name], &[&first, &second]).await;
    fx.finish().await;
}

/// A replaced router that cannot be reached any more does not hold up its
/// replacement: an OldRouterNotCleaned Warning Event says it must be
/// cleaned by hand, and the new router is configured with a new key, the
/// old one gone from the hub.
#[tokio::test]
async fn an_unreachable_replaced_router_is_reported_and_the_new_one_configured() {
    let mut fx = Fixture::new("vpn_replace_gone").await;
    let (first, second) = (Router::start(), Router::start());
    let name = fx
        .member(
            "bruc",
            &first,
            RouterDialect::Openwrt,
            &["192.168.161.0/24"],
        )
        .await;
    let ready = fx.wait_ready(&name, "Configured", PUSH).await;
    let old_public = site_status(&ready, TOWN_HALL).public_key.unwrap();
    drop(first);

    replace_router(&fx, &name, &second, &old_public).await;
    let warnings = warning_events(&fx, &name).await;
    assert!(
        warnings
            .iter()
            .any(|(reason, note)| reason == "OldRouterNotCleaned" && note.contains("by hand")),
        "{warnings:?}"
    );
    fx.finish().await;
}

/// Points Member `name` at `router` (with a login of its own), then waits
/// until that router runs a key other than `old_public` and the hub lists
/// that key and not the old one. Returns the new (public, private) key.
async fn replace_router(
    fx: &Fixture,
    name: &str,
    router: &Router,
    old_public: &str,
) -> (String, String) {
    let login = fx
        .create_credentials(
            "replacement",
            name,
            &router.username(),
            &router.client_private_key(),
        )
        .await;
    fx.patch_vpn(
        name,
        json!({"router": {
            "port": router.port(),
            "hostKey": router.host_key(),
            "credentialsSecret": login,
        }}),
    )
    .await;
    let public = eventually(PUSH, || async {
        let member = fx.member_now(name).await;
        let ready = condition(&member, "VpnReady");
        let public = member
            .status
            .and_then(|s| s.vpn)
            .and_then(|v| v.site(TOWN_HALL)?.public_key.clone());
        ensure!(
            ready.is_some_and(|c| c.reason == "Configured")
                && public.as_deref().is_some_and(|p| p != old_public)
                && router.live_public_key("socle0") == public,
            "the new router does not run a new key yet"
        );
        Ok(public.unwrap())
    })
    .await;
    let config = hub_config(fx).await;
    check_with_wg(&config, "hub-replaced");
    assert!(
        config.contains(&format!("PublicKey = {public}")),
        "{config}"
    );
    assert!(
        !config.contains(old_public),
        "the old key is gone from the hub"
    );
    (public, member_key(fx, name).await)
}

/// Offboarding takes the tunnel off the router over SSH: a deleted Member's
/// OpenWrt router and the Linux router of a Member whose `spec.vpn` is
/// removed hold nothing of socle's afterwards; the hub lists neither; their
/// addresses are released into quarantine.
#[tokio::test]
async fn offboarding_removes_the_tunnel_from_the_router() {
    let mut fx = Fixture::new("vpn_offboard").await;
    let (router, linux) = (Router::start(), Router::start());
    let deleted = fx
        .member(
            "tregon",
            &router,
            RouterDialect::Openwrt,
            &["192.168.130.0/24"],
        )
        .await;
    let dropped = fx
        .member("treal", &linux, RouterDialect::Linux, &["192.168.131.0/24"])
        .await;
    fx.wait_ready(&deleted, "Configured", PUSH).await;
    fx.wait_ready(&dropped, "Configured", PUSH).await;
    assert!(router.uci().contains("network.socle0="));
    assert!(linux.wg_quick_file("socle0").is_some());

    let members = Api::<socle::api::Member>::all(fx.scope.client());
    members
        .delete(&deleted, &kube::api::DeleteParams::background())
        .await
        .unwrap();
    eventually(PUSH, || async {
        ensure!(
            members.get_opt(&deleted).await?.is_none(),
            "{deleted} still there"
        );
        Ok(())
    })
    .await;
    assert_eq!(router.uci().trim(), "", "nothing of socle's left in uci");
    assert_eq!(router.live_public_key("socle0"), None, "interface down");
    let offboarded = events_of_type(&fx, &deleted, "Normal").await;
    assert!(
        offboarded
            .iter()
            .any(|(reason, note)| reason == "VpnOffboarded"
                && note.contains("interface socle0 removed from router")),
        "{offboarded:?}"
    );

    fx.patch_vpn(&dropped, serde_json::Value::Null).await;
    eventually(PUSH, || async {
        let member = members.get(&dropped).await?;
        ensure!(
            !member
                .finalizers()
                .iter()
                .any(|f| f == socle::vpn::FINALIZER),
            "{dropped} still has the VPN finalizer"
        );
        ensure!(
            condition(&member, "VpnReady").is_none(),
            "VpnReady still in status"
        );
        Ok(())
    })
    .await;
    assert_eq!(linux.wg_quick_file("socle0"), None, "wg-quick file removed");
    assert_eq!(linux.live_public_key("socle0"), None, "interface down");

    let config = hub_config(&fx).await;
    for name in [&deleted, &dropped] {
        assert!(!config.contains(&format!("# member {name}")), "{config}");
    }
    let claims = ipam::claims(&fx.scope.client(), &fx.operator_namespace, &fx.gateway)
        .await
        .unwrap();
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert!(
        claims.iter().all(|c| c.released_at.is_some()),
        "both addresses in quarantine: {claims:?}"
    );
    fx.finish().await;
}

/// A router gone for good does not keep its Member from leaving: the hub
/// drops the peer at once, the clean-up is retried with a Warning Event
/// saying why, and once the deadline has passed the Member goes, with a
/// Warning Event saying the router must be cleaned by hand.
#[tokio::test]
async fn offboarding_gives_up_on_an_unreachable_router_after_its_deadline() {
    const DEADLINE: Duration = Duration::from_secs(20);
    let mut fx = Fixture::with_settings("vpn_offboard_gone", |settings| {
        settings.router_cleanup_deadline = DEADLINE;
    })
    .await;
    let router = Router::start();
    let name = fx
        .member(
            "sixt",
            &router,
            RouterDialect::Openwrt,
            &["192.168.140.0/24"],
        )
        .await;
    fx.wait_ready(&name, "Configured", PUSH).await;
    drop(router);
    let members = Api::<socle::api::Member>::all(fx.scope.client());
    let deleting = Instant::now();
    members
        .delete(&name, &kube::api::DeleteParams::background())
        .await
        .unwrap();
    eventually(PUSH, || async {
        let failures = warning_events(&fx, &name).await;
        ensure!(
            failures
                .iter()
                .any(|(reason, note)| reason == "RouterCleanupFailed"
                    && note.contains("unreachable")),
            "no RouterCleanupFailed Event yet: {failures:?}"
        );
        Ok(())
    })
    .await;
    assert!(
        members.get_opt(&name).await.unwrap().is_some(),
        "the Member waits for its router's clean-up"
    );
    assert!(
        !hub_config(&fx).await.contains(&format!("# member {name}")),
        "the hub dropped the peer at once"
    );
    eventually(PUSH + DEADLINE, || async {
        ensure!(
            members.get_opt(&name).await?.is_none(),
            "{name} still there"
        );
        Ok(())
    })
    .await;
    assert!(
        deleting.elapsed() >= DEADLINE,
        "gave up before the deadline"
    );
    let warnings = warning_events(&fx, &name).await;
    assert!(
        warnings
            .iter()
            .any(|(reason, note)| reason == "RouterCleanupAbandoned" && note.contains("by hand")),
        "{warnings:?}"
    );
    fx.finish().await;
}

/// Offboarding deletes a member's key Secret by name only when its labels
/// say it is socle's key of that member: a Secret someone else keeps under
/// that name, or one labelled for another member, stays.
#[tokio::test]
async fn only_socles_key_of_the_member_is_deleted_by_its_name() {
    let scope = TestScope::new("vpn_key_deletion").await;
    let client = scope.client();
    let namespace = scope.create_namespace("keys").await;
    let api = Api::<Secret>::namespaced(client.clone(), &namespace);
    let member = scope.name("elven");
    let name = secrets::member_secret(&member);
    let key_of = |of: &str| {
        json!({
            labels::MANAGED_BY: labels::MANAGER,
            labels::COMPONENT: "vpn",
            "socle.redon-agglomeration.bzh/vpn-key-of": "member",
            labels::MEMBER: of,
        })
    };
    for (what, mut own, expected) in [
        ("someone else's", json!({}), KeyRemoval::NotOurs),
        ("another member's", key_of("redon"), KeyRemoval::NotOurs),
        ("this member's", key_of(&member), KeyRemoval::Deleted),
    ] {
        for (key, value) in scope.labels() {
            own[key] = json!(value);
        }
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": own},
            "stringData": {"privateKey": "not socle's"},
        }))
        .unwrap();
        api.create(&PostParams::default(), &secret).await.unwrap();
        let removal = secrets::delete_member_key(&client, &namespace, &member, TOWN_HALL)
            .await
            .unwrap();
        assert_eq!(removal, expected, "{what}");
        let left = api.get_opt(&name).await.unwrap();
        assert_eq!(left.is_some(), expected == KeyRemoval::NotOurs, "{what}");
        if left.is_some() {
            api.delete(&name, &DeleteParams::default()).await.unwrap();
        }
    }
    let removal = secrets::delete_member_key(&client, &namespace, &member, TOWN_HALL)
        .await
        .unwrap();
    assert_eq!(removal, KeyRemoval::Absent);
    scope.cleanup().await;
}

/// Makes the operator reconcile `name` and checks that it read the router
/// but wrote nothing: no SSH write, no API write (audit log).
async fn reconcile_writes_nothing(fx: &Fixture, router: &Router, name: &str) {
    let operator_user = fx.install.identity();
    // Convergence takes a few reconciles (each status write triggers the next,
    // the drift condition is first set on the one after a push): wait until
    // two quiet seconds go by before asking for steady state.
    for _ in 0..15 {
        let quiet = AuditMark::now();
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let settled = quiet
            .writes_by(&fx.scope.client(), &operator_user)
            .await
            .into_iter()
            .all(|e| e.name.as_deref() != Some(name));
        if settled {
            break;
        }
    }
    let (reads, applies) = (router.steps("read"), router.steps("apply"));
    let mark = AuditMark::now();
    poke(fx, name).await;
    eventually(PUSH, || async {
        ensure!(router.steps("read") > reads, "no new read yet");
        Ok(())
    })
    .await;
    // The reconcile's API writes, if any, come after its router read: give
    // them time to reach the audit log rather than look too early.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        router.steps("apply"),
        applies,
        "no SSH write when nothing changed"
    );
    let writes = operator_writes(fx, &mark, name).await;
    assert!(writes.is_empty(), "API writes in steady state: {writes:?}");
}

/// The operator's API writes since `mark` to Member `name` or in the
/// test's namespaces.
async fn operator_writes(fx: &Fixture, mark: &AuditMark, name: &str) -> Vec<String> {
    let operator_user = fx.install.identity();
    let ours = [fx.operator_namespace.clone(), fx.gateway_namespace.clone()];
    mark.writes_by(&fx.scope.client(), &operator_user)
        .await
        .into_iter()
        .filter(|e| {
            e.namespace.as_ref().is_some_and(|ns| ours.contains(ns))
                || e.name.as_deref() == Some(name)
        })
        .map(|e| e.to_string())
        .collect()
}

fn line_value(config: &str, key: &str) -> String {
    config
        .lines()
        .find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {key} line"))
}

fn sorted(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort_unstable();
    lines
}

/// A commune's sites are tunnels of their own, behind three routers (town
/// hall, school, médiathèque): a dry run of the school alone shows its diff
/// and writes nothing there while the others are configured; another
/// member overlapping the school is refused, naming the site; one request
/// rotates each site's key at both ends; drift at the médiathèque is told
/// as the médiathèque's; and the médiathèque taken out of `spec.vpn.sites`
/// loses its router configuration, hub peer, address claim and key while
/// nothing of the other two moves.
#[tokio::test]
async fn the_sites_of_one_commune_are_tunnels_of_their_own() {
    let mut fx = Fixture::new("vpn_sites").await;
    let routers = [Router::start(), Router::start(), Router::start()];
    let names = [TOWN_HALL, "ecole", "mediatheque"];
    let networks = [
        ["192.168.140.0/24"],
        ["192.168.141.0/24"],
        ["192.168.142.0/24"],
    ];
    let sites: Vec<Site<'_>> = (0..3)
        .map(|i| Site {
            name: names[i],
            router: &routers[i],
            dialect: RouterDialect::Openwrt,
            networks: &networks[i],
        })
        .collect();
    let name = fx.member_of_sites("sixt", &sites).await;
    // The school in dry run alone.
    let mut listed = sites_json(&fx.member_now(&name).await);
    listed[1]["dryRun"] = json!(true);
    fx.patch_vpn(&name, json!({"sites": listed})).await;
    let member = fx.wait_ready(&name, "DryRun", PUSH).await;
    let ready = condition(&member, "VpnReady").unwrap();
    assert!(
        ready
            .message
            .starts_with("site ecole: dry run: router 127.0.0.1 (openwrt) would change")
            && ready
                .message
                .ends_with("configured: site mairie, site mediatheque"),
        "{}",
        ready.message
    );
    let diff = site_status(&member, "ecole").pending_diff.unwrap();
    assert!(
        diff.contains("+ firewall.socle0_out.src_ip='192.168.141.0/24'"),
        "{diff}"
    );
    assert_eq!(
        routers[1].uci(),
        "",
        "nothing written to the school's router"
    );
    for i in [0, 2] {
        let uci = routers[i].uci();
        assert!(
            uci.contains(&format!("src_ip='{}'", networks[i][0])),
            "{uci}"
        );
        for other in (0..3).filter(|j| *j != i) {
            assert!(
                !uci.contains(networks[other][0]),
                "a router routes its own site only"
            );
        }
    }
    listed[1]["dryRun"] = json!(false);
    fx.patch_vpn(&name, json!({"sites": listed})).await;
    let member = fx.wait_ready(&name, "Configured", PUSH).await;
    let config = hub_config(&fx).await;
    check_with_wg(&config, "hub");
    for (i, site) in names.iter().enumerate() {
        let status = site_status(&member, site);
        let address = status.tunnel_address.clone().unwrap();
        assert!(
            config.contains(&format!("AllowedIPs = {address}, {}", networks[i][0])),
            "{config}"
        );
        assert_eq!(routers[i].live_public_key("socle0"), status.public_key);
    }
    assert!(
        config.contains(&format!("# member {name}.ecole\n")),
        "{config}"
    );
    a_school_overlap_is_refused(&mut fx, &routers[0]).await;
    each_site_rotates(&fx, &routers, &name).await;
    drift_is_the_sites(&fx, &routers[2], &name).await;
    one_site_leaves(&fx, &routers, &name, listed).await;
    fx.finish().await;
}

/// `spec.vpn.sites` of `member`, as JSON.
fn sites_json(member: &socle::api::Member) -> Vec<serde_json::Value> {
    let vpn = member.spec.vpn.as_ref().unwrap();
    vpn.sites
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect()
}

async fn a_school_overlap_is_refused(fx: &mut Fixture, router: &Router) {
    let other = fx
        .member(
            "bains",
            router,
            RouterDialect::Openwrt,
            &["192.168.141.128/25"],
        )
        .await;
    let refused = fx.wait_ready(&other, "SiteOverlap", PUSH).await;
    let message = condition(&refused, "VpnReady").unwrap().message;
    assert!(
        message.contains("overlaps site network 192.168.141.0/24 of member sixt-")
            && message.contains("(site ecole)"),
        "{message}"
    );
}

async fn each_site_rotates(fx: &Fixture, routers: &[Router; 3], name: &str) {
    let before = fx.member_now(name).await;
    annotate(fx, name, socle::vpn::ROTATE_KEY, "1").await;
    let after = eventually(PUSH, || async {
        let member = fx.member_now(name).await;
        let sites = &member.status.as_ref().unwrap().vpn.as_ref().unwrap().sites;
        ensure!(
            sites
                .iter()
                .all(|s| s.key_rotation_request.as_deref() == Some("1")),
            "not every site rotated yet: {sites:?}"
        );
        Ok(member)
    })
    .await;
    let config = hub_config(fx).await;
    for (router, site) in routers.iter().zip([TOWN_HALL, "ecole", "mediatheque"]) {
        let (old, new) = (site_status(&before, site), site_status(&after, site));
        assert_ne!(old.public_key, new.public_key, "{site}");
        assert_eq!(router.live_public_key("socle0"), new.public_key, "{site}");
        assert!(
            !config.contains(old.public_key.as_deref().unwrap()),
            "{site}'s old key retired"
        );
    }
}

async fn drift_is_the_sites(fx: &Fixture, router: &Router, name: &str) {
    fx.wait_ready(name, "Configured", PUSH).await;
    let pushed = router.uci();
    router.set_uci(&pushed.replace("persistent_keepalive='25'", "persistent_keepalive='0'"));
    poke(fx, name).await;
    let drifted = fx.wait_ready(name, "DriftNotCorrected", PUSH).await;
    let drift = condition(&drifted, "VpnDrift").unwrap();
    assert_eq!(drift.status, "True");
    assert!(
        drift
            .message
            .starts_with("site mediatheque: router 127.0.0.1"),
        "{}",
        drift.message
    );
    let ready = condition(&drifted, "VpnReady").unwrap().message;
    assert!(
        ready.ends_with("configured: site mairie, site ecole"),
        "{ready}"
    );
}

async fn one_site_leaves(
    fx: &Fixture,
    routers: &[Router; 3],
    name: &str,
    mut listed: Vec<serde_json::Value>,
) {
    let kept: Vec<(String, usize)> = routers[..2]
        .iter()
        .map(|r| (r.uci(), r.steps("apply")))
        .collect();
    let before = fx.member_now(name).await;
    listed.pop();
    fx.patch_vpn(name, json!({"sites": listed})).await;
    eventually(PUSH, || async {
        ensure!(
            routers[2].uci().trim().is_empty(),
            "the médiathèque's router still configured"
        );
        Ok(())
    })
    .await;
    let after = fx.wait_ready(name, "Configured", PUSH).await;
    let statuses = &after.status.as_ref().unwrap().vpn.as_ref().unwrap().sites;
    let shown: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(shown, [TOWN_HALL, "ecole"]);
    for (i, router) in routers[..2].iter().enumerate() {
        assert_eq!(
            (router.uci(), router.steps("apply")),
            kept[i],
            "router {i} untouched"
        );
        let site = shown[i];
        assert_eq!(
            site_status(&before, site),
            site_status(&after, site),
            "{site}"
        );
    }
    let config = hub_config(fx).await;
    assert!(
        !config.contains(&format!("# member {name}.mediatheque")),
        "{config}"
    );
    let claims = ipam::claims(&fx.scope.client(), &fx.operator_namespace, &fx.gateway)
        .await
        .unwrap();
    let of = |site: &str| {
        claims
            .iter()
            .find(|c| c.member == name && c.site == site)
            .unwrap()
    };
    assert!(
        of("mediatheque").released_at.is_some(),
        "its address is quarantined"
    );
    assert!(of(TOWN_HALL).released_at.is_none() && of("ecole").released_at.is_none());
    let keys = Api::<Secret>::namespaced(fx.scope.client(), &fx.operator_namespace);
    let gone = secrets::member_secret(&format!("{name}.mediatheque"));
    assert!(keys.get_opt(&gone).await.unwrap().is_none(), "{gone} kept");
    let removed = events_of_type(fx, name, "Normal").await;
    assert!(
        removed
            .iter()
            .any(|(reason, note)| reason == "VpnSiteRemoved"
                && note.contains("site mediatheque")
                && note.contains("interface socle0 removed from router")),
        "{removed:?}"
    );
}
