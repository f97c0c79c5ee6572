//! The DSI's GitOps repository for the tests and `cargo xtask demo
//! --gitops`: a bare Git repository served by a real OpenSSH `sshd` on
//! 127.0.0.1 (ephemeral port, its own host key), which accepts one deploy
//! key and runs nothing but `git-shell` for it (read-only use: Flux
//! fetches), and the DSI's working copy beside it, where a merged pull
//! request is a commit pushed to the served repository.
//!
//! The keys live in files of the server's directory, removed with it;
//! nothing here prints them.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use crate::{free_port, keygen, public_key_line, start_sshd};

/// The OpenSSH server binary (Debian package openssh-server).
const SSHD: &str = "/usr/sbin/sshd";
/// The only program the deploy key may run: git's restricted login shell,
/// which serves `git-upload-pack` and its kin and nothing else.
const GIT_SHELL: &str = "/usr/bin/git-shell";
/// The branch Flux follows.
pub const BRANCH: &str = "main";
/// Tells apart the servers of one test process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A Git repository served over SSH on 127.0.0.1, and a working copy of it.
#[derive(Debug)]
pub struct GitServer {
    dir: PathBuf,
    port: u16,
    sshd: Child,
}

impl GitServer {
    /// A new empty repository (branch [`BRANCH`]), its sshd listening.
    /// Panics, saying what to install, when OpenSSH or git is missing.
    pub fn start() -> Self {
        for tool in [SSHD, GIT_SHELL, "/usr/bin/ssh-keygen", "/usr/bin/git"] {
            assert!(
                Path::new(tool).exists(),
                "{tool} missing: apt-get install openssh-server openssh-client git"
            );
        }
        let dir = std::env::temp_dir().join(format!(
            "socle-git-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the Git server's directory");
        git(
            &dir,
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                BRANCH,
                "socle-gitops.git",
            ],
        );
        git(&dir, &["init", "--quiet", "-b", BRANCH, "work"]);
        git(
            &dir.join("work"),
            &["remote", "add", "origin", "../socle-gitops.git"],
        );
        keygen(&dir.join("host_key"));
        keygen(&dir.join("deploy_key"));
        // `restrict`: no terminal, no forwarding of any kind.
        let deploy_key = fs::read_to_string(dir.join("deploy_key.pub")).expect("the deploy key");
        fs::write(
            dir.join("authorized_keys"),
            format!("restrict {}", deploy_key.trim()),
        )
        .expect("writing authorized_keys");
        fs::create_dir_all("/run/sshd").ok();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\nDisableForwarding yes\n\
             PermitTTY no\nForceCommand {GIT_SHELL} -c \"$SSH_ORIGINAL_COMMAND\"\n\
             LogLevel VERBOSE\n",
            d = dir.display(),
            user = user(),
        );
        let sshd = start_sshd(&dir, &config, port);
        Self { dir, port, sshd }
    }

    /// `ssh://<user>@127.0.0.1:<port>/…/socle-gitops.git`: what the
    /// GitRepository names.
    pub fn url(&self) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            user(),
            self.port,
            self.dir.join("socle-gitops.git").display()
        )
    }

    /// The server's host key as a known_hosts line
    /// (`[127.0.0.1]:<port> ssh-ed25519 AAAA…`): what Flux pins.
    pub fn known_hosts(&self) -> String {
        self.known_hosts_with(&self.host_key())
    }

    /// A known_hosts line naming this server's address with `host_key`
    /// (another server's): what Flux pinned if this one were an impostor.
    pub fn known_hosts_with(&self, host_key: &str) -> String {
        format!("[127.0.0.1]:{} {host_key}\n", self.port)
    }

    /// The server's host key, "ssh-ed25519 AAAA…".
    pub fn host_key(&self) -> String {
        public_key_line(&self.dir.join("host_key.pub"))
    }

    /// The DSI's working copy, where the test writes what a pull request
    /// changes.
    pub fn work_tree(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Writes `text` to `path` of the working copy (directories made).
    pub fn write(&self, path: &str, text: &str) {
        let file = self.work_tree().join(path);
        fs::create_dir_all(file.parent().expect("a directory")).expect("creating a directory");
        fs::write(&file, text).unwrap_or_else(|error| panic!("writing {path}: {error}"));
    }

    /// Removes `path` from the working copy.
    pub fn remove(&self, path: &str) {
        fs::remove_file(self.work_tree().join(path))
            .unwrap_or_else(|error| panic!("removing {path}: {error}"));
    }

    /// The pull request merged: everything changed in the working copy
    /// committed with `message` and pushed to the served repository.
    /// Returns the commit's hash.
    pub fn merge(&self, message: &str) -> String {
        let work = self.work_tree();
        git(&work, &["add", "--all"]);
        git(
            &work,
            &[
                "-c",
                "user.name=DSI REDON Agglomération",
                "-c",
                "user.email=dsi@redon-agglomeration.bzh",
                "commit",
                "--quiet",
                "-m",
                message,
            ],
        );
        git(&work, &["push", "--quiet", "origin", BRANCH]);
        git(&work, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// What sshd logged (connections, logins: never a key).
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The deploy key, private half (OpenSSH format): for the Secret Flux
    /// reads, never to print.
    pub fn deploy_key(&self) -> String {
        fs::read_to_string(self.dir.join("deploy_key")).expect("reading the deploy key")
    }

    /// The deploy key, public half.
    pub fn deploy_key_pub(&self) -> String {
        fs::read_to_string(self.dir.join("deploy_key.pub")).expect("reading the deploy key")
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs git in `dir` with none of the developer's configuration; returns
/// its standard output. Panics on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("running git");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}
