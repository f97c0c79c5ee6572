//! The commands of the `socle` binary other than `run`.

pub mod contribution;
pub mod explain;
pub mod gitops;
pub mod host_key;
pub mod member;
mod output;
mod repo;
pub mod run;
pub mod statements;
pub mod usage;
pub mod validate;
pub mod vpn_gateway;
mod xlsx;
