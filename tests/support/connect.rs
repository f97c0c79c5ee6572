//! Connecting to the test control plane named by `$KUBECONFIG`.

use std::time::Duration;

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

/// What to do when there is no control plane to test against.
pub(crate) const HOW_TO_START: &str = "start the test control plane with \
     `cargo xtask testenv up` and export the KUBECONFIG it prints \
     (`cargo xtask ci` does both)";

/// The user agent of the tests' clients. The testenv's kube-controller-manager
/// uses the same admin credentials: in the audit log, this is what tells the
/// tests' own requests apart.
pub const USER_AGENT: &str = "socle-e2e";

/// How long the API server has to answer `/version` before the tests give up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the control plane named by `$KUBECONFIG`, checked to answer.
///
/// Only `$KUBECONFIG` is read, never `~/.kube/config` or an in-cluster
/// account, so the tests cannot land on a cluster nobody pointed them at.
/// Panics, saying how to start the test control plane, when `KUBECONFIG` is
/// unset or the API server does not answer: an end-to-end test never skips.
pub async fn connect() -> Client {
    try_connect()
        .await
        .unwrap_or_else(|problem| panic!("{problem}"))
}

/// [`connect`] without the panic, for code that must not panic (`Drop`).
pub(crate) async fn try_connect() -> Result<Client, String> {
    let kubeconfig = match Kubeconfig::from_env() {
        Ok(Some(kubeconfig)) => kubeconfig,
        Ok(None) => return Err(format!("KUBECONFIG is not set: {HOW_TO_START}")),
        Err(error) => return Err(format!("cannot read $KUBECONFIG ({error}): {HOW_TO_START}")),
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|error| format!("unusable $KUBECONFIG ({error}): {HOW_TO_START}"))?;
    config.headers.push((
        "user-agent".parse().expect("a valid header name"),
        USER_AGENT.parse().expect("a valid header value"),
    ));
    let url = config.cluster_url.clone();
    let client = Client::try_from(config)
        .map_err(|error| format!("no client for {url} ({error}): {HOW_TO_START}"))?;
    match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(error)) => Err(format!(
            "the API server at {url} does not answer ({error}): {HOW_TO_START}"
        )),
        Err(_) => Err(format!(
            "the API server at {url} did not answer within {PROBE_TIMEOUT:?}: {HOW_TO_START}"
        )),
    }
}
