//! A real Linux router for the `linux` dialect, and the Datacenter it
//! reaches, in network namespaces (see [`crate::netns`]):
//!
//! ```text
//!  this machine ──mgmt (198.18.m.0/30)──┐     ┌──mgmt (198.18.n.0/30, SSH)
//!                                       │     │
//!  Datacenter ns ──WAN (198.19.n.0/30)── router ns ──LAN (site/24)── town hall ns
//!  hub: 198.51.100.1 (public endpoint)       sshd (OpenSSH), ip,     a PC at .10
//!       10.96.0.10 (behind the hub)          wg, wg-quick, nft,
//!                                            wireguard-go
//! ```
//!
//! The router runs the real OpenSSH `sshd` with a host key of its own, and
//! socle logs in as root and runs its scripts with the real tools: nothing
//! answers in their place. This kernel has no WireGuard module, so
//! `wg-quick up` falls back, as it does on any such machine, to the
//! `wireguard-go` it finds on its PATH. Each router (its sshd and what
//! socle runs through it), and the hub, run in a mount namespace of their
//! own (see [`Namespace::spawn_isolated`]).

use std::{
    fs,
    net::{Ipv4Addr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    SSHD, START_TIMEOUT, SshRouter, keygen,
    netns::{Namespace, link_addresses},
    public_key_line,
};

/// The hub's public endpoint, on the Datacenter's loopback.
pub const PUBLIC_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// An address behind the hub, on the Datacenter's loopback, inside the
/// Datacenter's ranges that routers send through their tunnel
/// (10.96.0.0/12, socle's default `--cluster-cidrs`).
pub const BEHIND_HUB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// The port of the hub's API (`socle vpn-gateway`), on every address of
/// the Datacenter.
pub const GATEWAY_PORT: u16 = 9586;

/// The Datacenter's namespace: where the hub runs.
#[derive(Debug)]
pub struct Datacenter {
    processes: Vec<Child>,
    management: Ipv4Addr,
    namespace: Namespace,
}

impl Datacenter {
    pub fn create() -> Self {
        let (namespace, _, management) = Namespace::create_managed("dc");
        for address in [PUBLIC_ADDRESS, BEHIND_HUB] {
            namespace.ip(&["address", "add", &format!("{address}/32"), "dev", "lo"]);
        }
        Self {
            processes: Vec::new(),
            management,
            namespace,
        }
    }

    /// The Datacenter's address on its management link, where this
    /// machine (socle, the tests) reaches what runs in it.
    pub fn management_address(&self) -> Ipv4Addr {
        self.management
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Starts the hub: `socle vpn-gateway` (the binary `socle`) reading
    /// `config` every second, in a mount namespace of its own (see
    /// [`Namespace::spawn_isolated`]), its log in `log`. It is stopped with
    /// the Datacenter.
    pub fn start_gateway(&mut self, socle: &Path, config: &Path, log: &Path) {
        let utf8 = |path: &Path| path.to_str().expect("a UTF-8 path").to_owned();
        let admin = format!("0.0.0.0:{GATEWAY_PORT}");
        let child = self.namespace.spawn_isolated(
            &utf8(socle),
            &[
                "vpn-gateway",
                "--config",
                &utf8(config),
                "--admin-address",
                &admin,
                "--interval-seconds",
                "1",
            ],
            log,
        );
        self.processes.push(child);
    }

    /// The hub's API as socle reaches it from this machine
    /// (`socle run --vpn-gateway-api`).
    pub fn gateway_api(&self) -> String {
        format!("http://{}:{GATEWAY_PORT}", self.management)
    }
}

impl Drop for Datacenter {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A town hall's router and its LAN.
#[derive(Debug)]
pub struct LinuxRouter {
    dir: PathBuf,
    management: Ipv4Addr,
    site: [u8; 3],
    /// A process holding the router's mount namespace (its
    /// `/etc/wireguard`, `/run/wireguard`, `/usr/local/sbin`): sshd, and so
    /// every command socle runs, starts in it, however often sshd restarts.
    machine: Child,
    sshd: Child,
    lan: Namespace,
    router: Namespace,
}

impl LinuxRouter {
    /// A router linked to `datacenter`, serving the town hall network
    /// `site`.0/24, with sshd listening on its management address.
    /// Panics, saying what to install, when a tool is missing.
    pub fn start(datacenter: &Datacenter, site: [u8; 3]) -> Self {
        let missing = crate::Router::missing_tools();
        assert!(
            missing.is_empty(),
            "{missing:?} missing: apt-get install {} (cargo xtask ci does)",
            crate::PACKAGES
        );
        let (router, number, management) = Namespace::create_managed("rt");
        let (lan, _) = Namespace::create("lan");
        link_wan(&router, datacenter, number);
        link_lan(&router, &lan, site);
        router.sysctl("net.ipv4.ip_forward=1");
        let dir = std::env::temp_dir().join(format!("socle-linux-router-{}", router.name()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the router's directory");
        let machine = router.spawn_isolated("sleep", &["infinity"], &dir.join("machine.log"));
        let sshd = start_sshd(machine.id(), &dir, management);
        Self {
            dir,
            management,
            site,
            machine,
            sshd,
            lan,
            router,
        }
    }

    /// The site network, `a.b.c.0/24`.
    pub fn site(&self) -> String {
        let [a, b, c] = self.site;
        format!("{a}.{b}.{c}.0/24")
    }

    /// The town hall PC's address.
    pub fn pc(&self) -> String {
        let [a, b, c] = self.site;
        format!("{a}.{b}.{c}.10")
    }

    /// The router itself, to look at its interfaces and rules.
    pub fn namespace(&self) -> &Namespace {
        &self.router
    }

    /// The town hall's LAN, where its PC is.
    pub fn lan(&self) -> &Namespace {
        &self.lan
    }

    /// `program args…` run on the router, as root, in its mount namespace
    /// (where its `/etc/wireguard` and wireguard-go sockets are): standard
    /// output, or panics with its error output.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let target = self.machine.id().to_string();
        let mut all = vec!["-t", target.as_str(), "-m", "-n", program];
        all.extend_from_slice(args);
        let output = Command::new("/usr/bin/nsenter")
            .args(&all)
            .output()
            .expect("running nsenter");
        assert!(
            output.status.success(),
            "{program} {args:?} on the router: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Stops the router's userspace WireGuard (its wireguard-go daemons, by
    /// their ids), as a crash would: the interface goes with them, and its
    /// PreDown does not run. Returns once they are gone.
    pub fn stop_wireguard_go(&self) {
        for (pid, _) in self.wireguard_go() {
            crate::netns::run(&["kill", "-KILL", &pid.to_string()]);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.wireguard_go().is_empty() {
            assert!(
                Instant::now() < deadline,
                "wireguard-go still runs 10 s after SIGKILL: {:?}",
                self.wireguard_go()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The wireguard-go daemons running on the router: their ids and
    /// command lines (`wireguard-go socle0`).
    pub fn wireguard_go(&self) -> Vec<(u32, String)> {
        self.router
            .pids()
            .into_iter()
            .filter_map(|pid| {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                let line = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let line = String::from_utf8_lossy(&line).replace('\0', " ");
                (comm.trim() == "wireguard-go").then(|| (pid, line.trim().to_owned()))
            })
            .collect()
    }

    /// The router's sshd started again with a new host key (a router
    /// reinstalled, or something else answering at its address).
    pub fn replace_host_key(&mut self) {
        self.stop_sshd();
        for file in ["host_key", "host_key.pub"] {
            fs::remove_file(self.dir.join(file)).expect("removing the host key");
        }
        keygen(&self.dir.join("host_key"));
        self.sshd = spawn_sshd(self.machine.id(), &self.dir, self.management);
    }

    /// The router accepts another key than socle's from now on (its
    /// technician changed the login).
    pub fn revoke_login(&self) {
        keygen(&self.dir.join("other_key"));
        fs::copy(
            self.dir.join("other_key.pub"),
            self.dir.join("authorized_keys"),
        )
        .expect("writing authorized_keys");
    }

    /// Stops the router's sshd (the router stays up): socle can no longer
    /// reach it.
    pub fn stop_sshd(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }

    /// sshd's log.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl SshRouter for LinuxRouter {
    fn address(&self) -> String {
        self.management.to_string()
    }

    fn port(&self) -> u16 {
        22
    }

    /// root, as on a real router.
    fn username(&self) -> String {
        "root".into()
    }

    fn host_key(&self) -> String {
        public_key_line(&self.dir.join("host_key.pub"))
    }

    fn client_private_key(&self) -> String {
        fs::read_to_string(self.dir.join("client_key")).expect("reading the client key")
    }
}

impl Drop for LinuxRouter {
    fn drop(&mut self) {
        for child in [&mut self.sshd, &mut self.machine] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The WAN link to the Datacenter, and the route to the hub's endpoint: the
/// router's only way out.
fn link_wan(router: &Namespace, datacenter: &Datacenter, number: u32) {
    let (dc_side, wan) = link_addresses([198, 19], number);
    let dc_link = format!("r{number}");
    let dc = &datacenter.namespace;
    router.ip(&[
        "link",
        "add",
        "wan0",
        "type",
        "veth",
        "peer",
        "name",
        &dc_link,
        "netns",
        dc.name(),
    ]);
    router.ip(&["address", "add", &format!("{wan}/30"), "dev", "wan0"]);
    router.ip(&["link", "set", "wan0", "up"]);
    dc.ip(&["address", "add", &format!("{dc_side}/30"), "dev", &dc_link]);
    dc.ip(&["link", "set", &dc_link, "up"]);
    router.ip(&[
        "route",
        "add",
        &format!("{PUBLIC_ADDRESS}/32"),
        "via",
        &dc_side.to_string(),
    ]);
}

/// The town hall's LAN: the router at .1, a PC at .10 whose default route
/// is the router.
fn link_lan(router: &Namespace, lan: &Namespace, [a, b, c]: [u8; 3]) {
    router.ip(&[
        "link",
        "add",
        "lan0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        lan.name(),
    ]);
    router.ip(&[
        "address",
        "add",
        &format!("{a}.{b}.{c}.1/24"),
        "dev",
        "lan0",
    ]);
    router.ip(&["link", "set", "lan0", "up"]);
    lan.ip(&[
        "address",
        "add",
        &format!("{a}.{b}.{c}.10/24"),
        "dev",
        "eth0",
    ]);
    lan.ip(&["link", "set", "eth0", "up"]);
    lan.ip(&["route", "add", "default", "via", &format!("{a}.{b}.{c}.1")]);
}

/// sshd in the router's namespace, on its management address, with a fresh
/// host key and a client key of its own in `authorized_keys`.
fn start_sshd(machine: u32, dir: &Path, address: Ipv4Addr) -> Child {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))
        .expect("writing authorized_keys");
    spawn_sshd(machine, dir, address)
}

/// sshd with the keys of `dir`, in the namespaces of the process
/// `machine`, once it listens.
fn spawn_sshd(machine: u32, dir: &Path, address: Ipv4Addr) -> Child {
    fs::create_dir_all("/run/sshd").ok();
    let config = format!(
        "Port 22\nListenAddress {address}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nAllowUsers root\nLogLevel VERBOSE\nMaxStartups 100\n",
        d = dir.display()
    );
    fs::write(dir.join("sshd_config"), config).expect("writing sshd_config");
    let config = dir.join("sshd_config");
    let log = fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("sshd.log"))
        .expect("opening sshd.log");
    let mut sshd = Command::new("/usr/bin/nsenter")
        .args([
            "-t",
            &machine.to_string(),
            "-m",
            "-n",
            SSHD,
            "-D",
            "-e",
            "-f",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("starting sshd");
    let started = Instant::now();
    while TcpStream::connect_timeout(&(address, 22).into(), Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = sshd.try_wait() {
            panic!(
                "the router's sshd exited ({status}): {}",
                fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "the router's sshd did not listen on {address}:22 within {START_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    sshd
}
