//! The example manifests of `manifests/examples`: the 31 communes of REDON
//! Agglomération (names, INSEE codes and legal populations from INSEE's
//! list), which the tests and the benchmark build their Members from.

use std::{
    fs,
    path::{Path, PathBuf},
};

use socle::api::Member;

/// `manifests/examples` of the repository.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// The example Members of `manifests/examples/members`, in name order.
pub fn example_members() -> Vec<Member> {
    let dir = examples_dir().join("members");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            serde_yaml::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect()
}
