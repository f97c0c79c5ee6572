//! Validate: from a Member and what it refers to, the tenant to build — or a
//! message saying which field to fix. Pure: the clock and the referenced
//! SharedServices are passed in.

use std::{collections::BTreeMap, sync::LazyLock};

use jiff::civil::Date;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use super::TenantSettings;
use crate::{
    api::{Member, SharedService, shared_service::ServiceCategory},
    contribution::model::TariffGrid,
    labels,
};

/// Everything the builders need, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantPlan {
    /// `metadata.name` of the Member.
    pub member: String,
    /// The tenant namespace.
    pub namespace: String,
    /// Labels every tenant object carries.
    pub labels: BTreeMap<String, String>,
    pub cpu: Quantity,
    pub memory: Quantity,
    /// The data volume, when the member has storage.
    pub storage: Option<Storage>,
    /// Groups bound to the tenant administrators' ClusterRole.
    pub admin_groups: Vec<String>,
    /// The ClusterRole they are bound to, in this namespace only.
    pub admin_role: String,
    /// Group of the DSI's auditors, granted read-only access.
    pub auditor_group: String,
    /// Namespaces of the Datacenter services the tenant talks to (VPN gateway…),
    /// allowed in and out by the network policies.
    pub service_namespaces: Vec<String>,
}

/// The tenant's data volume.
#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    pub size: Quantity,
    /// `None`: the cluster's default storage class.
    pub class: Option<String>,
}

/// Prefix of the groups Kubernetes fills itself (service accounts, nodes,
/// every authenticated user): never a commune's administrators.
const SYSTEM_GROUPS: &str = "system:";

/// A spec the tenant cannot be built from; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidTenant(pub String);

/// The convention's price grid (article 7): the one source of the
/// population brackets, which also size a tenant's default quota.
static GRID: LazyLock<TariffGrid> = LazyLock::new(TariffGrid::convention);

/// Default quota of each bracket of [`GRID`], in its order: (CPU, memory)
/// requests of the whole tenant.
const QUOTA_BY_BRACKET: [(&str, &str); 4] =
    [("2", "4Gi"), ("4", "8Gi"), ("8", "16Gi"), ("16", "32Gi")];

/// The position of `population`'s bracket in [`GRID`] (the last one when the
/// grid has a gap, which the convention's has not).
fn bracket_index(population: u32) -> usize {
    GRID.brackets
        .iter()
        .position(|b| {
            b.min_population <= population && b.max_population.is_none_or(|max| population <= max)
        })
        .unwrap_or(GRID.brackets.len() - 1)
}

/// Label-safe code of the article 7 population bracket, from its bounds in
/// the grid: `lt1500`, `1500-2999`, `3000-8000`, `gt8000`.
pub fn bracket_code(population: u32) -> String {
    let index = bracket_index(population);
    let bracket = &GRID.brackets[index];
    match (index, bracket.max_population) {
        (0, Some(max)) => format!("lt{}", max + 1),
        (_, Some(max)) => format!("{}-{max}", bracket.min_population),
        (_, None) => format!("gt{}", bracket.min_population - 1),
    }
}

/// Quota defaults by bracket: (CPU, memory) requests of the whole tenant.
fn default_quota(population: u32) -> (&'static str, &'static str) {
    QUOTA_BY_BRACKET[bracket_index(population).min(QUOTA_BY_BRACKET.len() - 1)]
}

pub fn plan(
    member: &Member,
    services: &[SharedService],
    settings: &TenantSettings,
    today: Date,
) -> Result<TenantPlan, InvalidTenant> {
    let name = member.name_any();
    let spec = &member.spec;
    let namespace = settings.namespace_of(&name);
    if namespace.len() > 63 {
        return Err(InvalidTenant(format!(
            "the tenant namespace {namespace} would exceed 63 characters: shorten metadata.name"
        )));
    }
    let tenant = spec.tenant.clone().unwrap_or_default();
    let (cpu, memory) = default_quota(spec.population.count);
    let service = |name: &str, category: ServiceCategory| {
        services
            .iter()
            .find(|s| s.name_any() == name && s.spec.category == category)
            .ok_or_else(|| {
                InvalidTenant(format!(
                    "SharedService {name} (category {category:?}) does not exist; fix the reference or create it"
                ))
            })
    };
    let storage = match tenant.storage {
        None => None,
        Some(storage) => {
            let class = match storage.storage_class {
                Some(class) => Some(class),
                None => services
                    .iter()
                    .filter(|s| s.spec.category == ServiceCategory::Storage)
                    .filter_map(|s| s.spec.storage.as_ref())
                    .map(|settings| settings.storage_class.clone())
                    .min(),
            };
            Some(Storage {
                size: storage.size,
                class,
            })
        }
    };
    let mut service_namespaces = Vec::new();
    if let Some(vpn) = &spec.vpn {
        let gateway = service(&vpn.gateway, ServiceCategory::VpnGateway)?;
        if let Some(settings) = &gateway.spec.vpn_gateway {
            service_namespaces.push(settings.namespace.clone());
        }
    }
    if tenant
        .admin_groups
        .iter()
        .any(|group| group.trim().is_empty())
    {
        return Err(InvalidTenant(
            "spec.tenant.adminGroups contains an empty group name".into(),
        ));
    }
    // Kubernetes puts its own members in `system:` groups, whatever the
    // identity provider says: bound here, system:serviceaccounts would make
    // every pod of the cluster an admin of the tenant. The CRD refuses them
    // too; this holds for a Member written before that rule.
    if let Some(group) = tenant
        .admin_groups
        .iter()
        .find(|group| group.starts_with(SYSTEM_GROUPS))
    {
        return Err(InvalidTenant(format!(
            "spec.tenant.adminGroups: {group} is a Kubernetes system group ({SYSTEM_GROUPS}…), whose members are not the commune's administrators (system:serviceaccounts is every pod of the cluster, system:authenticated every user); name the commune's group from the identity provider"
        )));
    }
    let offer = member
        .offer_on(today)
        .map_or_else(|| "None".to_owned(), |offer| format!("{offer:?}"));
    let labels = BTreeMap::from([
        (labels::MEMBER.to_owned(), name.clone()),
        (labels::INSEE.to_owned(), spec.insee_code.clone()),
        (labels::OFFER.to_owned(), offer),
        (
            labels::BRACKET.to_owned(),
            bracket_code(spec.population.count),
        ),
        (labels::COMPONENT.to_owned(), "tenant".to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
    ]);
    Ok(TenantPlan {
        member: name,
        namespace,
        labels,
        cpu: tenant.cpu.unwrap_or_else(|| Quantity(cpu.into())),
        memory: tenant.memory.unwrap_or_else(|| Quantity(memory.into())),
        storage,
        admin_groups: tenant.admin_groups,
        admin_role: settings.admin_role.clone(),
        auditor_group: settings.auditor_group.clone(),
        service_namespaces,
    })
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::contribution::Offer;

    fn member(yaml: &str) -> Member {
        serde_yaml::from_str(yaml).unwrap()
    }

    const ALLAIRE: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {name: allaire}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {count: 3875, year: 2021}
  subscriptions:
    - {offer: Audit, effectiveDate: "2025-02-01", auditReportDate: "2025-04-15"}
    - {offer: SocleComplet, effectiveDate: "2025-09-01", endDate: "2027-08-31"}
  tenant:
    storage: {size: 50Gi}
    adminGroups: [commune-allaire-admins]
"#;

    #[test]
    fn socle_complet_member_gets_defaults_by_bracket() {
        let plan = plan(
            &member(ALLAIRE),
            &[],
            &TenantSettings::default(),
            date(2026, 3, 1),
        )
        .unwrap();
        assert_eq!(plan.namespace, "commune-allaire");
        assert_eq!(plan.cpu, Quantity("8".into()));
        assert_eq!(plan.memory, Quantity("16Gi".into()));
        assert_eq!(plan.labels[labels::OFFER], "SocleComplet");
        assert_eq!(plan.labels[labels::BRACKET], "3000-8000");
        assert_eq!(
            plan.storage,
            Some(Storage {
                size: Quantity("50Gi".into()),
                class: None
            })
        );
    }

    #[test]
    fn the_offer_follows_the_calendar() {
        let allaire = member(ALLAIRE);
        assert_eq!(allaire.offer_on(date(2025, 1, 31)), None);
        assert_eq!(allaire.offer_on(date(2025, 3, 1)), Some(Offer::Audit));
        assert_eq!(
            allaire.offer_on(date(2025, 9, 1)),
            Some(Offer::SocleComplet)
        );
        assert_eq!(allaire.offer_on(date(2027, 9, 1)), Some(Offer::Audit));
    }

    #[test]
    fn a_member_has_left_once_every_subscription_has_ended() {
        let allaire = member(ALLAIRE);
        assert_eq!(
            allaire.left_on(date(2027, 9, 1)),
            None,
            "the audit has no end"
        );
        assert!(
            allaire.hosted_on(date(2027, 9, 1)),
            "its declared tenant, the audit still in force"
        );
        let mut leaving = allaire.clone();
        leaving.spec.subscriptions[0].end_date = Some(date(2025, 12, 31));
        assert_eq!(leaving.left_on(date(2027, 8, 31)), None, "its last day");
        assert!(leaving.hosted_on(date(2027, 8, 31)));
        assert_eq!(leaving.left_on(date(2027, 9, 1)), Some(date(2027, 8, 31)));
        assert!(
            !leaving.hosted_on(date(2027, 9, 1)),
            "a declared tenant does not outlive the adhesion"
        );
    }

    #[test]
    fn an_unknown_vpn_gateway_is_named() {
        let mut allaire = member(ALLAIRE);
        allaire.spec.vpn = Some(serde_yaml::from_str(
            "{gateway: nowhere, siteCidrs: [192.168.1.0/24], router: {address: r, dialect: openwrt, hostKey: 'ssh-ed25519 AAAA', credentialsSecret: s}}",
        ).unwrap());
        let error = plan(&allaire, &[], &TenantSettings::default(), date(2026, 1, 1)).unwrap_err();
        assert!(error.0.contains("SharedService nowhere"), "{error}");
    }

    #[test]
    fn a_kubernetes_system_group_is_never_a_tenant_admin() {
        let mut allaire = member(ALLAIRE);
        let tenant = allaire.spec.tenant.as_mut().unwrap();
        tenant.admin_groups.push("system:serviceaccounts".into());
        let error = plan(&allaire, &[], &TenantSettings::default(), date(2026, 1, 1)).unwrap_err();
        for part in [
            "spec.tenant.adminGroups",
            "system:serviceaccounts",
            "every pod",
        ] {
            assert!(error.0.contains(part), "{part} not in {error}");
        }
    }

    #[test]
    fn brackets_match_article_7() {
        for (population, code) in [
            (1499, "lt1500"),
            (1500, "1500-2999"),
            (2999, "1500-2999"),
            (3000, "3000-8000"),
            (8000, "3000-8000"),
            (8001, "gt8000"),
        ] {
            assert_eq!(bracket_code(population), code, "{population}");
        }
        assert_eq!(
            QUOTA_BY_BRACKET.len(),
            GRID.brackets.len(),
            "one default quota per bracket of the grid"
        );
    }
}
