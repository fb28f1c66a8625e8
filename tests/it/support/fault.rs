//! Faults a test can cause without touching what other tests share: a PostgreSQL cluster of its
//! own, to restart or crash, and a small file system of its own, to fill.
//!
//! Either one that cannot be had makes the test fail under `CI=true` and print a loud notice
//! otherwise, like an absent server.

use super::server_missing;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// True when this process runs as root (it owns its own `/proc/self`).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a command; its output on failure.
fn checked(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The folder of PostgreSQL's server programs: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn pg_bindir() -> Result<PathBuf, String> {
    let has_initdb = |d: &Path| d.join("initdb").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no pg_config with initdb, and /usr/lib/postgresql: {e}"))?
        .filter_map(|d| {
            let d = d.ok()?;
            let version = d.file_name().to_str()?.parse().ok()?;
            Some((version, d.path().join("bin")))
        })
        .filter(|(_, bin)| has_initdb(bin))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server programs (initdb) found".into())
}

/// A free TCP port on 127.0.0.1 (free when asked; the cluster takes it a moment later).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A PostgreSQL cluster of the test's own, in a temporary folder: listening on 127.0.0.1 on a
/// free port (its socket in the folder), trust authentication, `fsync=off`. It may be restarted
/// or crashed at will; it is stopped (`-m immediate`) and removed on drop. As root the server
/// programs run as the `postgres` user (PostgreSQL refuses root).
pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// Superuser `root` on the `postgres` database.
    pub admin_url: String,
}

impl PrivatePostgres {
    /// Starts a cluster, or `None` (loudly) when it cannot be started outside CI.
    pub fn start() -> Option<PrivatePostgres> {
        match PrivatePostgres::try_start() {
            Ok(pg) => Some(pg),
            Err(why) => server_missing("a private PostgreSQL cluster", &why),
        }
    }

    fn try_start() -> Result<PrivatePostgres, String> {
        let bin = pg_bindir()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            checked(Command::new("chown").arg("postgres:").arg(dir.path()))?;
        }
        let port = free_port()?;
        let pg = PrivatePostgres {
            admin_url: format!("postgres://root@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            as_postgres,
        };
        checked(
            pg.tool("initdb")
                .args(["-A", "trust", "-U", "root", "--no-sync", "-E", "UTF8", "-D"])
                .arg(pg.data()),
        )?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c full_page_writes=off",
            pg.dir.path().display()
        );
        checked(pg.pg_ctl("start").args(["-o", &options]))?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server program, run as `postgres` when this process is root.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    /// `pg_ctl <action>` on this cluster, waiting up to 30 s, logging to the folder.
    fn pg_ctl(&self, action: &str) -> Command {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg(action)
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30"]);
        cmd
    }

    /// `pg_ctl restart -m <mode>` (`fast`: sessions ended, a clean shutdown; `immediate`: the
    /// server crashes and recovers at start). Returns how long the server was away.
    pub fn restart(&self, mode: &str) -> Duration {
        let began = Instant::now();
        checked(self.pg_ctl("restart").args(["-m", mode]))
            .unwrap_or_else(|e| panic!("restart the private PostgreSQL: {e}"));
        began.elapsed()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop").args(["-m", "immediate"]).output();
    }
}

/// A small tmpfs of the test's own, mounted on a temporary folder, to be filled. Unmounted on
/// drop, also when the test panics. Mounting needs root.
pub struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size_kib`, or `None` (loudly) when that fails outside CI.
    pub fn mount(size_kib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = if is_root() {
            checked(
                Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
                    .arg(dir.path()),
            )
        } else {
            Err("mounting a tmpfs needs root".into())
        };
        match mounted {
            Ok(()) => Some(SmallDisk { dir }),
            Err(why) => server_missing("a small tmpfs to fill", &why),
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Fills the file system: writes to a filler file until it is full (ENOSPC). Returns the
    /// bytes written.
    pub fn fill(&self) -> u64 {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("open the filler");
        let block = vec![0x5a_u8; 4096];
        let mut written = 0;
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("fill the tmpfs: {e}"),
            }
        }
        written
    }

    /// Frees the space the filler took.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a file still open (a lethe that was not waited for) does not keep it mounted.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}
