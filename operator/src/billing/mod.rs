//! Billing: what members owe, from the objects in the cluster or in a
//! directory of manifests.
//!
//! The offline CLI (`socle contribution`) and the statement controller both
//! price through [`Ledger`], so an exported statement and an offline
//! computation over the same manifests can never disagree.

pub mod controller;
mod ledger;
pub mod metering;
pub mod quality;
pub mod statement;
mod usage_cache;

pub use ledger::{Facts, Ledger};
