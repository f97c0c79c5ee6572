//! The repository `socle gitops init` writes, against a real API server:
//! its Flux Kustomizations and GitRepository, and its Argo CD Applications,
//! are created in a server-side dry run against Flux's and Argo CD's own
//! CRDs — only the CRDs, no controller — taken at pinned versions from the
//! Go module proxy (`go mod download`); each kustomization builds
//! (`kubectl kustomize`) and what it builds passes a server-side dry run.
//!
//! And the router's host key a technician pins, fetched by `socle vpn
//! host-key` from a real sshd.
//!
//! The dry runs go into a namespace of the test's scope (the objects'
//! `flux-system`, `argocd` and `socle-system` renamed to it); nothing is
//! persisted. The CRDs stay installed, as every test's CRDs do.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use socle_e2e::{
    TestScope,
    install::{documents, kubectl, ok, run},
    install_crds, install_socle_crds,
    process::socle_binary,
    router::{Router, SshRouter},
};

/// Flux's source-controller and kustomize-controller: the release line the
/// testenv runs (`xtask/src/testenv/flux`), the newest this machine's Go
/// (1.26) accepts.
const FLUX: [(&str, &str, &str); 2] = [
    (
        "github.com/fluxcd/source-controller",
        "v1.9.6",
        "config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
    ),
    (
        "github.com/fluxcd/kustomize-controller",
        "v1.9.6",
        "config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    ),
];
/// Argo CD: v3.6 asks for Go 1.27; v3.5.8 is the newest this Go accepts.
const ARGO_CD: (&str, &str, &str) = (
    "github.com/argoproj/argo-cd/v3",
    "v3.5.8",
    "manifests/crds/application-crd.yaml",
);

/// The files of the template holding Flux and Argo CD objects.
const ENGINE_FILES: [&str; 5] = [
    "flux/socle.yaml",
    "argocd/socle.yaml",
    "argocd/apps/socle-platform.yaml",
    "argocd/apps/socle-adherents.yaml",
    "argocd/apps/socle-velero-access.yaml",
];

/// The namespaces the template's objects name, which the dry runs move to
/// the scope's.
const NAMESPACES: [&str; 5] = [
    "flux-system",
    "argocd",
    "socle-system",
    "socle-vpn-gateway",
    "velero",
];

/// The directory of `module@version` in Go's module cache, downloaded from
/// the module proxy when it is not there yet.
fn go_module(module: &str, version: &str) -> PathBuf {
    let output = std::process::Command::new("go")
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .env("GOTOOLCHAIN", "local")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("running go (a prerequisite of the testenv)");
    let info: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("go mod download {module}@{version}: {error}"));
    assert!(
        output.status.success() && info["Error"].is_null(),
        "go mod download {module}@{version}: {}{}",
        info["Error"],
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(info["Dir"].as_str().expect("a module directory"))
}

fn crd(module: &str, version: &str, file: &str) -> CustomResourceDefinition {
    let path = go_module(module, version).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A repository from the template, with a commune and a Level-1 record
/// written by the generators, as after a first pull request.
fn repository(dir: &Path) {
    let socle = socle_binary();
    let _ = std::fs::remove_dir_all(dir);
    let repo = dir.to_str().unwrap();
    let commands: [&[&str]; 3] = [
        &[
            "gitops",
            "init",
            repo,
            "--url",
            "ssh://git@git.example.org/dsi/socle-gitops.git",
        ],
        &[
            "member",
            "new",
            "--name",
            "guenrouet",
            "--display-name",
            "Guenrouët",
            "--insee",
            "44068",
            "--population",
            "3286",
            "--offer",
            "SocleComplet",
            "--effective",
            "2026-01-01",
            "--deliberation",
            "DEL-2026-007",
            "--storage",
            "20Gi",
            "--backup-tier",
            "Standard",
            "--repo",
            repo,
            "--write",
        ],
        &[
            "usage",
            "new",
            "--member",
            "guenrouet",
            "--half-days",
            "2",
            "--mission",
            "Installation",
            "--date",
            "2026-03-12",
            "--repo",
            repo,
            "--write",
        ],
    ];
    for args in commands {
        let output = std::process::Command::new(&socle)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "socle {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `objects` moved into `namespace` (and labelled with the scope's labels),
/// as one List for kubectl.
fn scoped(objects: Vec<Value>, namespace: &str, scope: &TestScope) -> String {
    let items: Vec<Value> = objects
        .into_iter()
        .map(|mut object| {
            let metadata = &mut object["metadata"];
            if metadata["namespace"]
                .as_str()
                .is_some_and(|ns| NAMESPACES.contains(&ns))
            {
                metadata["namespace"] = json!(namespace);
            }
            let labels = metadata["labels"].as_object().cloned().unwrap_or_default();
            let mut labels: serde_json::Map<String, Value> = labels;
            labels.extend(scope.labels().into_iter().map(|(k, v)| (k, json!(v))));
            metadata["labels"] = Value::Object(labels);
            object
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// A server-side dry run of `list`: creation for new objects, server-side
/// apply for the cluster-wide ones other tests may hold.
async fn dry_run(list: &str, apply: bool) -> Result<String, String> {
    let args: &[&str] = if apply {
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=socle-e2e",
            "--dry-run=server",
            "-f",
            "-",
        ]
    } else {
        &["create", "--dry-run=server", "-f", "-"]
    };
    run(&kubectl(), args, Some(list)).await
}

#[tokio::test]
async fn the_templates_flux_and_argo_cd_objects_pass_their_crds() {
    let scope = TestScope::new("gitops-template").await;
    let client = scope.client();
    let mut engines: Vec<CustomResourceDefinition> =
        FLUX.iter().map(|(m, v, f)| crd(m, v, f)).collect();
    engines.push(crd(ARGO_CD.0, ARGO_CD.1, ARGO_CD.2));
    install_crds(&client, &engines).await;
    // What the adherents' objects are checked against.
    install_socle_crds(&client).await;
    let namespace = scope.create_namespace("gitops").await;
    let dir = std::env::temp_dir().join(format!("socle-gitops-template-{}", scope.id()));
    repository(&dir);

    let mut objects = Vec::new();
    for file in ENGINE_FILES {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        objects.extend(documents(&text));
    }
    let kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "GitRepository socle-gitops",
            "Kustomization socle-platform",
            "Kustomization socle-adherents",
            "Kustomization socle-velero-access",
            "Application socle-gitops",
            "Application socle-platform",
            "Application socle-adherents",
            "Application socle-velero-access",
        ]
    );
    let created = dry_run(&scoped(objects.clone(), &namespace, &scope), false)
        .await
        .unwrap_or_else(|error| panic!("the engines' CRDs refuse the template: {error}"));
    assert_eq!(
        created.matches("created (server dry run)").count(),
        8,
        "{created}"
    );

    // The dry runs are the CRDs' schemas at work: a mistake is refused.
    let mut wrong = objects;
    wrong[2]["spec"]["prune"] = json!("yes");
    wrong[5]["spec"]["syncPolicy"]["syncOptions"] = json!("ServerSideApply=true");
    let refused = dry_run(&scoped(wrong, &namespace, &scope), false)
        .await
        .expect_err("a string for a boolean and for a list");
    assert!(refused.contains("spec.prune"), "{refused}");
    assert!(refused.contains("spec.syncPolicy.syncOptions"), "{refused}");

    // What Flux's and Argo CD's Kustomizations and Applications apply builds,
    // and the API server takes it: the platform and the adherents.
    for path in ["platform/socle", "platform/velero-access", "."] {
        let built = ok(
            &kubectl(),
            &["kustomize", dir.join(path).to_str().unwrap()],
            None,
        )
        .await;
        let list = scoped(documents(&built), &namespace, &scope);
        dry_run(&list, true)
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    scope.cleanup().await;
}

/// The host key a technician pins in `spec.vpn.router.hostKey`, fetched
/// from the router's real sshd by `socle vpn host-key`, with the
/// fingerprint `ssh-keygen -l` gives of it; no login is attempted.
#[test]
fn a_routers_host_key_is_fetched_with_its_fingerprint() {
    let router = Router::start();
    let output = std::process::Command::new(socle_binary())
        .args([
            "vpn",
            "host-key",
            &router.address(),
            "--port",
            &router.port().to_string(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(key, router.host_key());
    let file = std::env::temp_dir().join(format!("socle-host-key-{}.pub", std::process::id()));
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let listed = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    assert!(
        stderr.contains(&format!("fingerprint {fingerprint}.")),
        "{stderr}"
    );
    assert!(
        !router.sshd_log().contains("Accepted"),
        "no login: {}",
        router.sshd_log()
    );
}
