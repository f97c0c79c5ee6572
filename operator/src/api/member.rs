//! `Member`: one adherent of the shared service (a commune or an associated
//! public body), from its signed adhesion to its tenant, VPN and backups.
//!
//! The billing fields (`displayName`, `inseeCode`, `population`,
//! `hasItDepartment`, `subscriptions`, `tariffOverride`) are a contract shared
//! with the GitOps repository and the finance exports: their names never change.

use jiff::{Timestamp, civil::Date};
use k8s_openapi::apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::Condition};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contribution::model::{Cents, Offer, Population, Subscription, TariffOverride};

/// An adherent of the shared IT service: identity, population, adhesion
/// history and, when hosted, its tenant, VPN and backup settings.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "An adherent of the shared IT service (commune or associated public body).",
    version = "v1alpha1",
    kind = "Member",
    status = "MemberStatus",
    shortname = "mbr",
    category = "socle",
    printcolumn = r#"{"name":"Commune","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"INSEE","type":"string","jsonPath":".spec.inseeCode"}"#,
    printcolumn = r#"{"name":"Population","type":"integer","jsonPath":".spec.population.count"}"#,
    printcolumn = r#"{"name":"Offer","type":"string","description":"Latest subscription in the adhesion history","jsonPath":".spec.subscriptions[-1:].offer"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new(
    "has(self.tariffOverride) || !((self.population.count > 8000 && self.subscriptions.exists(s, s.offer != 'GroupementAchats')) || (self.hasItDepartment && self.subscriptions.exists(s, s.offer == 'SocleComplet')))"
).message(
    "article 7.1 (*): the price grid does not apply above 8 000 inhabitants (Audit, SocleComplet) or to a member with its own IT department (SocleComplet); set spec.tariffOverride with the prices decided by the pilotage commission"
).field_path(".tariffOverride"))]
#[x_kube(validation = Rule::new("!has(self.tariffOverride) || self.population.count <= 8000 || !self.subscriptions.exists(s, s.offer == 'Audit') || has(self.tariffOverride.auditCents)")
    .message("article 7.2.1: above 8 000 inhabitants the grid has no audit price; an Audit member needs spec.tariffOverride.auditCents")
    .field_path(".tariffOverride"))]
#[x_kube(validation = Rule::new("!has(self.tariffOverride) || !self.subscriptions.exists(s, s.offer == 'SocleComplet') || (has(self.tariffOverride.fixedCents) && has(self.tariffOverride.perInhabitantCents))")
    .message("spec.tariffOverride must set fixedCents and perInhabitantCents for a SocleComplet member")
    .field_path(".tariffOverride"))]
#[serde(rename_all = "camelCase")]
pub struct MemberSpec {
    /// Name as printed on statements and reports, e.g. "Allaire".
    #[schemars(length(min = 1, max = 100))]
    pub display_name: String,
    /// INSEE code of the commune: five characters, digits or 2A/2B for Corsica, e.g. "56001".
    #[schemars(regex(pattern = r"^([0-9]{5}|2[AB][0-9]{3})$"))]
    pub insee_code: String,
    /// Commune, or associated public body (EtablissementPublic: CCAS, syndicat…).
    #[serde(default)]
    pub kind: MemberKind,
    /// SIRET of the debtor, printed on the titres de recettes when known (14 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{14}$"))]
    pub siret: Option<String>,
    /// Legal population used for billing (article 7).
    #[x_kube(validation = Rule::new("self.count >= 1").message("population.count must be at least 1").field_path(".count"))]
    #[x_kube(validation = Rule::new("self.year >= 1990 && self.year <= 2100").message("population.year must be an INSEE reference year such as 2021").field_path(".year"))]
    pub population: Population,
    /// Article 7.1 (*): true when the member has its own IT department; the grid
    /// then does not price the socle complet and a tariffOverride is needed.
    #[serde(default)]
    pub has_it_department: bool,
    /// Adhesion history, oldest first, each entry decided by a deliberation.
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("self.all(s, s.offer == 'Audit' || !has(s.auditReportDate))").message("auditReportDate is only allowed on Audit subscriptions"))]
    #[x_kube(validation = Rule::new("self.all(s, !has(s.endDate) || s.endDate >= s.effectiveDate)").message("a subscription's endDate (its last day in force) must not be before its effectiveDate"))]
    #[x_kube(validation = Rule::new("self.all(s, !has(s.auditReportDate) || s.auditReportDate >= s.effectiveDate)").message("an audit report cannot be delivered before the audit's effectiveDate"))]
    #[x_kube(validation = Rule::new("self.all(s, !has(s.noticeDate) || (has(s.endDate) && s.noticeDate <= s.endDate))").message("article 2.4: a subscription's noticeDate (the day notice of termination was given) needs the endDate it announces, and comes before it"))]
    pub subscriptions: Vec<Subscription>,
    /// Prices decided by the pilotage commission when the grid cannot price the
    /// member (article 7.1 (*)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff_override: Option<TariffOverride>,
    /// Who decides and who to call (article 6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Contacts>,
    /// Hosting in the Datacenter: namespace, quotas, storage, admin groups.
    /// Absent for a member that is not hosted (e.g. audit only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantSpec>,
    /// Site-to-site WireGuard tunnels to the commune's routers, one per site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<VpnSpec>,
    /// Backups and restore drills (PRI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
}

/// What kind of public body the member is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MemberKind {
    /// A commune of the agglomeration.
    #[default]
    Commune,
    /// An associated public body (établissement public: CCAS, syndicat, …).
    EtablissementPublic,
}

/// The member's two contacts (article 6.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contacts {
    /// The elected official or director who decides for the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_maker: Option<Contact>,
    /// The person the DSI calls about the town hall's equipment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technical: Option<Contact>,
}

/// A person to reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Full name.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// Role, e.g. "Maire", "Secrétaire de mairie".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"))]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The member's tenant in the Datacenter cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// CPU quota (sum of requests), e.g. "4". Absent: a default by population bracket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory quota (sum of requests), e.g. "8Gi". Absent: a default by population bracket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Persistent storage of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<TenantStorage>,
    /// Groups of the commune's administrators (from the identity provider),
    /// bound to the tenant-admin role in the tenant's namespace only. Never
    /// a Kubernetes system group (`system:…`).
    #[serde(default)]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(g, !g.startsWith('system:'))").message("adminGroups must not name a Kubernetes system group (system:…): its members are not the commune's administrators (system:serviceaccounts is every pod of the cluster, system:authenticated every user); name the commune's group from the identity provider"))]
    pub admin_groups: Vec<String>,
}

/// The tenant's persistent volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStorage {
    /// Size of the tenant's data volume, e.g. "100Gi".
    pub size: Quantity,
    /// Storage class; absent: the one of the Storage SharedService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// The commune's side of its site-to-site tunnels: one per site (town
/// hall, school, médiathèque), each with its own router.
///
/// Two forms, both accepted: `sites` (one entry per site), or, for a commune
/// with a single router, `router` and `siteCidrs` beside `gateway` — read as
/// the one site named `mairie`. The town hall's site `mairie` keeps the names
/// a single-router tunnel always had (its key Secret, address claim and hub
/// peer), so rewriting a single-router Member as `sites: [{name: mairie, …}]`
/// changes nothing on the router or at the hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.sites) || (!has(self.router) && !has(self.siteCidrs))").message("spec.vpn: give the sites either as spec.vpn.sites (one entry per site: name, siteCidrs, router) or, for a single router, as spec.vpn.router and spec.vpn.siteCidrs; not both"))]
#[x_kube(validation = Rule::new("has(self.sites) || (has(self.router) && has(self.siteCidrs))").message("spec.vpn needs its sites: spec.vpn.sites (one entry per site: name, siteCidrs, router), or spec.vpn.router with spec.vpn.siteCidrs for a single router"))]
pub struct VpnSpec {
    /// Name of the SharedService (category VpnGateway) the tunnels end on.
    #[schemars(length(min = 1, max = 63))]
    pub gateway: String,
    /// The commune's sites, each with its own router and tunnel (town hall,
    /// school, médiathèque). Instead of `router` and `siteCidrs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub sites: Vec<VpnSite>,
    /// Single-router form: the town hall's networks reached through the
    /// tunnel, e.g. 192.168.10.0/24 (the site `mairie`). Instead of `sites`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 8))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("every siteCidrs entry must be a network in CIDR notation, e.g. 192.168.10.0/24"))]
    pub site_cidrs: Vec<String>,
    /// Single-router form: the town hall's router socle configures over SSH
    /// (the site `mairie`). Instead of `sites`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<RouterSpec>,
    /// Compute the change and show it in status, but push nothing to any
    /// site's router.
    #[serde(default)]
    pub dry_run: bool,
    /// When a router's tunnel configuration was changed by hand, put
    /// socle's back. Off (default): report the drift (condition VpnDrift and
    /// an Event) and leave the router as the technician left it.
    #[serde(default)]
    pub correct_drift: bool,
}

/// The name of the site of the single-router form: the town hall.
pub const TOWN_HALL: &str = "mairie";

/// One site of a commune and its router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpnSite {
    /// The site's name, a DNS label: "mairie", "ecole", "mediatheque". It
    /// names the site's key Secret and hub peer; `mairie` is the town hall,
    /// as the single-router form is read.
    #[schemars(
        length(min = 1, max = 30),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// The site's networks reached through its tunnel, e.g. 192.168.11.0/24.
    // Each entry bounded (an IPv6 network is 43 characters at most), so that
    // the API server's estimate of the CEL rule's cost, over 16 sites of 8
    // networks, stays within its budget.
    #[schemars(length(min = 1, max = 8), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("every siteCidrs entry of a site must be a network in CIDR notation, e.g. 192.168.11.0/24"))]
    pub site_cidrs: Vec<String>,
    /// The site's router, which socle configures over SSH.
    pub router: RouterSpec,
    /// Dry run for this site alone (spec.vpn.dryRun covers every site):
    /// its change is shown in status, nothing is pushed to its router.
    #[serde(default)]
    pub dry_run: bool,
}

/// A site of `spec.vpn`, whichever form gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiteRef<'a> {
    pub name: &'a str,
    pub site_cidrs: &'a [String],
    pub router: &'a RouterSpec,
    /// Its own dry run or the whole VPN's.
    pub dry_run: bool,
    /// Where it is written: `spec.vpn` (single-router form) or `spec.vpn.sites[i]`.
    pub path: SitePath,
}

/// Where a site is written in the Member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitePath {
    /// `spec.vpn.router` and `spec.vpn.siteCidrs`.
    SingleRouter,
    /// `spec.vpn.sites[i]`.
    Listed(usize),
}

impl std::fmt::Display for SitePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SingleRouter => f.write_str("spec.vpn"),
            Self::Listed(index) => write!(f, "spec.vpn.sites[{index}]"),
        }
    }
}

impl VpnSpec {
    /// The sites, in spec order: the listed ones, or the single router's
    /// as the site `mairie`.
    pub fn sites(&self) -> Vec<SiteRef<'_>> {
        if let Some(router) = self.router.as_ref().filter(|_| self.sites.is_empty()) {
            return vec![SiteRef {
                name: TOWN_HALL,
                site_cidrs: &self.site_cidrs,
                router,
                dry_run: self.dry_run,
                path: SitePath::SingleRouter,
            }];
        }
        self.sites
            .iter()
            .enumerate()
            .map(|(index, site)| SiteRef {
                name: &site.name,
                site_cidrs: &site.site_cidrs,
                router: &site.router,
                dry_run: self.dry_run || site.dry_run,
                path: SitePath::Listed(index),
            })
            .collect()
    }
}

/// How to reach and configure the town hall's router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterSpec {
    /// Address of the router's SSH service (IP or host name).
    #[schemars(length(min = 1, max = 253))]
    pub address: String,
    /// SSH port.
    #[serde(default = "default_ssh_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Configuration language of the router.
    pub dialect: RouterDialect,
    /// The router's SSH host key, pinned: "ssh-ed25519 AAAA…". socle never
    /// trusts a key on first use; a different key aborts the push.
    #[schemars(regex(pattern = r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+$"))]
    pub host_key: String,
    /// Name of the Secret, in the operator's namespace, holding `username` and
    /// `privateKey` (or `password`) for the router. It must carry the label
    /// socle.redon-agglomeration.bzh/member=<this member's name>: socle
    /// refuses any other before connecting (VpnReady=False, CredentialsNotTied).
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: String,
}

fn default_ssh_port() -> u16 {
    22
}

/// Router configuration dialects socle can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouterDialect {
    /// OpenWrt: `uci` network configuration.
    Openwrt,
    /// Linux: a wg-quick file applied with `wg syncconf`.
    Linux,
}

/// Disaster-recovery (PRI) tier and restore drills.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Tier: Essential, Standard or Critical; sets RPO, RTO and retention.
    pub tier: PriTier,
    /// Override of the tier's recovery point objective, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5))]
    pub rpo_minutes: Option<u32>,
    /// Override of the tier's recovery time objective, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5))]
    pub rto_minutes: Option<u32>,
    /// Override of the tier's retention, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: Option<u32>,
    /// Name of the SharedService (category BackupTarget) to back up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Restore drills: when to prove that the backups restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillSchedule>,
}

/// PRI tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PriTier {
    /// Daily backups, 30 days kept.
    Essential,
    /// Backups every 4 hours, 90 days kept.
    Standard,
    /// Hourly backups, one year kept.
    Critical,
}

/// When restore drills run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillSchedule {
    /// Cron expression (five fields), e.g. "0 3 1 * *" for the first of each month at 03:00.
    #[schemars(regex(pattern = r"^(\S+\s+){4}\S+$"))]
    pub schedule: String,
}

/// What the operator observed and did for this member.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, plus one condition per capability (TenantReady, VpnReady,
    /// VpnDrift, BackupReady, DrillHealthy, Offboarding). A map keyed by type:
    /// each controller applies only the conditions it owns.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The tenant's namespace, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The tunnel, once configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<VpnStatus>,
    /// Backups and drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
    /// Running estimate of the current exercise's contribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution: Option<ContributionEstimate>,
}

/// The member's ends of its tunnels, one per site. Never a private key:
/// those stay in Secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpnStatus {
    /// Each site's tunnel, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub sites: Vec<VpnSiteStatus>,
}

impl VpnStatus {
    /// The status of the site `name`.
    pub fn site(&self, name: &str) -> Option<&VpnSiteStatus> {
        self.sites.iter().find(|site| site.name == name)
    }
}

/// One site's end of its tunnel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpnSiteStatus {
    /// The site (spec.vpn.sites[].name; `mairie` for the single-router form).
    pub name: String,
    /// Tunnel address allotted from the gateway's pool, e.g. "10.200.0.7/32".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_address: Option<String>,
    /// The site's WireGuard public key (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The site networks the hub was last given for this site. When two
    /// sites' networks overlap, the one already holding the prefix here
    /// keeps it and the site that changed is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_cidrs: Vec<String>,
    /// When the site's router configuration was last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push: Option<Timestamp>,
    /// In dry run: the change that would be pushed to the site's router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_diff: Option<String>,
    /// The rotate-vpn-key request that the site's latest key rotation
    /// answered; a different value asks for another rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotation_request: Option<String>,
    /// When the site's latest key rotation retired the old key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key_rotation: Option<Timestamp>,
    /// The tunnel's health as the hub last heard it (RouterHeard,
    /// RouterSilent or NoHandshake; see the condition VpnHealthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// Latest backup and drill.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// Name of the Velero Schedule of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Completion time of the latest completed backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<Timestamp>,
    /// Name of the latest DrillReport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<String>,
    /// Verdict of the latest drill: Passed or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_verdict: Option<String>,
    /// The value of the drill-now annotation that the latest on-demand drill
    /// answered; a different value asks for another drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_request: Option<String>,
    /// Bytes the completed backups of the member's schedule take in the
    /// object store: Velero's last tarball size of the schedule times the
    /// backups it keeps. The inventory's `backup-gib-months`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_bytes: Option<u64>,
}

/// The contribution the member would owe for the exercise if it ended today.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContributionEstimate {
    /// The exercise (calendar year).
    pub exercise: i16,
    /// Total in euro cents.
    pub total_cents: Cents,
    /// Name of the ContributionStatement holding the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
}

/// What the adhesion history says on a given day: one reading for every
/// controller (tenant, backup) and the tests.
impl Member {
    /// The offer in force on `day`: the highest of the active subscriptions
    /// (SocleComplet > GroupementAchats > Audit).
    pub fn offer_on(&self, day: Date) -> Option<Offer> {
        self.spec
            .subscriptions
            .iter()
            .filter(|s| s.effective_date <= day && s.end_date.is_none_or(|end| end >= day))
            .map(|s| s.offer)
            .max()
    }

    /// The last day in force, when every subscription has ended before `day`:
    /// the commune has left (article 2.4). `None` while any runs or is to come.
    pub fn left_on(&self, day: Date) -> Option<Date> {
        let ends: Option<Vec<Date>> = self.spec.subscriptions.iter().map(|s| s.end_date).collect();
        ends.and_then(|ends| ends.into_iter().max())
            .filter(|last| *last < day)
    }

    /// Whether the member is hosted on `day`: it has not left, and it
    /// declares a tenant or has the socle complet (whose level 3 is hosting
    /// in the Datacenter).
    pub fn hosted_on(&self, day: Date) -> bool {
        self.left_on(day).is_none()
            && (self.spec.tenant.is_some() || self.offer_on(day) == Some(Offer::SocleComplet))
    }
}
