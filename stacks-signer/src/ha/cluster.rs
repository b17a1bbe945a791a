//! A throwaway PostgreSQL cluster for tests, benchmarks and the devnet: `initdb` in a fresh
//! directory, a server on a free loopback port, stopped and removed when dropped.
//!
//! The binaries come from `$PG_BIN_DIR`, else `PATH`, else Debian's
//! `/usr/lib/postgresql/<version>/bin` (the `postgresql` package). PostgreSQL refuses to run
//! as root; as root the cluster runs as the `postgres` user (which the package creates).

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The PostgreSQL server binaries are not installed.
    #[error("PostgreSQL server binaries not found (set PG_BIN_DIR, or install Debian's postgresql package)")]
    NotInstalled,
    /// A step failed.
    #[error("{step}: {detail}")]
    Step {
        /// What was being done.
        step: &'static str,
        /// What went wrong.
        detail: String,
    },
}

fn step(step: &'static str) -> impl FnOnce(std::io::Error) -> ClusterError {
    move |e| ClusterError::Step {
        step,
        detail: e.to_string(),
    }
}

/// A running throwaway cluster. See the [module documentation](self).
#[derive(Debug)]
pub struct TempPostgres {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    /// `(uid, gid)` the server runs as when this process is root.
    run_as: Option<(u32, u32)>,
    running: bool,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("PG_BIN_DIR").map(PathBuf::from) {
        return has_all(&dir).then_some(dir);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_all(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// `(uid, gid)` of user `name`, from `/etc/passwd`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let uid = fields.nth(1)?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(step("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(step("finding a free port"))?
        .port())
}

impl TempPostgres {
    /// Creates a cluster in a new directory under the system's temporary directory and
    /// starts it on a free loopback port, with a database `signer` owned by user `signer`
    /// (password `signer`).
    pub fn start() -> Result<Self, ClusterError> {
        let bin = find_bin_dir().ok_or(ClusterError::NotInstalled)?;
        let root_user = fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let run_as = if root_user {
            Some(user_ids("postgres").ok_or(ClusterError::Step {
                step: "running PostgreSQL as root",
                detail: "PostgreSQL refuses root and there is no `postgres` user".into(),
            })?)
        } else {
            None
        };
        static CLUSTERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "stacks-signer-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).map_err(step("creating the cluster directory"))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(step("creating the cluster directory"))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .map_err(step("handing the cluster directory to postgres"))?;
        }
        let mut cluster = Self {
            bin,
            root,
            port: free_port()?,
            run_as,
            running: false,
        };
        let pwfile = cluster.root.join("pw");
        fs::write(&pwfile, "signer\n").map_err(step("writing the password file"))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))
                .map_err(step("handing the password file to postgres"))?;
        }
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            cluster.command("initdb").args([
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "signer".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "-A".as_ref(),
                "scram-sha-256".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-instructions".as_ref(),
                "--no-sync".as_ref(),
            ]),
        )?;
        cluster.resume()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PGPASSWORD", "signer");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid).current_dir(&self.root);
        }
        command
    }

    fn run(&self, what: &'static str, command: &mut Command) -> Result<(), ClusterError> {
        let out = command.output().map_err(step(what))?;
        if out.status.success() {
            return Ok(());
        }
        Err(ClusterError::Step {
            step: what,
            detail: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// Starts (or restarts, after [`TempPostgres::stop`]) the server on the same port and
    /// data, waiting until it accepts connections.
    pub fn resume(&mut self) -> Result<(), ClusterError> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.root.display()
        );
        let log = self.root.join("server.log");
        let data = self.data_dir();
        let started = self.run(
            "starting PostgreSQL",
            self.command("pg_ctl").args([
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ]),
        );
        if let Err(ClusterError::Step { step, detail }) = started {
            // pg_ctl says only "examine the log output": the server's last words say why.
            let text = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(ClusterError::Step {
                step,
                detail: format!("{detail}; server log: {}", tail.join(" | ")),
            });
        }
        started?;
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.admin_client() {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(ClusterError::Step {
                        step: "connecting to the new cluster",
                        detail: e.to_string(),
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the server (`immediate`: as a crash would, without a checkpoint), keeping its
    /// data for [`TempPostgres::resume`].
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if !self.running {
            return Ok(());
        }
        let data = self.data_dir();
        self.run(
            "stopping PostgreSQL",
            self.command("pg_ctl").args([
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ]),
        )?;
        self.running = false;
        Ok(())
    }

    /// A connection to the `postgres` database as `signer` over the server's Unix socket
    /// (so it works whatever [`TempPostgres::enable_tls`] asks of TCP clients).
    fn admin_client(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host_path(&self.root)
            .port(self.port)
            .user("signer")
            .password("signer")
            .dbname("postgres")
            .connect(postgres::NoTls)
    }

    /// Turns TLS on with the server certificate `cert_pem` (a chain, the server's first) and
    /// its private key `key_pem`, and restarts the server. With `only_tls`, TCP clients that
    /// do not use TLS are refused (`hostssl` in `pg_hba.conf`).
    pub fn enable_tls(
        &mut self,
        cert_pem: &str,
        key_pem: &str,
        only_tls: bool,
    ) -> Result<(), ClusterError> {
        let data = self.data_dir();
        for (name, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            fs::write(&path, text).map_err(step("writing the server certificate"))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(step("writing the server certificate"))?;
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(step("handing the server certificate to postgres"))?;
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(step("turning TLS on"))?;
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        fs::write(&conf, text).map_err(step("turning TLS on"))?;
        if only_tls {
            let hba = data.join("pg_hba.conf");
            let text = fs::read_to_string(&hba).map_err(step("refusing plain TCP"))?;
            let text: Vec<String> = text
                .lines()
                .map(|line| match line.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}"),
                    None => line.to_string(),
                })
                .collect();
            fs::write(&hba, text.join("\n") + "\n").map_err(step("refusing plain TCP"))?;
        }
        self.stop()?;
        self.resume()
    }

    /// Starts a watchdog process that stops the server and removes the cluster once this
    /// process has exited, however it exits: for a cluster shared by a whole test binary and
    /// held in a static, which is never dropped.
    pub fn stop_when_this_process_exits(&self) -> Result<(), ClusterError> {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             '{pg_ctl}' -D '{data}' -m immediate stop; rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            root = self.root.display(),
        );
        let mut command = Command::new("sh");
        command
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid).current_dir(&self.root);
        }
        command
            .spawn()
            .map_err(step("starting the cluster's watchdog"))?;
        Ok(())
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of the cluster's `postgres` database as user `signer`.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// A URL of database `name` as user `signer`.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgresql://signer:signer@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (a fresh one per test) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let mut client = self.admin_client().map_err(|e| ClusterError::Step {
            step: "creating a database",
            detail: e.to_string(),
        })?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
            .map_err(|e| ClusterError::Step {
                step: "creating a database",
                detail: e.to_string(),
            })?;
        Ok(self.url_of(name))
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = fs::remove_dir_all(&self.root);
    }
}
