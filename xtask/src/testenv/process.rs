//! Starting and stopping the control plane's processes by pid.

use std::{
    fs::{self, File},
    net::TcpStream,
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
}

impl Component {
    /// Starts `binary` in `dir` with its output in `dir/logs/<name>.log`. The
    /// process gets its own process group so that a Ctrl-C in the terminal that
    /// ran `up` does not take the control plane down with it.
    pub fn spawn(name: &str, binary: &Path, dir: &Path, args: &[String]) -> Result<Self> {
        let log = dir.join("logs").join(format!("{name}.log"));
        // Appended: a restarted component's log follows its first life's.
        let out = File::options().create(true).append(true).open(&log)?;
        let child = Command::new(binary)
            .args(args)
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
        })
    }

    /// SIGKILL (a crash: nothing flushed, nothing handed over), then the
    /// same binary with the same arguments in `dir`.
    pub fn restart(&self, dir: &Path) -> Result<Self> {
        if self.is_running() {
            Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status()?;
            // Not `is_running`: an exiting process loses its exe link before
            // it closes its sockets, and the new one must find its port free.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !(self.has_exited() && self.ports().iter().all(|port| is_free(*port)))
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(20));
            }
        }
        let restarted = Self::spawn(&self.name, &self.binary, dir, &self.args)?;
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
    /// `--listen-…-urls=http://127.0.0.1:N`).
    fn ports(&self) -> Vec<u16> {
        self.args
            .iter()
            .filter(|arg| arg.starts_with("--secure-port=") || arg.starts_with("--listen-"))
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
            Command::new("kill")
                .args([signal, &self.pid.to_string()])
                .status()?;
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
