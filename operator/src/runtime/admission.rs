//! Whether the shipped admission policy holds this operator: RBAC lets socle
//! create namespaces, the policy `socle-stays-in-its-namespaces` keeps them
//! socle's own and under Pod Security `restricted` (SECURITY.md). It knows
//! socle by the ServiceAccount its binding names; an install that named
//! another one (a renamed account, a moved namespace) would leave socle
//! unchecked without a word. So the operator asks the API server at start,
//! with a dry run that the policy must refuse.

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

use crate::labels;

/// What the dry run showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holds {
    /// The policy refused a namespace without Pod Security.
    Yes,
    /// The namespace would have been created: nothing holds socle.
    No,
    /// The API server said something else (socle may not create namespaces,
    /// the server is unreachable…): the message.
    Unknown(String),
}

/// A dry-run create of a namespace socle would own, without Pod Security
/// labels: refused by the policy when it holds this client's user.
pub async fn policy_holds(client: &Client) -> Holds {
    let probe = Namespace {
        metadata: ObjectMeta {
            // Never created: a dry run stores nothing.
            generate_name: Some("socle-admission-probe-".into()),
            labels: Some([(labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&dry_run, &probe)
        .await
    {
        Ok(_) => Holds::No,
        Err(kube::Error::Api(status)) if refused_by_policy(&status.message) => Holds::Yes,
        Err(error) => Holds::Unknown(error.to_string()),
    }
}

/// Whether the API server's refusal comes from an admission policy (and not
/// from RBAC, which refuses before admission).
fn refused_by_policy(message: &str) -> bool {
    message.contains("ValidatingAdmissionPolicy")
}

#[cfg(test)]
mod tests {
    use super::refused_by_policy;

    #[test]
    fn a_policy_refusal_is_told_from_an_rbac_one() {
        assert!(refused_by_policy(
            "namespaces \"x\" is forbidden: ValidatingAdmissionPolicy 'socle-stays-in-its-namespaces' with binding 'socle-stays-in-its-namespaces' denied request: socle's namespaces enforce Pod Security restricted"
        ));
        assert!(!refused_by_policy(
            "namespaces is forbidden: User \"system:serviceaccount:socle-system:socle\" cannot create resource \"namespaces\" in API group \"\" at the cluster scope"
        ));
    }
}
