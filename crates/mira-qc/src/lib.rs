//! mira's imaging quality control (WIP).
#![warn(missing_docs)]

pub mod ct;
pub mod header;
pub mod instance;
pub mod iod;
pub mod report;
pub mod rules;

pub use report::{Check, Grade, Level, Report, Status};
pub use rules::{Rule, RuleSet, RulesError, Severity};
