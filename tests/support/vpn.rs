//! What the VPN tests share: a scope with its copy of socle's install (the
//! operator's namespace, a gateway namespace with the hub's RoleBinding, the
//! ServiceAccount) and a VpnGateway SharedService; the VPN controller run
//! in-process as that ServiceAccount, with its logs captured; Members
//! pointing at emulated routers.

use std::{
    io::Write,
    sync::{
        Arc, Mutex,
        mpsc::{self, RecvTimeoutError},
    },
    thread,
    time::Duration,
};

use crate::{
    TestScope, eventually,
    install::ScopedInstall,
    router::{Router, SshRouter},
};
use anyhow::ensure;
use futures::channel::oneshot;
use k8s_openapi::{
    api::{core::v1::Secret, events::v1::Event},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use socle::{
    api::{
        Member,
        member::{RouterDialect, VpnSiteStatus},
    },
    runtime::{Context, watch::MemberWatch},
    vpn::{self, VpnSettings, hub},
};

/// How long offboarding every Member may take at the end of a test.
const OFFBOARD: Duration = Duration::from_secs(90);

/// One site of a Member made by [`Fixture::member_of_sites`].
#[allow(missing_debug_implementations)] // a router is not Debug
pub struct Site<'a> {
    pub name: &'a str,
    pub router: &'a dyn SshRouter,
    pub dialect: RouterDialect,
    pub networks: &'a [&'a str],
}

/// One test's VPN world.
pub struct Fixture {
    pub scope: TestScope,
    /// The scope's copy of the install, whose ServiceAccount the operator is.
    pub install: ScopedInstall,
    /// The install's copy of `socle-system`: keys, claims, credentials.
    pub operator_namespace: String,
    /// The install's copy of `socle-vpn-gateway`: the hub Secret.
    pub gateway_namespace: String,
    pub gateway: String,
    settings: VpnSettings,
    operator: Option<VpnOperator>,
    logs: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("scope", &self.scope)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// A scope with its namespaces, gateway (pool 10.200.0.0/24) and
    /// operator, SSH timeout 10 s.
    pub async fn new(test: &str) -> Self {
        Self::with_timeout(test, Duration::from_secs(10)).await
    }

    pub async fn with_timeout(test: &str, ssh_timeout: Duration) -> Self {
        Self::with_settings(test, |settings| settings.ssh_timeout = ssh_timeout).await
    }

    /// [`Fixture::new`], with `edit` changing the operator's VPN settings.
    pub async fn with_settings(test: &str, edit: impl FnOnce(&mut VpnSettings)) -> Self {
        Self::with_endpoint(test, "127.0.0.1:51820", edit).await
    }

    /// [`Fixture::with_settings`], the gateway's public endpoint at `endpoint`.
    pub async fn with_endpoint(
        test: &str,
        endpoint: &str,
        edit: impl FnOnce(&mut VpnSettings),
    ) -> Self {
        let scope = TestScope::new(test).await;
        let client = scope.client();
        install_crds(&client).await;
        let install = ScopedInstall::apply(&scope).await;
        let operator_namespace = install.namespace.clone();
        let gateway_namespace = install.gateway_namespace.clone();
        let gateway = scope.name("dc");
        let service = json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1",
            "kind": "SharedService",
            "metadata": {"name": gateway, "labels": scope.labels()},
            "spec": {
                "displayName": "Passerelle VPN du Datacenter",
                "category": "VpnGateway",
                "serviceLevel": 3,
                "hosting": "Datacenter",
                "vpnGateway": {
                    "publicEndpoint": endpoint,
                    "tunnelPoolCidr": "10.200.0.0/24",
                    "namespace": gateway_namespace,
                },
            },
        });
        dynamic(&client, "sharedservices")
            .create(
                &PostParams::default(),
                &serde_json::from_value(service).unwrap(),
            )
            .await
            .expect("creating the gateway");
        let mut settings = VpnSettings {
            ssh_timeout: Duration::from_secs(10),
            drift_interval: Duration::from_secs(300),
            ..VpnSettings::default()
        };
        edit(&mut settings);
        let logs = Arc::new(Mutex::new(Vec::new()));
        let operator = VpnOperator::start(&scope, &install, settings.clone(), logs.clone()).await;
        Self {
            scope,
            install,
            operator_namespace,
            gateway_namespace,
            gateway,
            settings,
            operator: Some(operator),
            logs,
        }
    }

    /// A Member `<base>-<id>` whose VPN goes to `router`; returns its name.
    pub async fn member(
        &mut self,
        base: &str,
        router: &impl SshRouter,
        dialect: RouterDialect,
        sites: &[&str],
    ) -> String {
        self.member_with(base, router, dialect, sites, |_| {}).await
    }

    /// [`Fixture::member`], with `edit` changing `spec.vpn` first.
    pub async fn member_with(
        &mut self,
        base: &str,
        router: &impl SshRouter,
        dialect: RouterDialect,
        sites: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> String {
        let name = self.scope.name(base);
        let router = self
            .router_spec(&format!("router-{base}"), &name, router, dialect)
            .await;
        let mut vpn = json!({"gateway": self.gateway, "siteCidrs": sites, "router": router});
        edit(&mut vpn);
        self.create_member(&name, base, vpn).await;
        name
    }

    /// A Member `<base>-<id>` with `sites` in `spec.vpn.sites`, each with
    /// its router and a credentials Secret of its own; returns its name.
    pub async fn member_of_sites(&mut self, base: &str, sites: &[Site<'_>]) -> String {
        let name = self.scope.name(base);
        let mut listed = Vec::new();
        for site in sites {
            let credentials = format!("router-{base}-{}", site.name);
            let router = self
                .router_spec(&credentials, &name, site.router, site.dialect)
                .await;
            listed.push(json!({"name": site.name, "siteCidrs": site.networks, "router": router}));
        }
        let vpn = json!({"gateway": self.gateway, "sites": listed});
        self.create_member(&name, base, vpn).await;
        name
    }

    /// `spec.vpn.router` (or a site's `router`) for `router`, with a
    /// credentials Secret `<credentials>-<id>` labelled as `member`'s.
    pub async fn router_spec(
        &self,
        credentials: &str,
        member: &str,
        router: &(impl SshRouter + ?Sized),
        dialect: RouterDialect,
    ) -> Value {
        let credentials = self
            .create_credentials(
                credentials,
                member,
                &router.username(),
                &router.client_private_key(),
            )
            .await;
        json!({
            "address": router.address(),
            "port": router.port(),
            "dialect": serde_json::to_value(dialect).unwrap(),
            "hostKey": router.host_key(),
            "credentialsSecret": credentials,
        })
    }

    async fn create_member(&self, name: &str, base: &str, vpn: Value) {
        let member = json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1",
            "kind": "Member",
            "metadata": {"name": name, "labels": self.scope.labels()},
            "spec": {
                "displayName": base,
                "inseeCode": "56001",
                "population": {"count": 3875, "year": 2021},
                "subscriptions": [{"offer": "SocleComplet", "effectiveDate": "2025-09-01"}],
                "vpn": vpn,
            },
        });
        Api::<Member>::all(self.scope.client())
            .create(
                &PostParams::default(),
                &serde_json::from_value(member).unwrap(),
            )
            .await
            .unwrap_or_else(|error| panic!("creating Member {name}: {error}"));
    }

    /// A credentials Secret `<base>-<id>` of Member `member` (labelled as
    /// its router login) for `username` with `private_key`; returns its name.
    pub async fn create_credentials(
        &self,
        base: &str,
        member: &str,
        username: &str,
        private_key: &str,
    ) -> String {
        let name = self.scope.name(base);
        let mut labels = self.scope.labels();
        labels.insert(socle::labels::MEMBER.to_owned(), member.to_owned());
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": self.operator_namespace, "labels": labels},
            "stringData": {"username": username, "privateKey": private_key},
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.scope.client(), &self.operator_namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("creating credentials");
        name
    }

    /// Waits until `VpnReady` of `name` has `reason`; returns the Member.
    /// `Pushed` also accepts `InSync`: the reconcile after a push (its status
    /// write triggers one) finds the router in sync.
    pub async fn wait_ready(&self, name: &str, reason: &str, timeout: Duration) -> Member {
        let members = Api::<Member>::all(self.scope.client());
        eventually(timeout, || async {
            let member = members.get(name).await?;
            let ready = condition(&member, "VpnReady");
            ensure!(
                ready.as_ref().is_some_and(|c| c.reason == reason),
                "{name}: VpnReady is {:?}, waiting for reason {reason}",
                ready.map(|c| (c.status, c.reason, c.message))
            );
            Ok(member)
        })
        .await
    }

    pub async fn member_now(&self, name: &str) -> Member {
        Api::<Member>::all(self.scope.client())
            .get(name)
            .await
            .expect("reading the Member")
    }

    /// Merges `value` into `spec.vpn` of `name`.
    pub async fn patch_vpn(&self, name: &str, value: Value) {
        Api::<Member>::all(self.scope.client())
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"vpn": value}})),
            )
            .await
            .expect("patching spec.vpn");
    }

    /// Stops the operator and starts a new one (same settings).
    pub async fn restart_operator(&mut self) {
        if let Some(operator) = self.operator.take() {
            operator.stop().await;
        }
        self.operator = Some(
            VpnOperator::start(
                &self.scope,
                &self.install,
                self.settings.clone(),
                self.logs.clone(),
            )
            .await,
        );
    }

    /// What the operator logged so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }

    /// Every Event about Member `name`, as JSON.
    pub async fn all_events_text(&self, name: &str) -> String {
        serde_json::to_string(&events_about(&self.scope.client(), name).await).unwrap()
    }

    /// Deletes the Members (the operator offboards them), stops the operator,
    /// deletes their Events and everything else of the scope.
    pub async fn finish(mut self) {
        let client = self.scope.client();
        let members = Api::<Member>::all(client.clone());
        let selector = self.scope.selector();
        let listed = members
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        for member in &listed {
            members
                .delete(&member.name_any(), &DeleteParams::background())
                .await
                .ok();
        }
        eventually(OFFBOARD, || async {
            let left = members
                .list_metadata(&ListParams::default().labels(&selector))
                .await?;
            ensure!(
                left.items.is_empty(),
                "Members still there: {:?}",
                left.items
                    .iter()
                    .map(ResourceExt::name_any)
                    .collect::<Vec<_>>()
            );
            Ok(())
        })
        .await;
        if let Some(operator) = self.operator.take() {
            operator.stop().await;
        }
        let events = Api::<Event>::namespaced(client.clone(), "default");
        for member in &listed {
            for event in events_about(&client, &member.name_any()).await {
                events
                    .delete(&event.name_any(), &DeleteParams::default())
                    .await
                    .ok();
            }
        }
        self.scope.cleanup().await;
    }
}

/// Annotates `name` so that the controller reconciles it again.
pub async fn poke(fx: &Fixture, name: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    annotate(fx, name, "socle.test/poke", &now).await;
}

/// Sets annotation `key` of Member `name` to `value`.
pub async fn annotate(fx: &Fixture, name: &str, key: &str, value: &str) {
    Api::<Member>::all(fx.scope.client())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotating the Member");
}

pub fn condition(member: &Member, type_: &str) -> Option<Condition> {
    member
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// The hub's wg-quick configuration, from its Secret.
pub async fn hub_config(fx: &Fixture) -> String {
    let secret = Api::<Secret>::namespaced(fx.scope.client(), &fx.gateway_namespace)
        .get(&hub::secret_name(&fx.gateway))
        .await
        .expect("reading the hub Secret");
    String::from_utf8(secret.data.unwrap()[hub::CONFIG_KEY].0.clone()).unwrap()
}

/// The WireGuard private key of the tunnel `name` (a Member's name for its
/// town hall, `<member>.<site>` for another site), from its Secret.
pub async fn member_key(fx: &Fixture, name: &str) -> String {
    let secret = Api::<Secret>::namespaced(fx.scope.client(), &fx.operator_namespace)
        .get(&vpn::secrets::member_secret(name))
        .await
        .expect("reading the member's key Secret");
    String::from_utf8(secret.data.unwrap()[vpn::secrets::PRIVATE_KEY].0.clone()).unwrap()
}

/// (reason, note) of the Warning Events about `name`.
pub async fn warning_events(fx: &Fixture, name: &str) -> Vec<(String, String)> {
    events_of_type(fx, name, "Warning").await
}

/// (reason, note) of the Events of `type_` (Normal, Warning) about `name`;
/// an Event repeated as a series appears once per occurrence.
pub async fn events_of_type(fx: &Fixture, name: &str, type_: &str) -> Vec<(String, String)> {
    events_about(&fx.scope.client(), name)
        .await
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some(type_))
        .flat_map(|e| {
            let times = e.series.as_ref().map_or(1, |s| s.count.max(1));
            let entry = (e.reason.unwrap_or_default(), e.note.unwrap_or_default());
            std::iter::repeat_n(entry, usize::try_from(times).unwrap_or(1))
        })
        .collect()
}

async fn events_about(client: &Client, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("listing Events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

fn dynamic(client: &Client, plural: &str) -> Api<kube::api::DynamicObject> {
    let resource = kube::api::ApiResource {
        group: "socle.redon-agglomeration.bzh".into(),
        version: "v1alpha1".into(),
        api_version: "socle.redon-agglomeration.bzh/v1alpha1".into(),
        kind: "SharedService".into(),
        plural: plural.into(),
    };
    Api::all_with(client.clone(), &resource)
}

/// Server-side applies socle's CRDs and waits until they are established.
async fn install_crds(client: &Client) {
    crate::install_socle_crds(client).await;
}

/// The VPN controller on a thread of its own (a single-threaded runtime, so
/// that every log line of it, whichever task writes it, is captured).
struct VpnOperator {
    stop: oneshot::Sender<()>,
    stopped: mpsc::Receiver<()>,
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl VpnOperator {
    /// Runs as `install`'s ServiceAccount, in its namespace.
    async fn start(
        scope: &TestScope,
        install: &ScopedInstall,
        settings: VpnSettings,
        logs: Arc<Mutex<Vec<u8>>>,
    ) -> Self {
        let config = install.operator_config(&scope.client()).await;
        let (stop, stop_signal) = oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel::<()>();
        let (namespace, selector) = (install.namespace.clone(), scope.selector());
        thread::spawn(move || {
            let _done = done;
            let capture = Capture(logs);
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_ansi(false)
                .with_writer(move || capture.clone())
                .finish();
            let _logging = tracing::subscriber::set_default(subscriber);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the operator");
            runtime.block_on(async move {
                let client = Client::try_from(config).expect("a client for the operator");
                let context = Context::new(client, namespace, Some(selector));
                let members = MemberWatch::new(&context);
                let stop = async move {
                    stop_signal.await.ok();
                };
                let vpn = vpn::run(context, settings, members.subscribe(), stop);
                members.serve(vpn).await;
            });
        });
        Self { stop, stopped }
    }

    async fn stop(self) {
        self.stop.send(()).ok();
        let stopped = self.stopped;
        let outcome =
            tokio::task::spawn_blocking(move || stopped.recv_timeout(Duration::from_secs(30)))
                .await
                .unwrap();
        assert!(
            !matches!(outcome, Err(RecvTimeoutError::Timeout)),
            "the operator did not stop"
        );
    }
}

/// Asserts that none of `secrets` — raw, or base64-encoded again as in a
/// Secret's JSON — is in the operator's logs, the `routers`' command logs,
/// the `members` (status included) or any Event about them. Never prints a
/// secret: only where it was found. Returns how many searches were made.
pub async fn assert_no_key_material(
    fx: &Fixture,
    secrets: &[String],
    members: &[&str],
    routers: &[&Router],
) -> usize {
    let commands: Vec<String> = routers.iter().map(|r| r.commands().join("\n")).collect();
    let mut places = vec![
        ("operator logs".to_owned(), fx.logs()),
        ("router commands".into(), commands.join("\n")),
    ];
    for name in members {
        let member = Api::<Member>::all(fx.scope.client()).get_opt(name).await;
        if let Ok(Some(member)) = member {
            places.push((
                format!("Member {name}"),
                serde_json::to_string(&member).unwrap(),
            ));
        }
        places.push((format!("Events of {name}"), fx.all_events_text(name).await));
    }
    let mut checked = 0;
    for secret in secrets {
        let encoded = base64_of(secret);
        for (place, text) in &places {
            assert!(
                !text.is_empty() || place.contains("Events"),
                "{place} is empty: nothing was checked"
            );
            assert!(
                !text.contains(secret.as_str()),
                "a private key is in the {place}"
            );
            assert!(
                !text.contains(&encoded),
                "a base64-encoded private key is in the {place}"
            );
            checked += 1;
        }
    }
    checked
}

fn base64_of(text: &str) -> String {
    use std::fmt::Write as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The status of site `site` of `member`.
pub fn site_status(member: &Member, site: &str) -> VpnSiteStatus {
    member
        .status
        .as_ref()
        .and_then(|status| status.vpn.as_ref())
        .and_then(|vpn| vpn.site(site))
        .cloned()
        .unwrap_or_else(|| panic!("no status.vpn.sites entry {site}: {:?}", member.status))
}
