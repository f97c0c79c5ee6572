use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
        NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::meta;
use crate::tenant::plan::TenantPlan;

/// Article 3.4.1 (confidentiality of each member's data): nothing enters or
/// leaves a tenant unless a policy below allows it; no policy ever allows
/// another tenant.
pub fn network_policies(plan: &TenantPlan) -> Vec<NetworkPolicy> {
    let mut policies = vec![
        policy(plan, "default-deny", Vec::new(), Vec::new()),
        policy(
            plan,
            "allow-same-tenant",
            vec![NetworkPolicyIngressRule {
                from: Some(vec![same_namespace()]),
                ports: None,
            }],
            vec![NetworkPolicyEgressRule {
                to: Some(vec![same_namespace()]),
                ports: None,
            }],
        ),
        policy(
            plan,
            "allow-dns",
            Vec::new(),
            vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(namespace_named("kube-system")),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "k8s-app".to_owned(),
                            "kube-dns".to_owned(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ip_block: None,
                }]),
                ports: Some(
                    ["UDP", "TCP"]
                        .map(|protocol| NetworkPolicyPort {
                            port: Some(IntOrString::Int(53)),
                            protocol: Some(protocol.to_owned()),
                            end_port: None,
                        })
                        .to_vec(),
                ),
            }],
        ),
    ];
    if !plan.service_namespaces.is_empty() {
        let peers: Vec<NetworkPolicyPeer> = plan
            .service_namespaces
            .iter()
            .map(|ns| NetworkPolicyPeer {
                namespace_selector: Some(namespace_named(ns)),
                ..NetworkPolicyPeer::default()
            })
            .collect();
        policies.push(policy(
            plan,
            "allow-shared-services",
            vec![NetworkPolicyIngressRule {
                from: Some(peers.clone()),
                ports: None,
            }],
            vec![NetworkPolicyEgressRule {
                to: Some(peers),
                ports: None,
            }],
        ));
    }
    policies
}

fn policy(
    plan: &TenantPlan,
    name: &str,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(plan, name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(ingress),
            egress: Some(egress),
        }),
    }
}

fn same_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

/// Selects one namespace by the label the API server sets on every namespace.
fn namespace_named(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            name.to_owned(),
        )])),
        ..LabelSelector::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::build::fixture;

    #[test]
    fn default_deny_then_explicit_allows() {
        let policies = network_policies(&fixture());
        let names: Vec<_> = policies
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "default-deny",
                "allow-same-tenant",
                "allow-dns",
                "allow-shared-services"
            ]
        );
        let deny = policies[0].spec.as_ref().unwrap();
        assert_eq!(deny.ingress.as_deref(), Some(&[][..]));
        assert_eq!(deny.egress.as_deref(), Some(&[][..]));
    }

    #[test]
    fn peers_are_only_this_tenant_dns_and_its_services() {
        let allowed = ["kube-system", "socle-vpn-gateway"];
        for policy in network_policies(&fixture()) {
            let spec = policy.spec.unwrap();
            let peers = spec
                .ingress
                .unwrap_or_default()
                .into_iter()
                .flat_map(|rule| rule.from.unwrap_or_default())
                .chain(
                    spec.egress
                        .unwrap_or_default()
                        .into_iter()
                        .flat_map(|rule| rule.to.unwrap_or_default()),
                );
            for peer in peers {
                assert!(peer.ip_block.is_none());
                if let Some(selector) = peer.namespace_selector {
                    let name = &selector.match_labels.unwrap()["kubernetes.io/metadata.name"];
                    assert!(allowed.contains(&name.as_str()), "{name}");
                }
            }
        }
    }
}
