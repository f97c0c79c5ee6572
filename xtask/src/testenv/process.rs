//! Starting and stopping the control plane's processes by pid.

use std::{
    fs::{self, File},
    io::Write as _,
    net::TcpStream,
    os::unix::fs::OpenOptionsExt as _,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// One process `up` started.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Component {
    pub name: String,
    pub pid: u32,
    pub binary: PathBuf,
    pub log: PathBuf,
    /// Its arguments, to start it again the same way ([`Component::restart`]).
    #[serde(default)]
    pub args: Vec<String>,
    /// The environment it gets besides xtask's own, to start it again the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
}

/// Environment variables of a component, kept in a file of `NAME=value`
/// lines that only its owner may read (they may be secrets, such as an S3
/// store's keys): `state.json` names the file and the variables, never their
/// values, which are read from the file at each start.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Env {
    pub file: PathBuf,
    pub names: Vec<String>,
    /// Prefixes of xtask's own variables the component must not inherit
    /// (a developer's `AWS_PROFILE` or `AWS_ACCESS_KEY_ID` would win over
    /// the credentials file given to Velero's plugin).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset_prefixes: Vec<String>,
}

impl Env {
    /// Writes `vars` to `file`, mode 0600 from its creation.
    pub fn write(file: &Path, vars: &[(&str, &str)]) -> Result<Self> {
        let _ = fs::remove_file(file);
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
            .with_context(|| format!("creating {}", file.display()))?;
        for (name, value) in vars {
            anyhow::ensure!(!value.contains('\n'), "the value of {name} spans lines");
            writeln!(out, "{name}={value}")?;
        }
        Ok(Self {
            file: file.into(),
            names: vars.iter().map(|(name, _)| (*name).to_owned()).collect(),
            unset_prefixes: Vec::new(),
        })
    }

    /// Also keeps xtask's variables whose names start with `prefix` from the
    /// component.
    pub fn unsetting(mut self, prefix: &str) -> Self {
        self.unset_prefixes.push(prefix.to_owned());
        self
    }

    /// xtask's variables the component must not inherit.
    fn unset(&self) -> Vec<std::ffi::OsString> {
        std::env::vars_os()
            .map(|(name, _)| name)
            .filter(|name| {
                let name = name.to_string_lossy();
                self.unset_prefixes
                    .iter()
                    .any(|prefix| name.starts_with(prefix.as_str()))
            })
            .collect()
    }

    /// The variables, with their values read from the file.
    fn read(&self) -> Result<Vec<(String, String)>> {
        let text = fs::read_to_string(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        self.names
            .iter()
            .map(|name| {
                let value = text
                    .lines()
                    .find_map(|line| line.strip_prefix(name.as_str())?.strip_prefix('='))
                    .with_context(|| format!("{} sets no {name}", self.file.display()))?;
                Ok((name.clone(), value.to_owned()))
            })
            .collect()
    }
}

impl Component {
    /// Starts `binary` in `dir` with its output in `dir/logs/<name>.log`, and
    /// `env` besides xtask's environment. The process gets its own process
    /// group so that a Ctrl-C in the terminal that ran `up` does not take the
    /// control plane down with it.
    pub fn spawn(
        name: &str,
        binary: &Path,
        dir: &Path,
        args: &[String],
        env: Option<&Env>,
    ) -> Result<Self> {
        let log = dir.join("logs").join(format!("{name}.log"));
        // Appended: a restarted component's log follows its first life's.
        let out = File::options().create(true).append(true).open(&log)?;
        let vars = env.map(Env::read).transpose()?.unwrap_or_default();
        let mut command = Command::new(binary);
        for name in env.map(Env::unset).unwrap_or_default() {
            command.env_remove(name);
        }
        let child = command
            .args(args)
            .envs(vars)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            name: name.into(),
            pid: child.id(),
            binary: binary.into(),
            log,
            args: args.to_vec(),
            env: env.cloned(),
        })
    }

    /// SIGKILL (a crash: nothing flushed, nothing handed over), then the
    /// same binary with the same arguments in `dir`.
    pub fn restart(&self, dir: &Path, down_for: Duration) -> Result<Self> {
        if self.is_running() {
            self.signal_group("-KILL")?;
            // Not `is_running`: an exiting process loses its exe link before
            // it closes its sockets, and the new one must find its port free.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !(self.has_exited() && self.ports().iter().all(|port| is_free(*port)))
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(20));
            }
        }
        thread::sleep(down_for);
        let restarted = Self::spawn(&self.name, &self.binary, dir, &self.args, self.env.as_ref())?;
        // Until it has exec'd, /proc says the new process is still xtask:
        // `is_running` must not mistake that moment for an exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !restarted.is_running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(restarted)
    }

    /// True when the pid is alive and still runs our binary (pids get reused).
    pub fn is_running(&self) -> bool {
        let Ok(exe) = fs::read_link(format!("/proc/{}/exe", self.pid)) else {
            return false;
        };
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // A zombie (state Z) has exited; it only waits for its parent to reap it.
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        exe == self.binary && !zombie
    }

    /// True once the process is gone, or a zombie whose files (sockets
    /// included) are closed. The zombie state alone is not enough: it is the
    /// main thread's, and the files go only with the last of a Go program's
    /// threads.
    fn has_exited(&self) -> bool {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return true;
        };
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'));
        zombie
            && fs::read_dir(format!("/proc/{}/fd", self.pid))
                .map_or(true, |mut files| files.next().is_none())
    }

    /// The loopback ports its arguments say it listens on (`--secure-port=N`,
    /// `--listen-…-urls=http://127.0.0.1:N`, versitygw's `--port=127.0.0.1:N`,
    /// velero's `--metrics-address=127.0.0.1:N`, Flux's `--metrics-addr=`,
    /// `--health-addr=` and `--storage-addr=`).
    pub fn ports(&self) -> Vec<u16> {
        const FLAGS: [&str; 7] = [
            "--secure-port=",
            "--listen-",
            "--port=",
            "--metrics-address=",
            "--metrics-addr=",
            "--health-addr=",
            "--storage-addr=",
        ];
        self.args
            .iter()
            .filter(|arg| FLAGS.iter().any(|flag| arg.starts_with(flag)))
            .filter_map(|arg| arg.rsplit([':', '=']).next()?.parse().ok())
            .collect()
    }

    /// SIGTERM, then SIGKILL after ten seconds.
    pub fn stop(&self) -> Result<()> {
        for (signal, grace) in [
            ("-TERM", Duration::from_secs(10)),
            ("-KILL", Duration::from_secs(5)),
        ] {
            if !self.is_running() {
                return Ok(());
            }
            self.signal_group(signal)?;
            let deadline = Instant::now() + grace;
            while self.is_running() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        if self.is_running() {
            bail!("{} (pid {}) survived SIGKILL", self.name, self.pid);
        }
        Ok(())
    }

    /// Sends `signal` to the component's process group: the process and
    /// whatever it started (Velero's plugins are processes of its own, which
    /// outlive a killed server otherwise), as a container's end would. The
    /// group is the component's alone: [`Component::spawn`] made it its
    /// leader, and the callers checked that the pid is still ours.
    fn signal_group(&self, signal: &str) -> Result<()> {
        Command::new("kill")
            .args([signal, "--", &format!("-{}", self.pid)])
            .status()?;
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Whether nothing listens on `127.0.0.1:port`.
fn is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Waits until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Whether `GET http://127.0.0.1:<port><path>` answers 200 (a health
/// endpoint: a few bytes, over plain HTTP/1.0).
pub fn answers_ok(port: u16, path: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
