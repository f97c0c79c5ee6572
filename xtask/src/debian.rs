//! The Debian packages the end-to-end tests and the demo run — OpenSSH's
//! `sshd` and client for the routers, wireguard-tools' `wg` and `wg-quick`,
//! and for the real Linux routers iproute2, nftables and ping — are
//! installed with apt-get when missing: the README's two commands set a
//! fresh machine up themselves, not only `.ci/run`.

use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use socle_router_emulator::{PACKAGES, Router};

/// Installs the packages whose tools are missing. Needs root (apt-get);
/// otherwise says what to install.
pub fn ensure_packages() -> Result<()> {
    let missing = Router::missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root()? {
        bail!(
            "{} missing and not root: apt-get install {PACKAGES}",
            missing.join(", ")
        );
    }
    eprintln!(
        "xtask: {} missing: apt-get install {PACKAGES}",
        missing.join(", ")
    );
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(PACKAGES.split(' '));
    apt_get(&install)?;
    let still = Router::missing_tools();
    ensure!(
        still.is_empty(),
        "{} still missing after apt-get install {PACKAGES}",
        still.join(", ")
    );
    Ok(())
}

fn apt_get(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    ensure!(status.success(), "apt-get {} failed", args.join(" "));
    Ok(())
}

pub fn is_root() -> Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("running id -u")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}
