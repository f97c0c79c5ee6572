//! Build: the objects of the backup controller, from a checked plan. Pure:
//! one small function per kind, unit-tested on the objects they return.

mod exit;
mod report;
mod restore;
mod sandbox;
mod schedule;

pub use self::{
    exit::{ExitBackupPlan, exit_backup, exit_backup_name},
    report::{DrillEvidence, drill_report},
    restore::{DrillStart, NOT_RESTORED, download_request, restore},
    sandbox::{deny_all, inspector_binding, sandbox_namespace},
    schedule::{first_backup, schedule},
};
