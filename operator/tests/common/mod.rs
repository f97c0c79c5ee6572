//! What the binary's tests share: the example manifests, and a copy of them
//! each test can change without touching the others'.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The 31 communes, shared services and tariff of `manifests/examples`.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// Copies the directory `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
