//! One signer process: started as `BIN run --config FILE` in its own process group (so a
//! terminal's Ctrl-C reaches only the devnet, which then stops its children in order), its
//! output appended to its log; killed with SIGKILL, restarted on the same database, or
//! stopped gracefully (`POST /shutdown` on its endpoint, then SIGKILL if it lingers).

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::layout::SignerPlan;

/// A signer's process, across its incarnations.
#[derive(Debug)]
pub struct SignerProcess {
    binary: PathBuf,
    plan: SignerPlan,
    child: Option<Child>,
    /// How many times it was started after its first start.
    pub restarts: u32,
    /// How many times it was killed with SIGKILL.
    pub kills: u32,
    /// How it exited when it exited by itself (not killed, not stopped).
    pub unexpected_exit: Option<String>,
    /// Asked to stop: an exit from now on is expected.
    stopping: bool,
    /// When the current incarnation started.
    started_at: Option<Instant>,
}

impl SignerProcess {
    /// A process for `plan`, not yet started.
    pub fn new(binary: PathBuf, plan: SignerPlan) -> Self {
        SignerProcess {
            binary,
            plan,
            child: None,
            restarts: 0,
            kills: 0,
            unexpected_exit: None,
            stopping: false,
            started_at: None,
        }
    }

    /// The signer it runs.
    pub fn plan(&self) -> &SignerPlan {
        &self.plan
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its peak resident memory in KiB (`VmHWM` of `/proc/PID/status`) while it runs, on
    /// Linux; `None` elsewhere or when it is down.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Starts it (again, on the same database, if it ran before).
    pub fn start(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.plan.log_path())
            .map_err(|e| format!("cannot open {}: {e}", self.plan.log_path().display()))?;
        let err_log = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.plan.log_path().display()))?;
        let child = Command::new(&self.binary)
            .arg("run")
            .arg("--config")
            .arg(self.plan.config_path())
            .env_remove("STACKS_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        if self.child.is_some() || self.kills > 0 {
            self.restarts += 1;
        }
        self.child = Some(child);
        self.started_at = Some(Instant::now());
        Ok(())
    }

    /// How long the current incarnation has been running (None when it is down).
    pub fn up_for(&mut self) -> Option<Duration> {
        if !self.is_running() {
            return None;
        }
        self.started_at.map(|t| t.elapsed())
    }

    /// Whether it runs now; notes an exit it made by itself.
    pub fn is_running(&mut self) -> bool {
        let Some(child) = &mut self.child else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                if !self.stopping {
                    self.unexpected_exit = Some(describe(status));
                }
                self.child = None;
                false
            }
            Err(_) => false,
        }
    }

    /// SIGKILL, then reaps it. Returns whether it was running.
    pub fn kill(&mut self) -> bool {
        if !self.is_running() {
            return false;
        }
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        self.kills += 1;
        true
    }

    /// Asks it to stop (`POST /shutdown`), without waiting.
    pub fn request_stop(&mut self) {
        self.stopping = true;
        if self.is_running() {
            let url = format!("http://{}/shutdown", self.plan.endpoint);
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_millis(500)))
                .build()
                .into();
            let _ = agent.post(&url).send_empty();
        }
    }

    /// Waits until `deadline` for it to exit after [`SignerProcess::request_stop`], then
    /// kills it. Returns whether it had to be killed.
    pub fn wait_stopped(&mut self, deadline: Instant) -> bool {
        let Some(child) = &mut self.child else {
            return false;
        };
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                    return false;
                }
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.child = None;
                    return true;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".into(),
    }
}
