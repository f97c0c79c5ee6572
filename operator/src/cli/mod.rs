//! The commands of the `socle` binary other than `run`.

pub mod contribution;
mod output;
pub mod run;
pub mod statements;
pub mod usage;
