//! socle: the Kubernetes operator of REDON Agglomération's shared IT service.
//!
//! - [`api`]: the custom resources, the product's user interface.
//! - [`contribution`]: the article 7 engine, pure (no Kubernetes, no I/O).
#![forbid(unsafe_code)]

pub mod api;
pub mod contribution;
