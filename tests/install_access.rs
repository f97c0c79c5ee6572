//! What socle's ServiceAccount must be allowed to do, read from the code of
//! each controller, and what it must never be allowed to do; asked of the API
//! server with SelfSubjectAccessReviews.
//!
//! One access per line: `verbs resource [in namespace] [named name]`, the
//! resource as kubectl writes it (`plural[.group][/subresource]`), without a
//! namespace for a cluster-wide access. `{own}`, `{gateway}`, `{velero}`,
//! `{socle}`, `{inspector}` and `{tenant_admin}` are the installed copy's
//! namespace, gateway namespace, Velero namespace, own name, drill inspector
//! and tenant administrators' ClusterRoles; `{tenant}` and `{sandbox}` stand
//! for any such namespace (a review needs no namespace to exist).

use std::fmt;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::{Api, Client, api::PostParams};

/// What the controllers do (see manifests/install/*.yaml for why).
const NEEDED: &str = "
# Every controller: Members (finalizers, status), what they read, Events.
get,list,watch,patch members.socle.redon-agglomeration.bzh
patch members.socle.redon-agglomeration.bzh/status
get,list,watch sharedservices.socle.redon-agglomeration.bzh
get,list,watch tariffs.socle.redon-agglomeration.bzh
create,patch events.events.k8s.io in default
# Tenant: server-side apply creates and patches; orphans are deleted.
get,list,watch,create,patch,delete namespaces
list,watch resourcequotas
list,watch limitranges
list,watch persistentvolumeclaims
list,watch networkpolicies.networking.k8s.io
get,create,patch resourcequotas in {tenant}
get,create,patch limitranges in {tenant}
get,create,patch persistentvolumeclaims in {tenant}
get,create,patch,delete networkpolicies.networking.k8s.io in {tenant}
get,patch persistentvolumes
# The tenant's bindings (a stale admins' one is read, then deleted) of
# ClusterRoles socle does not hold itself.
list,watch rolebindings.rbac.authorization.k8s.io
get,create,patch,delete rolebindings.rbac.authorization.k8s.io in {tenant} named socle-tenant-admin
get,create,patch,delete rolebindings.rbac.authorization.k8s.io in {tenant} named socle-dsi-auditors
bind clusterroles.rbac.authorization.k8s.io in {tenant} named view
bind clusterroles.rbac.authorization.k8s.io in {tenant} named {tenant_admin}
# VPN: keys, pushed configurations, router credentials, address claims; the
# hub Secret at each gateway.
get,list,create,patch,delete secrets in {own}
get,list,create,patch,delete configmaps in {own}
get,create,patch secrets in {gateway} named socle-vpn-hub-vpn-datacenter
# Billing.
get,list,watch,create usagerecords.socle.redon-agglomeration.bzh in {own}
get,list,watch,create,patch,delete contributionstatements.socle.redon-agglomeration.bzh in {own}
# Backups and drills, in Velero's namespace only.
list,watch schedules.velero.io in {velero}
get,list,watch,create backups.velero.io in {velero}
list,watch restores.velero.io in {velero}
get,create,patch,delete schedules.velero.io in {velero}
create restores.velero.io in {velero}
get,create,delete downloadrequests.velero.io in {velero}
create deletebackuprequests.velero.io in {velero}
get,list,watch backupstoragelocations.velero.io in {velero}
get,list,watch,create,delete drillreports.socle.redon-agglomeration.bzh in {own}
# Quality of service: a record per member and month, applied; never deleted.
get,create,patch qualityrecords.socle.redon-agglomeration.bzh in {own}
create,patch networkpolicies.networking.k8s.io in {sandbox}
# A drill binds the read-only inspector role to socle in its sandbox (applied:
# read first), so that it can list whatever was restored, Secrets included.
get,create,patch rolebindings.rbac.authorization.k8s.io in {sandbox} named socle-drill-inspector
bind clusterroles.rbac.authorization.k8s.io in {sandbox} named {inspector}
# Leader election.
create leases.coordination.k8s.io in {own}
get,patch leases.coordination.k8s.io in {own} named socle-leader
";

/// What socle never does, and must not be able to.
const FORBIDDEN: &str = "
# No Secret but its own and the gateways' hub: not the cluster's, not a
# commune's, not a restored copy outside a drill's own binding.
get,list,watch,create,patch,delete secrets in kube-system
get,list,watch,create,patch,delete secrets in default
get,list,watch,create,patch,delete secrets in {tenant}
get,list,watch,create,patch,delete secrets in {sandbox}
get,list,watch,create,patch,delete secrets in {velero}
list,watch secrets
list,watch,delete secrets in {gateway}
# Velero's objects only in Velero's namespace: no Schedule, Restore or
# download request anywhere else, nothing cluster-wide.
list,watch,create,patch,delete schedules.velero.io
list,watch,create backups.velero.io
list,watch,create restores.velero.io
create downloadrequests.velero.io
create deletebackuprequests.velero.io
create,patch,delete schedules.velero.io in default
create restores.velero.io in {tenant}
create downloadrequests.velero.io in default
create deletebackuprequests.velero.io in default
# Its powers stay as shipped: no CRD, ClusterRole, ClusterRoleBinding, webhook
# or admission policy; not its own Role or bindings.
create,update,patch,delete customresourcedefinitions.apiextensions.k8s.io named members.socle.redon-agglomeration.bzh
create,update,patch,delete,escalate,bind clusterroles.rbac.authorization.k8s.io
create,update,patch,delete clusterrolebindings.rbac.authorization.k8s.io
create,update,patch,delete validatingwebhookconfigurations.admissionregistration.k8s.io
create,update,patch,delete mutatingwebhookconfigurations.admissionregistration.k8s.io
create,update,patch,delete validatingadmissionpolicies.admissionregistration.k8s.io
create,update,patch,delete mutatingadmissionpolicies.admissionregistration.k8s.io
create,update,patch,delete mutatingadmissionpolicybindings.admissionregistration.k8s.io
create,update,patch,delete,escalate roles.rbac.authorization.k8s.io in {own} named {socle}
create,update,patch,delete rolebindings.rbac.authorization.k8s.io in {own} named {socle}
# No way to cluster-admin nor to a commune's own rights.
bind clusterroles.rbac.authorization.k8s.io in {tenant} named cluster-admin
bind clusterroles.rbac.authorization.k8s.io in {tenant} named admin
bind clusterroles.rbac.authorization.k8s.io in {tenant} named edit
bind clusterroles.rbac.authorization.k8s.io in {tenant} named system:controller:namespace-controller
# No Role read or written at all, not even the tenant administrators' (a
# shipped ClusterRole), and no `escalate` anywhere: socle writes no rule it
# does not hold.
escalate roles.rbac.authorization.k8s.io
escalate,bind roles.rbac.authorization.k8s.io in {tenant} named socle-tenant-admin
create,update,patch,delete roles.rbac.authorization.k8s.io in {tenant} named socle-tenant-admin
escalate,bind roles.rbac.authorization.k8s.io in {tenant} named anything-else
create,patch roles.rbac.authorization.k8s.io in {tenant} named anything-else
list,watch roles.rbac.authorization.k8s.io
impersonate users
impersonate groups
impersonate serviceaccounts
create serviceaccounts/token in kube-system
# No workload: socle configures tenants, it does not run in them.
create pods in {tenant}
create pods/exec in {tenant}
create deployments.apps in {own}
get nodes
delete persistentvolumes
# The DSI's records: socle never creates nor deletes a Member, only reads
# grids and services, and only adds usage (records are immutable).
create,delete members.socle.redon-agglomeration.bzh
create,patch,delete tariffs.socle.redon-agglomeration.bzh
create,patch,delete sharedservices.socle.redon-agglomeration.bzh
patch,delete usagerecords.socle.redon-agglomeration.bzh in {own}
delete qualityrecords.socle.redon-agglomeration.bzh in {own}
create,patch qualityrecords.socle.redon-agglomeration.bzh in default
# Only its own Lease.
get,patch leases.coordination.k8s.io in kube-system named kube-controller-manager
patch leases.coordination.k8s.io in {own} named another-lease
";

/// The names the tables' placeholders stand for.
#[derive(Debug)]
pub struct Places<'a> {
    pub own: &'a str,
    pub gateway: &'a str,
    pub socle: &'a str,
    pub inspector: &'a str,
    pub tenant_admin: &'a str,
    pub velero: &'a str,
}

/// One access the operator's ServiceAccount is asked about.
#[derive(Debug)]
pub struct Access {
    verb: String,
    resource: String,
    group: String,
    subresource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

/// Every access of [`NEEDED`].
pub fn needed(places: &Places<'_>) -> Vec<Access> {
    parse(NEEDED, places)
}

/// Every access of [`FORBIDDEN`].
pub fn forbidden(places: &Places<'_>) -> Vec<Access> {
    parse(FORBIDDEN, places)
}

fn parse(table: &str, places: &Places<'_>) -> Vec<Access> {
    let table = table
        .replace("{own}", places.own)
        .replace("{gateway}", places.gateway)
        .replace("{socle}", places.socle)
        .replace("{inspector}", places.inspector)
        .replace("{tenant_admin}", places.tenant_admin)
        .replace("{tenant}", "commune-allaire")
        .replace("{sandbox}", "drill-allaire-20260101")
        .replace("{velero}", places.velero);
    let mut accesses = Vec::new();
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [verbs, resource, rest @ ..] = words.as_slice() else {
            panic!("malformed access line {line:?}");
        };
        let (mut namespace, mut name) = (None, None);
        for pair in rest.chunks(2) {
            match pair {
                ["in", value] => namespace = Some((*value).to_owned()),
                ["named", value] => name = Some((*value).to_owned()),
                _ => panic!("malformed access line {line:?}"),
            }
        }
        let (resource, subresource) = match resource.split_once('/') {
            Some((resource, subresource)) => (resource, Some(subresource.to_owned())),
            None => (*resource, None),
        };
        let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
        for verb in verbs.split(',') {
            accesses.push(Access {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                group: group.to_owned(),
                subresource: subresource.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
            });
        }
    }
    accesses
}

impl Access {
    /// What a SelfSubjectAccessReview by `client` answers.
    pub async fn allowed(&self, client: &Client) -> bool {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(self.verb.clone()),
                    group: Some(self.group.clone()),
                    resource: Some(self.resource.clone()),
                    subresource: self.subresource.clone(),
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .unwrap_or_else(|error| panic!("reviewing {self}: {error}"))
            .status
            .is_some_and(|status| status.allowed)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(subresource) = &self.subresource {
            write!(f, "/{subresource}")?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, " in {namespace}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " named {name}")?;
        }
        Ok(())
    }
}
