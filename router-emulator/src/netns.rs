//! Network namespaces for the tests' real routers and hub: named, numbered so
//! that tests (and test processes) running at once never share one, and
//! deleted with every process in them when their guard is dropped.
//! Deleting a namespace deletes its links, and with them their other ends.
//!
//! Traffic rule: packets only ever go to addresses inside the namespaces a
//! test made (or to loopback). No namespace gets a default route out of the
//! test's own ones, and the only links into the machine's own namespace are
//! management links, each a /30 of 198.18.0.0/16 (RFC 2544's benchmarking
//! range, used by no real network).

use std::{
    fs::File,
    net::Ipv4Addr,
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::Duration,
};

/// The iproute2 binary.
pub const IP: &str = "/usr/sbin/ip";
/// How many numbers namespaces of one kind may take: each gets a /30 of
/// a /16 (198.18.0.0/16 for management links, 198.19.0.0/16 for WAN links).
const NUMBERS: u32 = 16_384;
/// Where this process starts looking for a free number, so that test
/// processes running at once seldom try the same ones.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace this process made, deleted (its processes killed
/// first) when dropped.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// A new namespace `socle-<kind><n>` with loopback up; returns it and
    /// its number `n`, which no other namespace of that kind holds.
    pub fn create(kind: &str) -> (Self, u32) {
        numbered(|n| Self::named(&format!("socle-{kind}{n}")))
    }

    /// A new namespace `socle-<kind><n>` linked to this machine's
    /// namespace by a management link (`mgmt0` inside, `socle-m<n>` here):
    /// returns it, `n` (which no other managed namespace holds, whatever
    /// its kind) and its address on that link.
    pub fn create_managed(kind: &str) -> (Self, u32, Ipv4Addr) {
        // The link's name, taken in this machine's namespace, is the
        // reservation of the number.
        let (namespace, n) = numbered(|n| {
            let (here, there) = (format!("socle-m{n}"), format!("socle-p{n}"));
            if !run_status(&[
                IP, "link", "add", &here, "type", "veth", "peer", "name", &there,
            ]) {
                return None;
            }
            let Some(namespace) = Self::named(&format!("socle-{kind}{n}")) else {
                let _ = run_status(&[IP, "link", "delete", &here]);
                return None;
            };
            run(&[
                IP,
                "link",
                "set",
                &there,
                "netns",
                &namespace.name,
                "name",
                "mgmt0",
            ]);
            Some(namespace)
        });
        let (here, there) = link_addresses([198, 18], n);
        let link = format!("socle-m{n}");
        run(&[IP, "address", "add", &format!("{here}/30"), "dev", &link]);
        run(&[IP, "link", "set", &link, "up"]);
        namespace.ip(&["address", "add", &format!("{there}/30"), "dev", "mgmt0"]);
        namespace.ip(&["link", "set", "mgmt0", "up"]);
        (namespace, n, there)
    }

    /// The namespace `name`, unless it exists already.
    fn named(name: &str) -> Option<Self> {
        // `ip netns add` fails when the name is taken.
        if !run_status(&[IP, "netns", "add", name]) {
            return None;
        }
        let namespace = Self {
            name: name.to_owned(),
        };
        namespace.ip(&["link", "set", "lo", "up"]);
        Some(namespace)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <namespace> args…`; panics on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec![IP, "-n", &self.name];
        all.extend_from_slice(args);
        run(&all);
    }

    /// A command run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(IP);
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program args…` inside the namespace and returns its output.
    pub fn output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("running {program} in {}: {error}", self.name))
    }

    /// Starts `program args…` in the namespace, in a mount namespace of its
    /// own where `/run/wireguard` (wireguard-go's control sockets, which
    /// are not per network namespace), `/etc/wireguard` and
    /// `/usr/local/sbin` are empty tmpfs, the last holding `wireguard-go`:
    /// what it starts sees a machine of its own, with userspace WireGuard
    /// installed. Its output goes to `log`.
    pub fn spawn_isolated(&self, program: &str, args: &[&str], log: &Path) -> Child {
        let wireguard_go = crate::wireguard_go();
        let setup = format!(
            "set -e; mkdir -p /run/wireguard /etc/wireguard; \
             for dir in /run/wireguard /etc/wireguard /usr/local/sbin; do mount -t tmpfs -o mode=0755 tmpfs $dir; done; \
             ln -s '{}' /usr/local/sbin/wireguard-go; \
             export PATH=/usr/local/sbin:$PATH; exec \"$@\"",
            wireguard_go.display()
        );
        let log = File::create(log).expect("creating a log file");
        self.command("/usr/bin/unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &setup,
                "sh",
                program,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {program} in {}: {error}", self.name))
    }

    /// Sets a sysctl of the namespace (`net.ipv4.ip_forward=1`).
    pub fn sysctl(&self, setting: &str) {
        let output = self.output("/usr/sbin/sysctl", &["-qw", setting]);
        assert!(
            output.status.success(),
            "sysctl {setting} in {}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The processes running in the namespace.
    pub fn pids(&self) -> Vec<u32> {
        let output = Command::new(IP)
            .args(["netns", "pids", &self.name])
            .output()
            .expect("running ip netns pids");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The processes started in it (sshd, its sessions, the wireguard-go
        // daemons wg-quick detached) are this test's own: ended by their ids.
        for _ in 0..50 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new(IP)
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// The first `make(n)` that succeeds, trying numbers from where this
/// process is at.
fn numbered<T>(mut make: impl FnMut(u32) -> Option<T>) -> (T, u32) {
    let start = std::process::id().wrapping_mul(31) % NUMBERS;
    for _ in 0..NUMBERS {
        let n = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % NUMBERS;
        if let Some(made) = make(n) {
            return (made, n);
        }
    }
    panic!("no free network namespace number left");
}

/// The /30 number `n` of `base` (a /16): its two host addresses.
pub fn link_addresses(base: [u8; 2], n: u32) -> (Ipv4Addr, Ipv4Addr) {
    assert!(n < NUMBERS, "namespace number {n} out of range");
    let offset = n * 4;
    let third = u8::try_from(offset / 256).expect("n < 16 384");
    let fourth = u8::try_from(offset % 256).expect("a byte");
    (
        Ipv4Addr::new(base[0], base[1], third, fourth + 1),
        Ipv4Addr::new(base[0], base[1], third, fourth + 2),
    )
}

/// Runs `args` (program first); panics with its error output on failure.
pub fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", args[0]));
    assert!(
        output.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn run_status(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_distinct_numbers_never_share_an_address() {
        assert_eq!(
            link_addresses([198, 18], 0),
            (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))
        );
        assert_eq!(
            link_addresses([198, 18], 64),
            (Ipv4Addr::new(198, 18, 1, 1), Ipv4Addr::new(198, 18, 1, 2))
        );
        assert_eq!(
            link_addresses([198, 19], NUMBERS - 1),
            (
                Ipv4Addr::new(198, 19, 255, 253),
                Ipv4Addr::new(198, 19, 255, 254)
            )
        );
    }
}
