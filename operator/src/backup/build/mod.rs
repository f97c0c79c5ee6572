//! Build: the objects of the backup controller, from a checked plan. Pure:
//! one small function per kind, unit-tested on the objects they return.

mod drill_report;
mod exit;
mod restore;
mod sandbox;
mod schedule;

pub use self::{
    drill_report::{DrillEvidence, drill_report},
    exit::{ExitBackupPlan, exit_backup, exit_backup_name},
    restore::{DrillStart, NOT_RESTORED, download_request, restore},
    sandbox::{deny_all, inspector_binding, sandbox_namespace},
    schedule::{first_backup, schedule},
};
