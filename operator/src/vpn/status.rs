//! Status: the VPN controller's part of a Member's status — conditions
//! `VpnReady` and `VpnDrift`, one each for the Member, aggregated from its
//! sites ([`ready`], [`drift`]: pure), and `status.vpn.sites` — applied
//! under its own field manager, and only when something changed. A site's
//! `health` is the health task's ([`super::health`]), under its own.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::json;

use crate::{
    api::{Member, member::VpnStatus},
    runtime::{
        Context,
        conditions::{condition, merge},
        status::apply_member_status,
    },
};

/// Field manager of the VPN controller's status writes.
pub const MANAGER: &str = "socle-vpn";
/// The router holds socle's tunnel configuration.
pub const READY: &str = "VpnReady";
/// The router was changed by hand since socle's last push.
pub const DRIFT: &str = "VpnDrift";

/// Applies `ready`, `drift` (`None`: keep the current one) and `vpn`
/// (`None`: keep the current one) unless they are what the Member shows.
pub async fn write(
    ctx: &Context,
    member: &Member,
    ready: Condition,
    drift: Option<Condition>,
    vpn: Option<VpnStatus>,
) -> Result<(), kube::Error> {
    let old = member.status.clone().unwrap_or_default();
    let find = |type_: &str| old.conditions.iter().find(|c| c.type_ == type_).cloned();
    let mut conditions = merge(&old.conditions, ready);
    if let Some(drift) = drift {
        conditions = merge(&conditions, drift);
    }
    let owned: Vec<Condition> = conditions
        .into_iter()
        .filter(|c| c.type_ == READY || c.type_ == DRIFT)
        .collect();
    let vpn = vpn.or_else(|| old.vpn.clone()).map(without_health);
    let unchanged = owned.iter().all(|c| find(&c.type_).as_ref() == Some(c))
        && find(DRIFT).is_none_or(|_| owned.iter().any(|c| c.type_ == DRIFT))
        && vpn == old.vpn.clone().map(without_health);
    if unchanged {
        return Ok(());
    }
    apply_member_status(
        ctx,
        member,
        MANAGER,
        json!({"conditions": owned, "vpn": vpn}),
    )
    .await
}

/// `vpn` without the sites' health, which is not this manager's to write.
fn without_health(mut vpn: VpnStatus) -> VpnStatus {
    for site in &mut vpn.sites {
        site.health = None;
    }
    vpn
}

/// One site's part of `VpnReady`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteVerdict {
    pub site: String,
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

impl SiteVerdict {
    pub fn not_ready(site: &str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            site: site.to_owned(),
            ready: false,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// One site's part of `VpnDrift`: each holds its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteDrift {
    /// Not known this time (dry run, or the router not reached).
    Unknown,
    /// The router holds what socle pushed.
    Clean(String),
    /// Changed by hand, and left so (`correctDrift` off).
    Left(String),
    /// Changed by hand, and socle's configuration put back.
    Corrected(String),
}

/// `VpnReady` of the Member: True when every site's tunnel is configured;
/// otherwise False with the reason of the first site that is not, and a
/// message naming each such site. With a single site the message is that
/// site's own.
pub fn ready(verdicts: &[SiteVerdict], generation: Option<i64>) -> Condition {
    per_site(READY, ("Configured", "configured"), verdicts, generation)
}

/// One Member-level condition `type_` from its sites' verdicts: True with
/// `ok.0` as reason when every site's is; else False with the first
/// failing site's reason, the message naming each failing site and then
/// those that are fine (`ok.1`: "configured: site mairie"). A single
/// site's message is its own, unprefixed.
pub fn per_site(
    type_: &str,
    ok: (&str, &str),
    verdicts: &[SiteVerdict],
    generation: Option<i64>,
) -> Condition {
    let several = verdicts.len() > 1;
    let told = |v: &SiteVerdict| {
        if several {
            format!("site {}: {}", v.site, v.message)
        } else {
            v.message.clone()
        }
    };
    let failing: Vec<&SiteVerdict> = verdicts.iter().filter(|v| !v.ready).collect();
    let Some(first) = failing.first() else {
        let message: Vec<String> = verdicts.iter().map(told).collect();
        return condition(type_, true, ok.0, message.join("; "), generation);
    };
    let mut message: Vec<String> = failing.iter().map(|v| told(v)).collect();
    let fine: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.ready)
        .map(|v| v.site.as_str())
        .collect();
    if !fine.is_empty() {
        message.push(format!("{}: site {}", ok.1, fine.join(", site ")));
    }
    condition(type_, false, &first.reason, message.join("; "), generation)
}

/// `VpnDrift` of the Member: True while any site's router stays changed by
/// hand; `None` (keep the current one) when no site's router was read.
pub fn drift(sites: &[(String, SiteDrift)], generation: Option<i64>) -> Option<Condition> {
    let several = sites.len() > 1;
    let told = |site: &str, message: &str| {
        if several {
            format!("site {site}: {message}")
        } else {
            message.to_owned()
        }
    };
    let of = |pick: fn(&SiteDrift) -> Option<&String>| -> Vec<String> {
        sites
            .iter()
            .filter_map(|(site, drift)| pick(drift).map(|m| told(site, m)))
            .collect()
    };
    let left = of(|d| match d {
        SiteDrift::Left(m) => Some(m),
        _ => None,
    });
    let corrected = of(|d| match d {
        SiteDrift::Corrected(m) => Some(m),
        _ => None,
    });
    let clean = of(|d| match d {
        SiteDrift::Clean(m) => Some(m),
        _ => None,
    });
    let (ok, reason, messages) = if !left.is_empty() {
        (false, "ChangedByHand", left)
    } else if !corrected.is_empty() {
        (true, "DriftCorrected", corrected)
    } else if !clean.is_empty() {
        (true, "NoDrift", clean)
    } else {
        return None;
    };
    // The condition says whether there is drift: True when there is.
    Some(condition(
        DRIFT,
        !ok,
        reason,
        messages.join("\n"),
        generation,
    ))
}

/// Removes the VPN controller's conditions and `status.vpn` (the member has
/// no VPN any more).
pub async fn clear(ctx: &Context, member: &Member) -> Result<(), kube::Error> {
    let status = member.status.clone().unwrap_or_default();
    let has_any = status.vpn.is_some()
        || status
            .conditions
            .iter()
            .any(|c| c.type_ == READY || c.type_ == DRIFT);
    if !has_any {
        return Ok(());
    }
    apply_member_status(ctx, member, MANAGER, json!({"conditions": []})).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(site: &str, ready: bool, reason: &str) -> SiteVerdict {
        SiteVerdict {
            site: site.into(),
            ready,
            reason: reason.into(),
            message: format!("{reason} at {site}"),
        }
    }

    #[test]
    fn one_site_says_what_it_always_said() {
        let ready = ready(&[verdict("mairie", true, "Configured")], Some(2));
        assert_eq!(
            (ready.status.as_str(), ready.message.as_str()),
            ("True", "Configured at mairie")
        );
    }

    #[test]
    fn the_member_is_ready_when_every_site_is_and_names_the_sites_that_are_not() {
        let all = ready(
            &[
                verdict("mairie", true, "Configured"),
                verdict("ecole", true, "Configured"),
            ],
            None,
        );
        assert_eq!(all.status, "True");
        assert_eq!(
            all.message,
            "site mairie: Configured at mairie; site ecole: Configured at ecole"
        );
        let one_down = ready(
            &[
                verdict("mairie", true, "Configured"),
                verdict("ecole", false, "RouterUnreachable"),
                verdict("mediatheque", false, "DryRun"),
            ],
            None,
        );
        assert_eq!(
            (one_down.status.as_str(), one_down.reason.as_str()),
            ("False", "RouterUnreachable")
        );
        assert_eq!(
            one_down.message,
            "site ecole: RouterUnreachable at ecole; site mediatheque: DryRun at mediatheque; configured: site mairie"
        );
    }

    #[test]
    fn drift_at_any_site_is_drift_of_the_member() {
        let sites = |school: SiteDrift| {
            vec![
                ("mairie".to_owned(), SiteDrift::Clean("held".into())),
                ("ecole".to_owned(), school),
            ]
        };
        let left = drift(&sites(SiteDrift::Left("changed".into())), None).unwrap();
        assert_eq!(
            (
                left.status.as_str(),
                left.reason.as_str(),
                left.message.as_str()
            ),
            ("True", "ChangedByHand", "site ecole: changed")
        );
        let fixed = drift(&sites(SiteDrift::Corrected("put back".into())), None).unwrap();
        assert_eq!(
            (fixed.status.as_str(), fixed.reason.as_str()),
            ("False", "DriftCorrected")
        );
        let clean = drift(&sites(SiteDrift::Unknown), None).unwrap();
        assert_eq!(
            (clean.reason.as_str(), clean.message.as_str()),
            ("NoDrift", "site mairie: held")
        );
        assert_eq!(drift(&[("mairie".into(), SiteDrift::Unknown)], None), None);
    }
}
