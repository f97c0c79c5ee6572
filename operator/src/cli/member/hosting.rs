//! The flags of `socle member new` beyond the adhesion: the tenant, the
//! VPN, the backups and the contacts, each group into its part of the spec.

use clap::{Args, ValueEnum};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use socle::api::member::{
    BackupSpec, Contact, Contacts, DrillSchedule, PriTier, RouterDialect, RouterSpec, TenantSpec,
    TenantStorage, VpnSpec,
};

/// Hosting in the Datacenter (`spec.tenant`).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Tenant (spec.tenant)")]
pub struct TenantFlags {
    /// Size of the tenant's data volume, e.g. 50Gi.
    #[arg(long, value_name = "SIZE")]
    pub storage: Option<String>,
    /// Storage class of the data volume (default: the Storage SharedService's).
    #[arg(long, requires = "storage")]
    pub storage_class: Option<String>,
    /// CPU quota, e.g. 4 (default: by population bracket).
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory quota, e.g. 8Gi (default: by population bracket).
    #[arg(long)]
    pub memory: Option<String>,
    /// Group of the commune's administrators in the identity provider
    /// (repeatable), e.g. commune-guenrouet-admins.
    #[arg(long = "admin-group", value_name = "GROUP")]
    pub admin_groups: Vec<String>,
}

impl TenantFlags {
    pub fn spec(&self) -> Option<TenantSpec> {
        let given = self.storage.is_some()
            || self.cpu.is_some()
            || self.memory.is_some()
            || !self.admin_groups.is_empty();
        given.then(|| TenantSpec {
            cpu: self.cpu.clone().map(Quantity),
            memory: self.memory.clone().map(Quantity),
            storage: self.storage.clone().map(|size| TenantStorage {
                size: Quantity(size),
                storage_class: self.storage_class.clone(),
            }),
            admin_groups: self.admin_groups.clone(),
        })
    }
}

/// Router dialects, as flags spell them.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DialectArg {
    /// OpenWrt (`uci`).
    Openwrt,
    /// Linux (wg-quick file, `wg syncconf`).
    Linux,
}

/// The site-to-site tunnel (`spec.vpn`).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "VPN (spec.vpn)")]
pub struct VpnFlags {
    /// SharedService (category VpnGateway) the tunnel ends on, e.g. vpn-datacenter.
    #[arg(
        long,
        requires_all = ["site_cidrs", "router_address", "router_dialect", "router_host_key"]
    )]
    pub vpn_gateway: Option<String>,
    /// Network of the town hall reached through the tunnel (repeatable), e.g. 192.168.30.0/24.
    #[arg(long = "site-cidr", value_name = "CIDR", requires = "vpn_gateway")]
    pub site_cidrs: Vec<String>,
    /// The router's SSH address (IP or host name).
    #[arg(long, requires = "vpn_gateway")]
    pub router_address: Option<String>,
    /// The router's SSH port.
    #[arg(long, default_value_t = 22, requires = "vpn_gateway")]
    pub router_port: u16,
    /// The router's configuration language.
    #[arg(long, value_enum, requires = "vpn_gateway")]
    pub router_dialect: Option<DialectArg>,
    /// The router's SSH host key, "ssh-ed25519 AAAA…", as `socle vpn host-key`
    /// prints it once its fingerprint is confirmed.
    #[arg(long, value_name = "KEY", requires = "vpn_gateway")]
    pub router_host_key: Option<String>,
    /// Secret (in socle's namespace, labelled with the member's name) holding
    /// the router's login. Default: router-<name>.
    #[arg(long, value_name = "SECRET", requires = "vpn_gateway")]
    pub router_credentials_secret: Option<String>,
}

impl VpnFlags {
    pub fn spec(&self, member: &str) -> Option<VpnSpec> {
        let gateway = self.vpn_gateway.clone()?;
        // The single-router form (the town hall, site `mairie`); a
        // commune's other sites are added to spec.vpn.sites by hand.
        Some(VpnSpec {
            gateway,
            sites: Vec::new(),
            site_cidrs: self.site_cidrs.clone(),
            router: Some(RouterSpec {
                address: self.router_address.clone().unwrap_or_default(),
                port: self.router_port,
                dialect: match self.router_dialect {
                    Some(DialectArg::Linux) => RouterDialect::Linux,
                    Some(DialectArg::Openwrt) | None => RouterDialect::Openwrt,
                },
                host_key: self.router_host_key.clone().unwrap_or_default(),
                credentials_secret: self
                    .router_credentials_secret
                    .clone()
                    .unwrap_or_else(|| format!("router-{member}")),
            }),
            dry_run: false,
            correct_drift: false,
        })
    }
}

/// PRI tiers, as flags spell them.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum TierArg {
    /// Daily backups, 30 days kept.
    Essential,
    /// Backups every 4 hours, 90 days kept.
    Standard,
    /// Hourly backups, one year kept.
    Critical,
}

/// Backups and restore drills (`spec.backup`).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Backups (spec.backup)")]
pub struct BackupFlags {
    /// PRI tier: sets how often backups run and how long they are kept.
    #[arg(long, value_enum, value_name = "TIER")]
    pub backup_tier: Option<TierArg>,
    /// SharedService (category BackupTarget) to back up to, e.g.
    /// sauvegarde-datacenter (needed when there are several).
    #[arg(long, value_name = "SERVICE", requires = "backup_tier")]
    pub backup_target: Option<String>,
    /// Restore drills' schedule, a five-field cron expression, e.g. "0 3 1 * *".
    #[arg(long, value_name = "CRON", requires = "backup_tier")]
    pub drill: Option<String>,
}

impl BackupFlags {
    pub fn spec(&self) -> Option<BackupSpec> {
        let tier = self.backup_tier?;
        Some(BackupSpec {
            tier: match tier {
                TierArg::Essential => PriTier::Essential,
                TierArg::Standard => PriTier::Standard,
                TierArg::Critical => PriTier::Critical,
            },
            rpo_minutes: None,
            rto_minutes: None,
            retention_days: None,
            target: self.backup_target.clone(),
            drill: self
                .drill
                .clone()
                .map(|schedule| DrillSchedule { schedule }),
        })
    }
}

/// The member's contacts (`spec.contacts`, article 6.2).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Contacts (spec.contacts)")]
pub struct ContactFlags {
    /// Who decides for the member (the mayor, a director): full name.
    #[arg(long, value_name = "NAME")]
    pub decision_maker: Option<String>,
    /// Their role, e.g. Maire.
    #[arg(long, value_name = "ROLE", requires = "decision_maker")]
    pub decision_maker_role: Option<String>,
    /// Their e-mail address.
    #[arg(long, value_name = "EMAIL", requires = "decision_maker")]
    pub decision_maker_email: Option<String>,
    /// Their phone number.
    #[arg(long, value_name = "PHONE", requires = "decision_maker")]
    pub decision_maker_phone: Option<String>,
    /// Whom the DSI calls about the town hall's equipment: full name.
    #[arg(long, value_name = "NAME")]
    pub technical_contact: Option<String>,
    /// Their role, e.g. Secrétaire de mairie.
    #[arg(long, value_name = "ROLE", requires = "technical_contact")]
    pub technical_contact_role: Option<String>,
    /// Their e-mail address.
    #[arg(long, value_name = "EMAIL", requires = "technical_contact")]
    pub technical_contact_email: Option<String>,
    /// Their phone number.
    #[arg(long, value_name = "PHONE", requires = "technical_contact")]
    pub technical_contact_phone: Option<String>,
}

impl ContactFlags {
    pub fn spec(&self) -> Option<Contacts> {
        let contact = |name: &Option<String>,
                       role: &Option<String>,
                       email: &Option<String>,
                       phone: &Option<String>| {
            name.clone().map(|name| Contact {
                name,
                role: role.clone(),
                email: email.clone(),
                phone: phone.clone(),
            })
        };
        let decision_maker = contact(
            &self.decision_maker,
            &self.decision_maker_role,
            &self.decision_maker_email,
            &self.decision_maker_phone,
        );
        let technical = contact(
            &self.technical_contact,
            &self.technical_contact_role,
            &self.technical_contact_email,
            &self.technical_contact_phone,
        );
        (decision_maker.is_some() || technical.is_some()).then_some(Contacts {
            decision_maker,
            technical,
        })
    }
}
