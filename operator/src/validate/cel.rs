//! The CRDs' CEL rules (`x-kubernetes-validations`), evaluated offline by
//! kube-cel: the rules of [`crate::api::crds`] themselves, with the
//! Kubernetes CEL library (`isCIDR`, `cidr()`, …), so a manifest that passes
//! here passes the API server's CEL checks too.
//!
//! Transition rules (`oldSelf`) are skipped: a manifest on disk has no old
//! version. One difference is known: kube-cel keeps `format: date` strings as
//! strings where the API server makes them timestamps; the rules only compare
//! dates, and `YYYY-MM-DD` strings compare like the days they name.

use kube::core::cel::{CompiledSchema, ErrorKind, RootContext, Validator, compile_schema};
use serde_json::Value;

use super::{path::FieldPath, schema::Violation};

/// The compiled rules of one kind.
pub struct Rules {
    compiled: CompiledSchema,
    root: RootContext,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("kind", &self.root.kind)
            .finish_non_exhaustive()
    }
}

impl Rules {
    /// Compiles the rules of `schema`, the `openAPIV3Schema` of `kind`.
    pub fn new(schema: &Value, api_version: &str, group: &str, kind: &str) -> Self {
        Self {
            compiled: compile_schema(schema),
            root: RootContext {
                api_version: api_version.to_owned(),
                api_group: group.to_owned(),
                kind: kind.to_owned(),
            },
        }
    }

    /// Every rule `object` breaks.
    pub fn check(&self, validator: &Validator, object: &Value) -> Vec<Violation> {
        let Err(errors) = validator.validate_compiled_with_context(
            &self.compiled,
            object,
            None,
            Some(&self.root),
        ) else {
            return Vec::new();
        };
        errors
            .into_iter()
            .map(|error| {
                let message = if error.kind == ErrorKind::ValidationFailure {
                    error.message
                } else {
                    // A rule the offline evaluator cannot run is reported,
                    // never passed silently (kube-cel fails closed).
                    format!(
                        "rule {:?} could not be checked offline: {}",
                        error.rule, error.message
                    )
                };
                Violation {
                    path: FieldPath::parse(&error.field_path),
                    message,
                }
            })
            .collect()
    }
}
