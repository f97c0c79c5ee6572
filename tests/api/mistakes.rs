//! The mistakes a DSI technician makes, each from a manifest the API server
//! accepts, with what its refusal must name: the field and the rule.

use serde_json::Value;

use super::fixtures::{example, yaml};

/// A manifest the API server accepts, from which each mistake starts.
#[derive(Clone, Copy, Debug)]
pub enum Base {
    /// A 3 875-inhabitant commune: an audit, then the socle complet; VPN and backups.
    Allaire,
    /// 9 312 inhabitants and its own IT department: priced by a tariffOverride.
    Redon,
    /// The Datacenter's WireGuard hub.
    VpnGateway,
    /// Where Velero stores the backups.
    BackupTarget,
    /// The office-suite licences bought together.
    GroupPurchase,
    /// The convention's price grid.
    Tariff,
    /// Level-1 half-days entered by the DSI.
    Level1Usage,
    /// A draft contribution statement.
    Statement,
    /// A passed restore drill.
    Drill,
}

pub const BASES: [Base; 9] = [
    Base::Allaire,
    Base::Redon,
    Base::VpnGateway,
    Base::BackupTarget,
    Base::GroupPurchase,
    Base::Tariff,
    Base::Level1Usage,
    Base::Statement,
    Base::Drill,
];

impl Base {
    pub fn document(self) -> Value {
        match self {
            Self::Allaire => example("members/allaire.yaml", "allaire"),
            Self::Redon => example("members/redon.yaml", "redon"),
            Self::VpnGateway => example("shared-services.yaml", "vpn-datacenter"),
            Self::BackupTarget => example("shared-services.yaml", "sauvegarde-datacenter"),
            Self::GroupPurchase => example("shared-services.yaml", "bureautique-groupement"),
            Self::Tariff => example("tariff.yaml", "convention-cadre"),
            Self::Level1Usage => example(
                "usage/level1-2026.yaml",
                "allaire-level1-half-days-2026-03-12",
            ),
            Self::Statement => yaml(STATEMENT),
            Self::Drill => yaml(DRILL_REPORT),
        }
    }

    pub fn kind(self) -> String {
        self.document()["kind"].as_str().expect("a kind").to_owned()
    }
}

/// Allaire's 2026 statement while the exercise runs.
pub const STATEMENT: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: ContributionStatement
metadata:
  name: allaire-2026
spec:
  member: allaire
  exercise: 2026
  debtor: Allaire
  inseeCode: "56001"
  state: Draft
  tariff: convention-cadre
  lines:
    - code: SOCLE_COMPLET_FIXE
      label: Socle complet, part fixe (de 3000 à 8000 habitants)
      quantity: 1
      unitPriceCents: 250000
      amountCents: 250000
      legalBasis: art. 7.1
      imputation: "70846"
    - code: SOCLE_COMPLET_VARIABLE
      label: Socle complet, part par habitant
      quantity: 3875
      unitPriceCents: 150
      amountCents: 581250
      legalBasis: art. 7.1
      imputation: "70846"
  totalCents: 831250
"#;

/// A restore drill of Allaire's tenant that met its targets.
pub const DRILL_REPORT: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: DrillReport
metadata:
  name: allaire-drill-2026-03
spec:
  member: allaire
  backup: allaire-20260301030000
  sandboxNamespace: drill-allaire-20260301
  startedAt: "2026-03-01T03:00:00Z"
  finishedAt: "2026-03-01T03:07:30Z"
  itemsRestored: 42
  checks:
    - name: ConfigMap count
      verdict: Passed
      detail: expected 12, found 12
  measuredRtoSeconds: 450
  measuredRpoSeconds: 3600
  rtoTargetSeconds: 14400
  rpoTargetSeconds: 14400
  verdict: Passed
"#;

/// A mistake a technician could make, and what the API server must say.
pub struct Mistake {
    pub what: &'static str,
    pub base: Base,
    /// (path, YAML value) edits of the base; `~` removes the field.
    pub edits: &'static [(&'static str, &'static str)],
    /// What the message must contain: the field, and the rule it breaks.
    pub expect: &'static [&'static str],
}

pub const MISTAKES: &[Mistake] = &[
    // Member: identity and population.
    Mistake {
        what: "INSEE code of four digits",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "'5600'")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "INSEE code in letters",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "ALLAI")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "Corsican-looking INSEE code with a department that does not exist",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "2C123")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "INSEE code left unquoted, so YAML makes it a number",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "56001")],
        expect: &["spec.inseeCode", "string"],
    },
    Mistake {
        what: "no display name",
        base: Base::Allaire,
        edits: &[("spec.displayName", "~")],
        expect: &["spec.displayName", "Required value"],
    },
    Mistake {
        what: "misspelt field (inseecode)",
        base: Base::Allaire,
        edits: &[("spec.inseecode", "'56001'")],
        expect: &["spec.inseecode", "field not declared in schema"],
    },
    Mistake {
        what: "population of 0 inhabitants",
        base: Base::Allaire,
        edits: &[("spec.population.count", "0")],
        expect: &["spec.population", "population.count must be at least 1"],
    },
    Mistake {
        what: "population with a thousands separator",
        base: Base::Allaire,
        edits: &[("spec.population.count", "3 875")],
        expect: &["spec.population.count", "expected numeric"],
    },
    Mistake {
        what: "population year 1850",
        base: Base::Allaire,
        edits: &[("spec.population.year", "1850")],
        expect: &[
            "spec.population",
            "population.year must be an INSEE reference year",
        ],
    },
    Mistake {
        what: "SIRET of 13 digits",
        base: Base::Allaire,
        edits: &[("spec.siret", "'2135600140001'")],
        expect: &["spec.siret", "should match"],
    },
    Mistake {
        what: "member kind Mairie",
        base: Base::Allaire,
        edits: &[("spec.kind", "Mairie")],
        expect: &["spec.kind", r#"Unsupported value: "Mairie""#],
    },
    Mistake {
        what: "contact e-mail without @",
        base: Base::Allaire,
        edits: &[(
            "spec.contacts.technical.email",
            "secretariat.mairie-allaire.fr",
        )],
        expect: &["spec.contacts.technical.email", "should match"],
    },
    // Member: adhesion history.
    Mistake {
        what: "no subscription at all",
        base: Base::Allaire,
        edits: &[("spec.subscriptions", "[]")],
        expect: &["spec.subscriptions", "should have at least 1 items"],
    },
    Mistake {
        what: "unknown offer Socle",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.offer", "Socle")],
        expect: &[
            "spec.subscriptions[1].offer",
            r#"Unsupported value: "Socle""#,
        ],
    },
    Mistake {
        what: "effective date in month 13",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.effectiveDate", "'2025-13-01'")],
        expect: &[
            "spec.subscriptions[1].effectiveDate",
            "must be of type date",
        ],
    },
    Mistake {
        what: "effective date written the French way",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.effectiveDate", "'01/09/2025'")],
        expect: &[
            "spec.subscriptions[1].effectiveDate",
            "must be of type date",
        ],
    },
    Mistake {
        what: "end date before the effective date",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.endDate", "'2025-08-31'")],
        expect: &["spec.subscriptions", "must not be before its effectiveDate"],
    },
    Mistake {
        what: "notice date without the end date it announces",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.0.noticeDate", "'2025-03-01'")],
        expect: &["spec.subscriptions", "noticeDate", "article 2.4"],
    },
    Mistake {
        what: "audit report date on the SocleComplet subscription",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.auditReportDate", "'2025-10-01'")],
        expect: &[
            "spec.subscriptions",
            "auditReportDate is only allowed on Audit subscriptions",
        ],
    },
    Mistake {
        what: "audit report delivered before the audit started",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.0.auditReportDate", "'2025-01-15'")],
        expect: &[
            "spec.subscriptions",
            "audit report cannot be delivered before the audit's effectiveDate",
        ],
    },
    // Member: article 7.1 (*).
    Mistake {
        what: "Redon (9 312 inhabitants) in SocleComplet without tariffOverride",
        base: Base::Redon,
        edits: &[
            ("spec.tariffOverride", "~"),
            ("spec.hasItDepartment", "false"),
        ],
        expect: &[
            "spec.tariffOverride",
            "article 7.1",
            "above 8 000 inhabitants",
        ],
    },
    Mistake {
        what: "own IT department and SocleComplet without tariffOverride",
        base: Base::Allaire,
        edits: &[("spec.hasItDepartment", "true")],
        expect: &["spec.tariffOverride", "article 7.1", "own IT department"],
    },
    Mistake {
        what: "tariffOverride of a SocleComplet member without fixedCents",
        base: Base::Redon,
        edits: &[("spec.tariffOverride.fixedCents", "~")],
        expect: &[
            "spec.tariffOverride",
            "must set fixedCents and perInhabitantCents for a SocleComplet member",
        ],
    },
    Mistake {
        what: "tariffOverride without the deliberation that decided it",
        base: Base::Redon,
        edits: &[("spec.tariffOverride.decision", "~")],
        expect: &["spec.tariffOverride.decision", "Required value"],
    },
    // Member: tenant.
    Mistake {
        what: "every service account of the cluster as the tenant's admins",
        base: Base::Allaire,
        edits: &[(
            "spec.tenant.adminGroups",
            "[commune-allaire-admins, 'system:serviceaccounts']",
        )],
        expect: &[
            "spec.tenant.adminGroups",
            "must not name a Kubernetes system group",
        ],
    },
    // Member: VPN and backups.
    Mistake {
        what: "site network with a /33 prefix",
        base: Base::Allaire,
        edits: &[("spec.vpn.siteCidrs", "['192.168.1.0/33']")],
        expect: &["spec.vpn.siteCidrs", "must be a network in CIDR notation"],
    },
    Mistake {
        what: "site network named instead of addressed",
        base: Base::Allaire,
        edits: &[("spec.vpn.siteCidrs", "[mairie]")],
        expect: &["spec.vpn.siteCidrs", "must be a network in CIDR notation"],
    },
    Mistake {
        what: "router SSH port 70000",
        base: Base::Allaire,
        edits: &[("spec.vpn.router.port", "70000")],
        expect: &["spec.vpn.router.port", "less than or equal to 65535"],
    },
    Mistake {
        what: "router dialect cisco",
        base: Base::Allaire,
        edits: &[("spec.vpn.router.dialect", "cisco")],
        expect: &["spec.vpn.router.dialect", r#"Unsupported value: "cisco""#],
    },
    Mistake {
        what: "host key pasted without its type",
        base: Base::Allaire,
        edits: &[(
            "spec.vpn.router.hostKey",
            "AAAAC3NzaC1lZDI1NTE5AAAAICdBX7h8/vA7T5IkebD8DiWj9WHyDePlp36TsW2MltND",
        )],
        expect: &["spec.vpn.router.hostKey", "should match"],
    },
    Mistake {
        what: "sites listed and a single router as well",
        base: Base::Redon,
        edits: &[("spec.vpn.siteCidrs", "['10.35.240.0/24']")],
        expect: &["spec.vpn", "give the sites either as spec.vpn.sites"],
    },
    Mistake {
        what: "a VPN without its sites",
        base: Base::Allaire,
        edits: &[("spec.vpn.router", "~")],
        expect: &["spec.vpn", "spec.vpn needs its sites: spec.vpn.sites"],
    },
    Mistake {
        what: "one site listed twice",
        base: Base::Redon,
        edits: &[("spec.vpn.sites.1.name", "mairie")],
        // Server-side apply refuses the list itself, naming the key twice.
        expect: &[
            "spec.vpn.sites",
            r#"duplicate entries for key [name="mairie"]"#,
        ],
    },
    Mistake {
        what: "a site named with a space",
        base: Base::Redon,
        edits: &[("spec.vpn.sites.1.name", "'école Jules Ferry'")],
        expect: &["spec.vpn.sites[1].name", "should match"],
    },
    Mistake {
        what: "a school's network named instead of addressed",
        base: Base::Redon,
        edits: &[("spec.vpn.sites.1.siteCidrs", "[ecole]")],
        expect: &[
            "spec.vpn.sites[1].siteCidrs",
            "must be a network in CIDR notation",
        ],
    },
    Mistake {
        what: "backup tier Gold",
        base: Base::Allaire,
        edits: &[("spec.backup.tier", "Gold")],
        expect: &["spec.backup.tier", r#"Unsupported value: "Gold""#],
    },
    Mistake {
        what: "drill schedule in words",
        base: Base::Allaire,
        edits: &[("spec.backup.drill.schedule", "every day")],
        expect: &["spec.backup.drill.schedule", "should match"],
    },
    Mistake {
        what: "retention of 10 years and a day",
        base: Base::Allaire,
        edits: &[("spec.backup.retentionDays", "3651")],
        expect: &["spec.backup.retentionDays", "less than or equal to 3650"],
    },
    // SharedService.
    Mistake {
        what: "VpnGateway without vpnGateway settings",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway", "~")],
        expect: &[
            "spec.vpnGateway",
            "a VpnGateway service needs spec.vpnGateway",
        ],
    },
    Mistake {
        what: "IPv6 tunnel pool",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway.tunnelPoolCidr", "'fd00:200::/64'")],
        expect: &[
            "spec.vpnGateway.tunnelPoolCidr",
            "must be an IPv4 network in CIDR notation",
        ],
    },
    Mistake {
        what: "tunnel pool without its prefix length",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway.tunnelPoolCidr", "10.200.0.0")],
        expect: &[
            "spec.vpnGateway.tunnelPoolCidr",
            "must be an IPv4 network in CIDR notation",
        ],
    },
    Mistake {
        what: "public endpoint without its port",
        base: Base::VpnGateway,
        edits: &[(
            "spec.vpnGateway.publicEndpoint",
            "vpn.redon-agglomeration.bzh",
        )],
        expect: &["spec.vpnGateway.publicEndpoint", "should match"],
    },
    Mistake {
        what: "service level 5",
        base: Base::VpnGateway,
        edits: &[("spec.serviceLevel", "5")],
        expect: &["spec.serviceLevel", "less than or equal to 4"],
    },
    Mistake {
        what: "BackupTarget without backupTarget settings",
        base: Base::BackupTarget,
        edits: &[("spec.backupTarget", "~")],
        expect: &[
            "spec.backupTarget",
            "a BackupTarget service needs spec.backupTarget",
        ],
    },
    Mistake {
        what: "GroupPurchase without its contract",
        base: Base::GroupPurchase,
        edits: &[("spec.contract", "~")],
        expect: &[
            "spec.contract",
            "a GroupPurchase service needs spec.contract",
        ],
    },
    Mistake {
        what: "contract ending before it starts",
        base: Base::GroupPurchase,
        edits: &[("spec.contract.endDate", "'2024-05-31'")],
        expect: &[
            "spec.contract.endDate",
            "contract endDate must be after its startDate",
        ],
    },
    Mistake {
        what: "allocation key in French",
        base: Base::GroupPurchase,
        edits: &[("spec.contract.allocation", "ParHabitant")],
        expect: &[
            "spec.contract.allocation",
            r#"Unsupported value: "ParHabitant""#,
        ],
    },
    Mistake {
        what: "subscriber with 0 seats",
        base: Base::GroupPurchase,
        edits: &[("spec.subscribers.members.0.seats", "0")],
        expect: &[
            "spec.subscribers.members[0].seats",
            "greater than or equal to 1",
        ],
    },
    // Tariff.
    Mistake {
        what: "first bracket starting at 100 inhabitants",
        base: Base::Tariff,
        edits: &[("spec.grid.brackets.0.minPopulation", "100")],
        expect: &["spec.grid", "the first bracket must start at population 0"],
    },
    Mistake {
        what: "bracket ending below its start (299 for 2999)",
        base: Base::Tariff,
        edits: &[("spec.grid.brackets.1.maxPopulation", "299")],
        expect: &[
            "spec.grid",
            "maxPopulation must not be below its minPopulation",
        ],
    },
    Mistake {
        what: "no staffing level",
        base: Base::Tariff,
        edits: &[("spec.grid.staffing", "[]")],
        expect: &["spec.grid", "at least one staffing level is needed"],
    },
    // UsageRecord.
    Mistake {
        what: "unknown meter coffee",
        base: Base::Level1Usage,
        edits: &[("spec.meter", "coffee")],
        expect: &["spec.meter", r#"Unsupported value: "coffee""#],
    },
    Mistake {
        what: "pass-through without its amount",
        base: Base::Level1Usage,
        edits: &[
            ("spec.meter", "pass-through"),
            ("spec.evidence", "Facture FAC-2026-0311"),
        ],
        expect: &[
            "spec.amountCents",
            "a pass-through record needs amountCents",
        ],
    },
    Mistake {
        what: "pass-through without its invoice reference",
        base: Base::Level1Usage,
        edits: &[
            ("spec.meter", "pass-through"),
            ("spec.amountCents", "12000"),
            ("spec.evidence", "~"),
        ],
        expect: &["spec.evidence", "a pass-through record needs evidence"],
    },
    Mistake {
        what: "0 Level-1 half-days",
        base: Base::Level1Usage,
        edits: &[("spec.quantity", "0")],
        expect: &["spec.quantity", "quantity must be at least 1"],
    },
    Mistake {
        what: "period ending before it starts",
        base: Base::Level1Usage,
        edits: &[("spec.period.end", "'2026-03-01'")],
        expect: &[
            "spec.period.end",
            "period.end must not be before period.start",
        ],
    },
    Mistake {
        what: "exercise 1999",
        base: Base::Level1Usage,
        edits: &[("spec.exercise", "1999")],
        expect: &["spec.exercise", "greater than or equal to 2020"],
    },
    // ContributionStatement.
    Mistake {
        what: "Issued statement without title number",
        base: Base::Statement,
        edits: &[("spec.state", "Issued"), ("spec.issuedOn", "'2026-02-15'")],
        expect: &[
            "spec.titleNumber",
            "an Issued statement needs titleNumber and issuedOn",
        ],
    },
    Mistake {
        what: "statement without its debtor",
        base: Base::Statement,
        edits: &[("spec.debtor", "~")],
        expect: &["spec.debtor", "Required value"],
    },
    Mistake {
        what: "statement state in French",
        base: Base::Statement,
        edits: &[("spec.state", "Emis")],
        expect: &["spec.state", r#"Unsupported value: "Emis""#],
    },
    Mistake {
        what: "statement for exercise 1999",
        base: Base::Statement,
        edits: &[("spec.exercise", "1999")],
        expect: &["spec.exercise", "greater than or equal to 2020"],
    },
    // DrillReport.
    Mistake {
        what: "drill finished before it started",
        base: Base::Drill,
        edits: &[("spec.finishedAt", "'2026-03-01T02:07:30Z'")],
        expect: &["spec.finishedAt", "finishedAt must not be before startedAt"],
    },
    Mistake {
        what: "drill start without time zone",
        base: Base::Drill,
        edits: &[("spec.startedAt", "'2026-03-01 03:00'")],
        expect: &["spec.startedAt", "must be of type date-time"],
    },
];
