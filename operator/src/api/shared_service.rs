//! `SharedService`: a mutualised service of the agglomeration — VPN gateway,
//! backup target, storage, hosted application, telephony or group-purchase
//! contract — with its subscribers and how its cost is shared (article 2.3.4,
//! annex 2).

use jiff::civil::Date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contribution::model::{AllocationKey, Cents};

/// A mutualised service and who subscribes to it.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "A mutualised service of the agglomeration and its subscribers.",
    version = "v1alpha1",
    kind = "SharedService",
    status = "SharedServiceStatus",
    shortname = "svc-socle",
    shortname = "ss",
    category = "socle",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Category","type":"string","jsonPath":".spec.category"}"#,
    printcolumn = r#"{"name":"Level","type":"integer","jsonPath":".spec.serviceLevel"}"#,
    printcolumn = r#"{"name":"Subscribers","type":"integer","jsonPath":".status.subscriberCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.category != 'VpnGateway' || has(self.vpnGateway)").message("a VpnGateway service needs spec.vpnGateway (public endpoint, listen port, tunnel pool)").field_path(".vpnGateway"))]
#[x_kube(validation = Rule::new("self.category != 'BackupTarget' || has(self.backupTarget)").message("a BackupTarget service needs spec.backupTarget (Velero namespace and storage location)").field_path(".backupTarget"))]
#[x_kube(validation = Rule::new("self.category != 'GroupPurchase' || has(self.contract)").message("a GroupPurchase service needs spec.contract (reference, supplier, annual cost, allocation key)").field_path(".contract"))]
#[serde(rename_all = "camelCase")]
pub struct SharedServiceSpec {
    /// Name shown to people, e.g. "Passerelle VPN du Datacenter".
    #[schemars(length(min = 1, max = 100))]
    pub display_name: String,
    /// What kind of service this is.
    pub category: ServiceCategory,
    /// Service level of annex 2: 2 (software), 3 (infrastructure) or 4 (workstation).
    #[schemars(range(min = 2, max = 4))]
    pub service_level: u8,
    /// Where it runs: in the agglomeration's Datacenter, or as SaaS at a supplier.
    pub hosting: Hosting,
    /// The contract whose cost the subscribers share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// Who subscribes.
    #[serde(default)]
    pub subscribers: Subscribers,
    /// VpnGateway only: the Datacenter's WireGuard hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway: Option<VpnGatewaySettings>,
    /// BackupTarget only: where Velero stores the backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_target: Option<BackupTargetSettings>,
    /// Storage only: the storage class tenants get by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSettings>,
}

/// Categories of shared services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceCategory {
    /// The Datacenter end of the site-to-site tunnels.
    VpnGateway,
    /// Where tenant backups go.
    BackupTarget,
    /// Persistent storage for tenants.
    Storage,
    /// A hosted business application.
    Application,
    /// Telephony.
    Telephony,
    /// A group-purchase contract (groupement de commandes).
    GroupPurchase,
}

/// Where a service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Hosting {
    /// In REDON Agglomération's Datacenter.
    Datacenter,
    /// At the supplier, as software-as-a-service.
    SaaS,
}

/// The contract behind a service and how its cost is shared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.endDate) || self.endDate > self.startDate").message("contract endDate must be after its startDate").field_path(".endDate"))]
pub struct Contract {
    /// Contract (marché) reference, cited on every pass-through line.
    #[schemars(length(min = 1, max = 100))]
    pub reference: String,
    /// Supplier (titulaire du marché).
    #[schemars(length(min = 1, max = 200))]
    pub supplier: String,
    /// First day of the contract.
    pub start_date: Date,
    /// Last day of the contract, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Date>,
    /// Yearly cost passed through to the subscribers, in euro cents.
    #[schemars(range(min = 0))]
    pub annual_cost_cents: Cents,
    /// How the cost is split: PerInhabitant, PerSeat or Equal.
    pub allocation: AllocationKey,
}

/// The members subscribing to a service: by label, by name, or both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscribers {
    /// Members whose labels match subscribe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Members named here subscribe, with their seats for a PerSeat split.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub members: Vec<SeatAssignment>,
}

/// One named subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatAssignment {
    /// Name of the Member.
    #[schemars(length(min = 1, max = 63))]
    pub member: String,
    /// Seats (licences, accounts) held; counts for a PerSeat split.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub seats: u32,
}

fn one() -> u32 {
    1
}

/// The WireGuard hub in the Datacenter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpnGatewaySettings {
    /// Public endpoint the routers dial, "host:port", e.g. "vpn.redon-agglomeration.bzh:51820".
    #[schemars(regex(pattern = r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$"))]
    pub public_endpoint: String,
    /// UDP port the hub listens on.
    #[serde(default = "default_wireguard_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub listen_port: u16,
    /// Pool the tunnel addresses are allotted from, e.g. "10.200.0.0/22".
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 4").message("tunnelPoolCidr must be an IPv4 network in CIDR notation, e.g. 10.200.0.0/22"))]
    pub tunnel_pool_cidr: String,
    /// Namespace of the gateway Deployment; tenants accept traffic from it.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

fn default_wireguard_port() -> u16 {
    51820
}

/// Where Velero stores the tenants' backups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupTargetSettings {
    /// Namespace where Velero runs.
    #[schemars(length(min = 1, max = 63))]
    pub velero_namespace: String,
    /// Velero BackupStorageLocation name.
    #[schemars(length(min = 1, max = 63))]
    pub storage_location: String,
}

/// Storage defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSettings {
    /// Storage class of tenant volumes when the Member does not name one.
    #[schemars(length(min = 1, max = 253))]
    pub storage_class: String,
}

/// What the operator observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedServiceStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready and per-category conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Number of members subscribing, by label and by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_count: Option<u32>,
}
