//! The CPU share Lambda gives a function, emulated with a cgroup CPU quota: MemorySize/1769 of one core, as a
//! quota of `period × MB / 1769` per period (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` and
//! `cpu.cfs_period_us`). Each capped function gets a cgroup of its own, which it joins before it `exec`s, so its
//! init is capped too; the cgroup is removed when the function is gone.
//!
//! AWS documents the proportional share, not the mechanism, so the period is a choice (see BENCHMARKS.md):
//! 20 ms by default, `BENCH_CPU_PERIOD_US` to change it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The memory size at which Lambda gives a function one full vCPU.
pub const FULL_VCPU_MB: u32 = 1769;
/// The default quota period, in µs.
const DEFAULT_PERIOD_US: u32 = 20_000;

/// Which cgroup interface sets the quota here.
#[derive(Clone, Debug)]
enum Interface {
    /// A cgroup2 hierarchy whose root delegates the `cpu` controller: `cpu.max`.
    V2(PathBuf),
    /// A cgroup v1 hierarchy with the `cpu` controller: `cpu.cfs_quota_us` and `cpu.cfs_period_us`.
    V1(PathBuf),
}

/// A memory size's CPU share, and how to set it on this machine (or why it cannot be set).
#[derive(Clone, Debug)]
pub struct Share {
    /// The memory size it stands for, in MB.
    pub mb: u32,
    period_us: u32,
    interface: Result<Interface, String>,
}

/// One function's cgroup: created with the quota set, removed on drop.
pub struct Cgroup {
    dir: PathBuf,
}

impl Share {
    /// The share of a function with `mb` of memory, on whatever interface works here.
    pub fn of(mb: u32) -> Share {
        let period_us =
            std::env::var("BENCH_CPU_PERIOD_US").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_PERIOD_US);
        Share { mb, period_us, interface: detect(period_us) }
    }

    /// The quota per period, in µs.
    pub fn quota_us(&self) -> u32 {
        (f64::from(self.period_us) * f64::from(self.mb) / f64::from(FULL_VCPU_MB)).round() as u32
    }

    /// The share as a percentage of one core.
    pub fn percent(&self) -> f64 {
        100.0 * f64::from(self.mb) / f64::from(FULL_VCPU_MB)
    }

    /// Why this machine cannot set the cap, if it cannot.
    pub fn unavailable(&self) -> Option<&str> {
        self.interface.as_ref().err().map(String::as_str)
    }

    /// How the cap is set, for the report: "cgroup v1, 2894 µs per 20000 µs period (14.47% of a core)".
    pub fn describe(&self) -> String {
        match &self.interface {
            Ok(interface) => format!(
                "{}, {} µs per {} µs period ({:.2}% of a core)",
                match interface {
                    Interface::V2(_) => "cgroup v2 cpu.max",
                    Interface::V1(_) => "cgroup v1 cpu.cfs_quota_us",
                },
                self.quota_us(),
                self.period_us,
                self.percent()
            ),
            Err(why) => format!("not set: {why}"),
        }
    }

    /// A new cgroup with this share's quota, for one function.
    pub fn cgroup(&self) -> Result<Cgroup, String> {
        let interface = self.interface.clone()?;
        let name = format!("stop-gateway-bench-{}-{}", std::process::id(), next_id());
        let dir = match &interface {
            Interface::V2(root) | Interface::V1(root) => root.join(name),
        };
        std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let cgroup = Cgroup { dir };
        set_quota(&interface, &cgroup.dir, self.quota_us(), self.period_us)?;
        Ok(cgroup)
    }
}

impl Cgroup {
    /// The file a process writes its PID to in order to join (both versions have `cgroup.procs`).
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The function has been killed and reaped by now; the kernel may take a moment to empty the group.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn set_quota(interface: &Interface, dir: &Path, quota_us: u32, period_us: u32) -> Result<(), String> {
    let write = |file: &str, value: String| {
        std::fs::write(dir.join(file), &value).map_err(|e| format!("write {value} to {file}: {e}"))
    };
    match interface {
        Interface::V2(_) => write("cpu.max", format!("{quota_us} {period_us}")),
        // v1 checks the quota against the current period, so the period goes first.
        Interface::V1(_) => {
            write("cpu.cfs_period_us", period_us.to_string())?;
            write("cpu.cfs_quota_us", quota_us.to_string())
        }
    }
}

/// The first interface that can really set a quota here: cgroup2 if its root delegates `cpu`, else the v1 `cpu`
/// hierarchy; each is tried by creating a probe group and setting the quota on it.
fn detect(period_us: u32) -> Result<Interface, String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| format!("read /proc/self/mounts: {e}"))?;
    let mut tried = Vec::new();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, path, kind, options, ..] = fields.as_slice() else { continue };
        let candidate = match *kind {
            "cgroup2" => {
                // The root must offer the controller to its children; ask for it (harmless if already on).
                let _ = std::fs::write(Path::new(path).join("cgroup.subtree_control"), "+cpu");
                Interface::V2(PathBuf::from(path))
            }
            "cgroup" if options.split(',').any(|o| o == "cpu") => Interface::V1(PathBuf::from(path)),
            _ => continue,
        };
        match probe(&candidate, period_us) {
            Ok(()) => return Ok(candidate),
            Err(why) => tried.push(format!("{kind} at {path}: {why}")),
        }
    }
    if tried.is_empty() {
        return Err("no cgroup hierarchy with a cpu controller is mounted".to_owned());
    }
    Err(tried.join("; "))
}

fn probe(interface: &Interface, period_us: u32) -> Result<(), String> {
    let (Interface::V2(root) | Interface::V1(root)) = interface;
    let dir = root.join(format!("stop-gateway-bench-probe-{}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("create a group: {e}"))?;
    let set = set_quota(interface, &dir, period_us / 2, period_us);
    let _ = std::fs::remove_dir(&dir);
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_memory_over_1769() {
        let share = Share { mb: 256, period_us: 20_000, interface: Err(String::new()) };
        assert_eq!(share.quota_us(), 2894);
        assert!((share.percent() - 14.47).abs() < 0.01);
        let share = Share { mb: 128, period_us: 20_000, interface: Err(String::new()) };
        assert_eq!(share.quota_us(), 1447);
    }
}
