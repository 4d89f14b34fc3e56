//! Keeps a node's threads on one CPU when its database is SQLite (the `cpu_affinity`
//! setting).
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is handed to
//! that thread over a channel and its rows come back the same way, two thread wake-ups a
//! statement. When the two threads sit on different CPUs, each wake-up is an interrupt
//! between processors (on a virtual machine, a trip through the hypervisor), and measured
//! on a 2-CPU machine those hand-offs cost more than SQLite's own work. On one CPU a wake-up
//! is a plain switch: the writes went 1.5 to 2 times as fast (docs/benchmarks.md, "One CPU
//! for SQLite"). SQLite runs one writer at a time, so the writes give up little; everything
//! else the node does (reads, pages, sign-ins' password hashing) shares that CPU too, the
//! price on the small machine an SQLite node is, and `off` gives every CPU back. On
//! PostgreSQL the database's work is done by its own processes, so `auto` leaves such a
//! node alone.
//!
//! The kernel may widen the set again behind the process's back (the CPU taken offline, a
//! container's cpuset changed); the node then runs unpinned until it restarts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NOT_A_SETTING: &str = "is none of auto, off or a CPU number like 0";

/// Where a node's threads may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuAffinity {
    /// On SQLite, one CPU: the one the process is running on when it starts (several nodes
    /// on one machine should be given a CPU each); on PostgreSQL, wherever the operating
    /// system puts them.
    #[default]
    Auto,
    /// Wherever the operating system puts them.
    Off,
    /// This CPU (numbered as in `/proc/cpuinfo`), on any database.
    Cpu(usize),
}

impl FromStr for CpuAffinity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            n => n
                .parse()
                .map(Self::Cpu)
                .map_err(|_| format!("cpu_affinity `{s}` {NOT_A_SETTING}")),
        }
    }
}

impl fmt::Display for CpuAffinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Off => f.write_str("off"),
            Self::Cpu(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for CpuAffinity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CpuAffinity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// `cpu_affinity = 1` in TOML and `FORLOB_CPU_AFFINITY=1` arrive as numbers, `auto`
        /// as text; anything else gets the same message as a bad word.
        struct Setting;
        impl serde::de::Visitor<'_> for Setting {
            type Value = CpuAffinity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("auto, off or a CPU number like 0")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<CpuAffinity, E> {
                usize::try_from(n)
                    .map(CpuAffinity::Cpu)
                    .map_err(|_| E::custom(format!("cpu_affinity {n} {NOT_A_SETTING}")))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<CpuAffinity, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("cpu_affinity {n} {NOT_A_SETTING}")))
                    .and_then(|n| self.visit_u64(n))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CpuAffinity, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Setting)
    }
}

impl CpuAffinity {
    /// The CPU this setting asks for on the database at `db_url`, if any; `current` is asked
    /// only for `auto` on SQLite.
    fn wanted(self, db_url: &str, current: impl FnOnce() -> Option<usize>) -> Option<usize> {
        match self {
            Self::Off => None,
            Self::Cpu(n) => Some(n),
            Self::Auto if crate::config::is_sqlite_url(db_url) => current(),
            Self::Auto => None,
        }
    }
}

/// What [`apply`] did, for whoever reports it once logging is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub setting: CpuAffinity,
    /// The CPU every thread runs on; `None` when they spread over the CPUs.
    pub cpu: Option<usize>,
    /// Why `auto` left the threads to spread where it meant to pin them.
    pub warning: Option<String>,
}

static APPLIED: std::sync::OnceLock<Applied> = std::sync::OnceLock::new();

/// What [`apply`] did in this process, if it ran.
pub fn applied() -> Option<&'static Applied> {
    APPLIED.get()
}

/// Puts this thread, and so every thread it starts from then on, on one CPU when `setting`
/// asks for it on the database at `db_url`. Call it first thing in `main`, before the async
/// runtime starts its threads: they inherit the CPU, and tokio sizes its pool by the CPUs the
/// process may use, so a pinned node runs one worker thread, not one per CPU of the machine.
///
/// An explicit CPU that cannot be had is an error. `auto` that cannot pin (a kernel or
/// sandbox that refuses, no such call on this system) leaves the threads to spread, with a
/// warning: a default must not keep a node from starting.
pub fn apply(setting: CpuAffinity, db_url: &str) -> Result<Applied, String> {
    if let Some(applied) = APPLIED.get() {
        // The threads started since would not follow a second choice.
        return Ok(applied.clone());
    }
    let applied = decide(setting, db_url, os::current_cpu, os::pin_this_thread)?;
    let _ = APPLIED.set(applied.clone());
    Ok(applied)
}

/// [`apply`] with the system's calls passed in, so its rules are tested without pinning the
/// test process.
fn decide(
    setting: CpuAffinity,
    db_url: &str,
    current: impl FnOnce() -> Option<usize>,
    pin: impl FnOnce(usize) -> Result<(), String>,
) -> Result<Applied, String> {
    let mut applied = Applied {
        setting,
        cpu: None,
        warning: None,
    };
    if let Some(cpu) = setting.wanted(db_url, current) {
        match pin(cpu) {
            Ok(()) => applied.cpu = Some(cpu),
            Err(e) if setting == CpuAffinity::Auto => {
                applied.warning = Some(format!(
                    "cpu_affinity = auto: the threads spread over the CPUs, since {e}"
                ));
            }
            Err(e) => return Err(format!("cpu_affinity = {cpu}: {e}")),
        }
    }
    Ok(applied)
}

/// `0-3, 8, 10-11`: CPUs as `/proc` and `taskset` list them.
#[cfg(any(target_os = "linux", test))]
fn ranges(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(target_os = "linux")]
mod os {
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    /// The CPU this thread runs on now, which is one the process may use.
    pub(super) fn current_cpu() -> Option<usize> {
        sched_getcpu().ok()
    }

    pub(super) fn pin_this_thread(cpu: usize) -> Result<(), String> {
        let this_thread = Pid::from_raw(0);
        let allowed = sched_getaffinity(this_thread)
            .map_err(|e| format!("this process's CPUs cannot be read: {e}"))?;
        let usable: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| allowed.is_set(c).unwrap_or(false))
            .collect();
        if !usable.contains(&cpu) {
            return Err(format!(
                "this process may run only on CPU {}",
                super::ranges(&usable)
            ));
        }
        let mut set = CpuSet::new();
        set.set(cpu).map_err(|e| e.to_string())?;
        sched_setaffinity(this_thread, &set).map_err(|e| format!("the kernel refused: {e}"))
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) fn current_cpu() -> Option<usize> {
        // Elsewhere `auto` leaves the threads to spread.
        None
    }

    pub(super) fn pin_this_thread(_cpu: usize) -> Result<(), String> {
        Err("choosing CPUs is supported on Linux only; use auto or off".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_auto_off_and_a_cpu_number_and_refuses_anything_else() {
        assert_eq!("auto".parse(), Ok(CpuAffinity::Auto));
        assert_eq!("off".parse(), Ok(CpuAffinity::Off));
        assert_eq!("3".parse(), Ok(CpuAffinity::Cpu(3)));
        let error = "on".parse::<CpuAffinity>().expect_err("not a setting");
        assert!(error.contains("none of auto, off"), "{error}");
        let from_json = |v: serde_json::Value| serde_json::from_value::<CpuAffinity>(v);
        assert_eq!(
            from_json(serde_json::json!(2)).ok(),
            Some(CpuAffinity::Cpu(2))
        );
        assert_eq!(
            from_json(serde_json::json!("off")).ok(),
            Some(CpuAffinity::Off)
        );
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ] {
            let error = from_json(bad.clone())
                .expect_err("not a setting")
                .to_string();
            assert!(
                error.contains(NOT_A_SETTING) || error.contains("auto, off or a CPU number"),
                "{bad}: {error}"
            );
        }
        for setting in [CpuAffinity::Auto, CpuAffinity::Off, CpuAffinity::Cpu(5)] {
            let written = serde_json::to_value(setting).expect("JSON");
            assert_eq!(from_json(written).ok(), Some(setting));
        }
    }

    #[test]
    fn auto_takes_the_current_cpu_on_sqlite_only_and_a_number_applies_anywhere() {
        let sqlite = "sqlite://forlob.db?mode=rwc";
        let postgres = "postgres://forlob@db:5432/forlob";
        assert_eq!(CpuAffinity::Auto.wanted(sqlite, || Some(1)), Some(1));
        assert_eq!(
            CpuAffinity::Auto.wanted("sqlite::memory:", || Some(0)),
            Some(0)
        );
        assert_eq!(
            CpuAffinity::Auto.wanted(postgres, || panic!("not asked on PostgreSQL")),
            None
        );
        assert_eq!(CpuAffinity::Off.wanted(sqlite, || Some(1)), None);
        assert_eq!(CpuAffinity::Cpu(0).wanted(postgres, || None), Some(0));
        // No CPU to be had (another system): nothing is pinned.
        assert_eq!(CpuAffinity::Auto.wanted(sqlite, || None), None);
    }

    #[test]
    fn auto_that_cannot_pin_warns_and_a_cpu_number_that_cannot_be_had_is_an_error() {
        let refused = |_| Err("the kernel refused: EPERM".to_owned());
        let sqlite = "sqlite://forlob.db?mode=rwc";
        let auto = decide(CpuAffinity::Auto, sqlite, || Some(1), refused).expect("starts");
        assert_eq!(auto.cpu, None);
        assert!(
            auto.warning
                .as_deref()
                .is_some_and(|w| w.contains("spread") && w.contains("EPERM")),
            "{auto:?}"
        );
        let error = decide(CpuAffinity::Cpu(1), sqlite, || None, refused).expect_err("stops");
        assert_eq!(error, "cpu_affinity = 1: the kernel refused: EPERM");
        let pinned = decide(CpuAffinity::Auto, sqlite, || Some(1), |_| Ok(())).expect("pins");
        assert_eq!((pinned.cpu, pinned.warning), (Some(1), None));
        let off = decide(
            CpuAffinity::Off,
            sqlite,
            || Some(1),
            |_| panic!("not pinned"),
        );
        assert_eq!(off.map(|a| a.cpu), Ok(None));
    }

    #[test]
    fn cpus_are_listed_as_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 3, 8, 10, 11]), "0-3, 8, 10-11");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[]), "");
    }
}
