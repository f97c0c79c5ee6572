//! socle: the Kubernetes operator of REDON Agglomération's shared IT service.
//!
//! - [`admin`]: the admin port (metrics, probes).
//! - [`api`]: the custom resources, the product's user interface.
//! - [`contribution`]: the article 7 engine and the annual report (figures
//!   and HTML document), pure (no Kubernetes, no I/O): the workspace crate
//!   `socle-contribution` (`contribution/` at the root), re-exported here.
//! - [`billing`]: from custom resources to the engine's facts.
//! - [`manifests`]: reading manifests from a directory, for the offline commands.
//! - [`validate`]: `socle validate`, the GitOps pull-request check.
//! - [`quality`]: the quality of service recorded month by month (QualityRecords).
//! - [`runtime`]: what every controller shares; [`tenant`]: the tenant controller.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod backup;
pub mod billing;
pub mod labels;
pub mod manifests;
pub mod quality;
pub mod runtime;
pub mod tenant;
pub mod validate;
pub mod vpn;

pub use socle_contribution as contribution;
