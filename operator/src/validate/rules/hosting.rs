//! Hosting: what the tenant, VPN and backup controllers would refuse, checked
//! with their own validation where it does not depend on the date.
//!
//! - the tenant namespace (`<prefix><name>`) fits in 63 characters;
//! - the VPN, through [`vpn::plan::plan`], for each site (`spec.vpn.sites[]`,
//!   or the single router's): the gateway exists, site names are unique and
//!   each site has a router of its own, the site networks parse and overlap
//!   neither each other (across the member's sites too), the tunnel pool nor
//!   the Datacenter's ranges; and no two members' site networks overlap (the
//!   controller refuses the member that changed, or else the later one, by
//!   status and creation time, which a directory does not have: the
//!   message names both);
//! - the backup target exists and the drill schedule is a cron expression
//!   ([`backup::plan::parse_cron`]);
//! - a warning when a member's VPN gateway has subscribers (named, or a
//!   label selector) and the member is not among them: the hub serves its
//!   tunnel all the same, but the service's subscribers — its
//!   `subscriberCount`, a cost shared among them — leave the commune out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    ResourceExt,
    core::{Selector, SelectorExt},
};

use super::{Catalog, Entry};
use crate::{
    api::{
        Member, SharedService,
        member::{SitePath, SiteRef, TOWN_HALL, VpnSpec},
        shared_service::ServiceCategory,
    },
    backup,
    contribution::Offer,
    validate::{Options, Report, path::FieldPath},
    vpn::{self, cidr::Network},
};

pub(super) fn check(catalog: &Catalog<'_>, options: &Options, report: &mut Report) {
    let services = catalog.services();
    for entry in &catalog.members {
        namespace(entry, options, report);
        if entry.object.spec.vpn.is_some() {
            vpn_plan(entry, catalog, &services, options, report);
            gateway_subscriber(entry, &services, report);
        }
        if entry.object.spec.backup.is_some() {
            backup_target(entry, catalog, &services, options.references, report);
        }
    }
    overlapping_sites(catalog, report);
}

/// Whether the member is ever hosted: a tenant, or the socle complet.
fn hosted(member: &Member) -> bool {
    member.spec.tenant.is_some()
        || member
            .spec
            .subscriptions
            .iter()
            .any(|s| s.offer == Offer::SocleComplet)
}

fn namespace(entry: &Entry<'_, Member>, options: &Options, report: &mut Report) {
    let namespace = format!("{}{}", options.tenant_prefix, entry.object.name_any());
    if hosted(&entry.object) && namespace.len() > 63 {
        entry.report(
            report,
            &FieldPath::parse("metadata.name"),
            format!(
                "the tenant namespace {namespace} would have {} characters, more than 63: shorten metadata.name",
                namespace.len()
            ),
        );
    }
}

fn vpn_plan(
    entry: &Entry<'_, Member>,
    catalog: &Catalog<'_>,
    services: &[SharedService],
    options: &Options,
    report: &mut Report,
) {
    let member = &entry.object;
    let Some(spec) = &member.spec.vpn else { return };
    let gateway_valid = services.iter().any(|s| s.name_any() == spec.gateway);
    if !gateway_valid && (catalog.defines("SharedService", &spec.gateway) || !options.references) {
        // The gateway is here but invalid (its own messages say why), or
        // the member is checked alone.
        return;
    }
    // Other members are compared below, once per pair.
    let Err(error) = vpn::plan::plan(
        member,
        services,
        std::slice::from_ref(member),
        &options.cluster_cidrs,
    ) else {
        return;
    };
    let message = error.to_string();
    // A message that starts with the field it is about ("spec.vpn.gateway:
    // …", "spec.vpn.sites[1].router: …") is reported there, without it.
    let named_field = message
        .split_once(": ")
        .filter(|(field, _)| field.starts_with("spec.vpn") && !field.contains(' '));
    let (path, message) = if let Some((field, rest)) = named_field {
        (FieldPath::parse(field), rest.to_owned())
    } else if let Some((site, index)) = named_network(spec, &message) {
        (site_field(site.path, "siteCidrs").index(index), message)
    } else {
        (FieldPath::parse("spec.vpn"), message)
    };
    entry.report(report, &path, message);
}

/// The site and index of the network a message begins with ("site network
/// 10.200.1.0/24 of member …", "site networks … and …").
fn named_network<'a>(spec: &'a VpnSpec, message: &str) -> Option<(SiteRef<'a>, usize)> {
    let named = message
        .strip_prefix("site network ")
        .or_else(|| message.strip_prefix("site networks "))
        .and_then(|rest| rest.split_whitespace().next())?;
    spec.sites().into_iter().find_map(|site| {
        let index = site.site_cidrs.iter().position(|cidr| {
            cidr.parse::<Network>()
                .is_ok_and(|network| network.to_string() == named)
        })?;
        Some((site, index))
    })
}

/// `spec.vpn.<field>` of the single-router form, `spec.vpn.sites[i].<field>`
/// of a listed site.
fn site_field(path: SitePath, field: &str) -> FieldPath {
    let vpn = FieldPath::root().key("spec").key("vpn");
    match path {
        SitePath::SingleRouter => vpn.key(field),
        SitePath::Listed(index) => vpn.key("sites").index(index).key(field),
    }
}

fn gateway_subscriber(entry: &Entry<'_, Member>, services: &[SharedService], report: &mut Report) {
    let member = &entry.object;
    let Some(vpn) = &member.spec.vpn else { return };
    let Some(gateway) = services.iter().find(|s| s.name_any() == vpn.gateway) else {
        return;
    };
    let subscribers = &gateway.spec.subscribers;
    let name = member.name_any();
    if subscribers.members.iter().any(|seat| seat.member == name) {
        return;
    }
    let Some(selector) = &subscribers.selector else {
        if !subscribers.members.is_empty() {
            entry.warn(
                report,
                &FieldPath::parse("spec.vpn.gateway"),
                format!(
                    "the member is not among the subscribers of SharedService {} (spec.subscribers.members): the hub serves its tunnel, but the service's subscribers (subscriberCount, a cost shared among them) leave it out",
                    vpn.gateway
                ),
            );
        }
        return;
    };
    let matches = Selector::try_from(LabelSelector::clone(selector))
        .is_ok_and(|selector| selector.matches(member.labels()));
    if !matches {
        let labels: Vec<String> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(key, value)| format!("{key}: \"{value}\""))
            .collect();
        let hint = if labels.is_empty() || selector.match_expressions.is_some() {
            "give the Member the labels its selector asks for".to_owned()
        } else {
            format!("add the label {} to metadata.labels", labels.join(", "))
        };
        entry.warn(
            report,
            &FieldPath::parse("spec.vpn.gateway"),
            format!(
                "the member's labels do not match the subscribers selector of SharedService {}: the hub serves its tunnel, but the service's subscribers (subscriberCount, a cost shared among them) leave it out; {hint}",
                vpn.gateway
            ),
        );
    }
}

/// Two sites announcing the same addresses would steal each other's
/// traffic at the hub: each overlapping pair is reported once, at the member
/// written last. (A member's own sites are compared by [`vpn_plan`].)
fn overlapping_sites(catalog: &Catalog<'_>, report: &mut Report) {
    let sites = |member: &Member| -> Vec<(FieldPath, String, Network)> {
        let Some(vpn) = &member.spec.vpn else {
            return Vec::new();
        };
        vpn.sites()
            .iter()
            .flat_map(|site| {
                site.site_cidrs.iter().enumerate().filter_map(|(i, cidr)| {
                    let path = site_field(site.path, "siteCidrs").index(i);
                    Some((path, site.name.to_owned(), cidr.parse().ok()?))
                })
            })
            .collect()
    };
    for (later_index, later) in catalog.members.iter().enumerate() {
        let ours = sites(&later.object);
        // The first earlier member it collides with: fixing the network
        // fixes the collisions with the others too.
        let collision = catalog.members[..later_index].iter().find_map(|earlier| {
            let theirs = sites(&earlier.object);
            ours.iter().find_map(|(path, _, site)| {
                theirs
                    .iter()
                    .find(|(_, _, their)| site.overlaps(their))
                    .map(|(their_path, their_site, their)| {
                        (
                            earlier,
                            path,
                            *site,
                            their_path.clone(),
                            their_site.clone(),
                            *their,
                        )
                    })
            })
        });
        if let Some((earlier, path, site, their_path, their_site, their)) = collision {
            let of = if their_site == TOWN_HALL {
                String::new()
            } else {
                format!(" (site {their_site})")
            };
            later.report(
                report,
                path,
                format!(
                    "site network {site} overlaps site network {their} of Member {}{of} ({}): two sites cannot announce the same addresses through the VPN hub",
                    earlier.object.name_any(),
                    earlier.place(&their_path)
                ),
            );
        }
    }
}

fn backup_target(
    entry: &Entry<'_, Member>,
    catalog: &Catalog<'_>,
    services: &[SharedService],
    references: bool,
    report: &mut Report,
) {
    let member = &entry.object;
    let Some(spec) = &member.spec.backup else {
        return;
    };
    if !hosted(member) {
        entry.report(
            report,
            &FieldPath::parse("spec.backup"),
            "the member is never hosted (no spec.tenant, no SocleComplet subscription): there is nothing to back up",
        );
    }
    let targets: Vec<&SharedService> = services
        .iter()
        .filter(|s| {
            s.spec.category == ServiceCategory::BackupTarget && s.spec.backup_target.is_some()
        })
        .collect();
    match &spec.target {
        _ if !references => {}
        Some(name) => {
            let usable = match services.iter().find(|s| s.name_any() == *name) {
                Some(service) => targets.iter().any(|t| t.name_any() == service.name_any()),
                // Here but invalid: its own messages say why.
                None => catalog.defines("SharedService", name),
            };
            if !usable {
                entry.report(
                    report,
                    &FieldPath::parse("spec.backup.target"),
                    format!("SharedService {name} (category BackupTarget, with spec.backupTarget) does not exist; fix the reference or create it"),
                );
            }
        }
        None if targets.len() > 1 => {
            let names: Vec<String> = targets.iter().map(|s| s.name_any()).collect();
            entry.report(
                report,
                &FieldPath::parse("spec.backup.target"),
                format!("is needed: there are several BackupTarget services ({})", names.join(", ")),
            );
        }
        None if targets.is_empty() => entry.report(
            report,
            &FieldPath::parse("spec.backup"),
            "no SharedService of category BackupTarget is defined: create one (Velero namespace and storage location) or set spec.backup.target",
        ),
        None => {}
    }
    if let Some(drill) = &spec.drill
        && let Err(error) = backup::plan::parse_cron(&drill.schedule)
    {
        entry.report(
            report,
            &FieldPath::parse("spec.backup.drill.schedule"),
            format!(
                "{:?} is not a five-field cron expression: {error}",
                drill.schedule
            ),
        );
    }
}
