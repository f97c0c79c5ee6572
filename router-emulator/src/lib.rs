//! A commune's router for the VPN tests and `cargo xtask demo`: a real
//! OpenSSH `sshd` on 127.0.0.1 (ephemeral port, its own host key, a client
//! key of its own in `authorized_keys`) whose only command is the router
//! emulator of `router/`: a shell with `uci`, `wg`, `wg-quick`, `ifup`…
//! keeping the router's configuration in the router's own directory.
//!
//! sshd runs as the current user (root in CI and here), with every path in
//! the router's directory, so routers run side by side and leave nothing.
//!
//! The `openwrt` dialect is tested against this emulated shell (no OpenWrt
//! runs here). The `linux` dialect has a real router: [`linux`], a network
//! namespace with OpenSSH, iproute2, wireguard-tools, nftables and
//! userspace WireGuard (wireguard-go), behind which a town hall's LAN
//! reaches the Datacenter's namespace through the tunnel.
//!
//! [`git`] is the DSI's GitOps repository, served by the same OpenSSH on
//! 127.0.0.1, for Flux to fetch.

#![forbid(unsafe_code)]

pub mod git;
pub mod linux;
pub mod netns;

use std::{
    fs,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

/// The OpenSSH server binary (Debian package openssh-server).
const SSHD: &str = "/usr/sbin/sshd";
/// What the routers (emulated and real) need on this machine.
const TOOLS: [&str; 9] = [
    SSHD,
    "/usr/bin/ssh-keygen",
    "/usr/bin/wg",
    "/usr/bin/wg-quick",
    netns::IP,
    "/usr/sbin/nft",
    "/usr/bin/ping",
    "/usr/bin/kill",
    "/usr/bin/nsenter",
];
/// The Debian packages that provide [`TOOLS`] (nsenter is util-linux's,
/// which every Debian has; kill is procps').
pub const PACKAGES: &str =
    "openssh-server openssh-client wireguard-tools iproute2 nftables iputils-ping procps";
/// wireguard-go, the userspace WireGuard of the real routers and the tests'
/// hub (this kernel has no WireGuard module): the module
/// `golang.zx2c4.com/wireguard` has no release tags, so this is the pseudo
/// version the Go module proxy serves as its latest. `cargo xtask` builds it.
pub const WIREGUARD_GO: &str = "v0.0.0-20260522210424-ecfc5a8d5446";
/// Tells apart the routers of one test process.
static COUNTER: AtomicU32 = AtomicU32::new(0);
/// How long sshd has to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `cargo xtask` caches the tools it builds from the Go module proxy:
/// `$SOCLE_CACHE_DIR/tools`, else `$XDG_CACHE_HOME/socle/tools`, else
/// `~/.cache/socle/tools`.
pub fn tools_dir() -> PathBuf {
    let root = match (
        std::env::var_os("SOCLE_CACHE_DIR"),
        std::env::var_os("XDG_CACHE_HOME"),
    ) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(dir)) => PathBuf::from(dir).join("socle"),
        (None, None) => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/socle")
        }
    };
    root.join("tools")
}

/// Where `cargo xtask` puts wireguard-go [`WIREGUARD_GO`].
pub fn cached_wireguard_go() -> PathBuf {
    tools_dir()
        .join(format!("wireguard-go-{WIREGUARD_GO}"))
        .join("wireguard-go")
}

/// `$SOCLE_WIREGUARD_GO`, else [`cached_wireguard_go`]. Panics, saying how
/// to build it, when it is missing: a test never skips.
pub fn wireguard_go() -> PathBuf {
    let path =
        std::env::var_os("SOCLE_WIREGUARD_GO").map_or_else(cached_wireguard_go, PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: `cargo xtask tools` builds it (or set SOCLE_WIREGUARD_GO)",
        path.display()
    );
    path
}

/// A running emulated router.
#[derive(Debug)]
pub struct Router {
    dir: PathBuf,
    port: u16,
    sshd: Child,
}

impl Router {
    /// The tools a router needs that this machine lacks.
    pub fn missing_tools() -> Vec<&'static str> {
        TOOLS
            .into_iter()
            .filter(|tool| !Path::new(tool).exists())
            .collect()
    }

    /// Starts sshd with a fresh host key and router state. Panics, saying
    /// what to install, when OpenSSH or wireguard-tools are missing.
    pub fn start() -> Self {
        let missing = Self::missing_tools();
        assert!(
            missing.is_empty(),
            "{missing:?} missing: apt-get install {PACKAGES} (.ci/run does)"
        );
        let dir = std::env::temp_dir().join(format!(
            "socle-router-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        copy_dir(&fixtures(), &dir);
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))
            .expect("writing authorized_keys");
        // sshd's privilege separation directory.
        fs::create_dir_all("/run/sshd").ok();
        let port = free_port();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             AllowUsers {user}\nForceCommand {d}/router-shell\nLogLevel VERBOSE\nMaxStartups 100\n",
            d = dir.display()
        );
        let sshd = start_sshd(&dir, &config, port);
        let router = Self { dir, port, sshd };
        let started = Instant::now();
        // The connection start_sshd made to see it listening, logged before
        // `start` returns, is then the one that `connections` leaves out.
        while router.logged_connections() == 0 {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "sshd did not log the connection made to see it listening: {}",
                router.sshd_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        router
    }

    /// Every command socle ran, one line each (newlines shown as " | ").
    pub fn commands(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The commands that started with `# socle: <step>`.
    pub fn steps(&self, step: &str) -> usize {
        let marker = format!("# socle: {step} |");
        self.commands()
            .iter()
            .filter(|c| c.starts_with(&marker))
            .count()
    }

    /// The uci configuration, as `uci show` prints it.
    pub fn uci(&self) -> String {
        fs::read_to_string(self.dir.join("uci")).unwrap_or_default()
    }

    /// Replaces the uci configuration (a technician's edit).
    pub fn set_uci(&self, text: &str) {
        fs::write(self.dir.join("uci"), text).expect("writing uci");
    }

    /// `/etc/wireguard/<interface>.conf` of the router, if any.
    pub fn wg_quick_file(&self, interface: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(format!("etc/wireguard/{interface}.conf"))).ok()
    }

    /// Whether the interface is up, with the public key it runs.
    pub fn live_public_key(&self, interface: &str) -> Option<String> {
        let key = fs::read_to_string(self.dir.join(format!("run/{interface}.key"))).ok()?;
        Some(wg(&["pubkey"], &key))
    }

    /// Makes the router's next `command` (uci, wg, wg-quick, ifup, ifdown,
    /// reload_config) fail, once.
    pub fn fail_once(&self, command: &str) {
        fs::write(self.dir.join("fail-once"), command).expect("writing fail-once");
    }

    /// sshd's log.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// How many connections sshd accepted, besides the one [`Router::start`]
    /// made to see it listening: its log says "Connection from" for each,
    /// before any key exchange or login.
    pub fn connections(&self) -> usize {
        self.logged_connections().saturating_sub(1)
    }

    fn logged_connections(&self) -> usize {
        self.sshd_log().matches("Connection from").count()
    }
}

/// What socle needs to log in to a router: where, as whom, and the host
/// key to pin.
pub trait SshRouter {
    /// `spec.vpn.router.address`.
    fn address(&self) -> String;
    fn port(&self) -> u16;
    /// The user socle logs in as.
    fn username(&self) -> String;
    /// The router's host key, "ssh-ed25519 AAAA…", to pin.
    fn host_key(&self) -> String;
    /// The private key (OpenSSH PEM) whose public half the router accepts.
    fn client_private_key(&self) -> String;
}

impl SshRouter for Router {
    fn address(&self) -> String {
        "127.0.0.1".into()
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn username(&self) -> String {
        std::env::var("USER").unwrap_or_else(|_| "root".into())
    }

    fn host_key(&self) -> String {
        public_key_line(&self.dir.join("host_key.pub"))
    }

    fn client_private_key(&self) -> String {
        fs::read_to_string(self.dir.join("client_key")).expect("reading the client key")
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs the real `wg` with `args`, feeding `stdin`; returns its trimmed
/// standard output. Panics on failure.
pub fn wg(args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("/usr/bin/wg")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running wg");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(stdin.as_bytes())
        .expect("feeding wg");
    let output = child.wait_with_output().expect("waiting for wg");
    assert!(
        output.status.success(),
        "wg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Checks a wg-quick configuration with the real tools: `wg-quick strip`
/// (wg-quick's own parser) must accept it, and `wg setconf` must parse the
/// stripped result, failing only for want of a kernel interface. Returns
/// the stripped configuration. Panics, quoting wg's error (never the
/// configuration: it holds a private key), when a tool refuses it.
pub fn check_with_wg(config: &str, name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("socle-wg-check-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).expect("a directory for wg-quick");
    let file = dir.join(format!("{name}.conf"));
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true).mode(0o600);
        std::io::Write::write_all(
            &mut options.open(&file).expect("writing"),
            config.as_bytes(),
        )
        .expect("writing the configuration");
    }
    let strip = Command::new("/usr/bin/wg-quick")
        .arg("strip")
        .arg(&file)
        .output()
        .expect("running wg-quick strip");
    let _ = fs::remove_dir_all(&dir);
    assert!(
        strip.status.success(),
        "wg-quick strip refused {name}: {}",
        String::from_utf8_lossy(&strip.stderr)
    );
    let stripped = String::from_utf8_lossy(&strip.stdout).into_owned();
    let setconf = Command::new("sh")
        .args(["-c", "wg setconf socle-check /dev/stdin 2>&1; true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("a stdin")
                .write_all(stripped.as_bytes())?;
            child.wait_with_output()
        })
        .expect("running wg setconf");
    let said = String::from_utf8_lossy(&setconf.stdout);
    assert!(
        said.contains("Unable to modify interface") && !said.contains("parsing error"),
        "wg could not parse {name}: {said}"
    );
    stripped
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("router")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating the router's directory");
    for entry in fs::read_dir(from).expect("reading the fixtures") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copying a fixture");
        }
    }
}

fn keygen(path: &Path) {
    let status = Command::new("/usr/bin/ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "socle-e2e", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("running ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

fn public_key_line(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("reading a public key");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Starts OpenSSH's sshd on 127.0.0.1:`port` with `config`, written into
/// `dir` (its log in `dir/sshd.log`), and returns once it listens.
pub(crate) fn start_sshd(dir: &Path, config: &str, port: u16) -> Child {
    fs::write(dir.join("sshd_config"), config).expect("writing sshd_config");
    let log = fs::File::create(dir.join("sshd.log")).expect("creating sshd.log");
    let sshd = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting sshd");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < START_TIMEOUT,
            "sshd did not listen on port {port} within {START_TIMEOUT:?}: {}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
    sshd
}
