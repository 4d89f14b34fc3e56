//! Keeps a node's threads on one CPU when its database is SQLite (the `cpu_affinity`
//! setting).
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is handed to
//! that thread over a channel and its rows come back the same way, two thread wake-ups a
//! statement. When the two threads sit on different CPUs, each wake-up is an interrupt
//! between processors (on a virtual machine, a trip through the hypervisor), and measured
//! on a 2-CPU machine those hand-offs cost more than SQLite's own work. On one CPU a wake-up
//! is a plain switch: the writes went 1.4 to 1.9 times as fast (docs/benchmarks.md, "One CPU
//! for SQLite"). SQLite has one writer, so the writes lose no parallelism; reads lose the
//! other CPUs, the smaller cost on the small machine an SQLite node is. On PostgreSQL the
//! database's work is done by its own processes, so `auto` leaves such a node alone.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a node's threads may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuAffinity {
    /// On SQLite, one CPU: the one the process is running on when it opens the database (so
    /// several processes on one machine spread out); on PostgreSQL, wherever the operating
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
            n => n.parse().map(Self::Cpu).map_err(|_| {
                format!("cpu_affinity `{s}` is none of auto, off or a CPU number like 0")
            }),
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
        /// `cpu_affinity = 1` in TOML, and `FORLOB_CPU_AFFINITY=1`, arrive as a number.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(usize),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => Ok(Self::Cpu(n)),
            Written::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl CpuAffinity {
    /// The CPU this setting asks for on the database at `db_url`, if any; `current` is asked
    /// only for `auto` on SQLite.
    fn wanted(self, db_url: &str, current: impl FnOnce() -> Option<usize>) -> Option<usize> {
        match self {
            Self::Off => None,
            Self::Cpu(n) => Some(n),
            Self::Auto if db_url.starts_with("sqlite:") => current(),
            Self::Auto => None,
        }
    }
}

/// Puts every thread of this process on one CPU when `setting` asks for it on the database at
/// `db_url`; threads started later inherit it from the thread that starts them. Call it
/// before the database is opened. Returns the CPU, or `None` when the threads were left
/// where they are.
pub fn apply(setting: CpuAffinity, db_url: &str) -> Result<Option<usize>, String> {
    let Some(cpu) = setting.wanted(db_url, os::current_cpu) else {
        return Ok(None);
    };
    os::pin_every_thread(cpu)?;
    Ok(Some(cpu))
}

#[cfg(target_os = "linux")]
mod os {
    use nix::errno::Errno;
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    pub(super) fn current_cpu() -> Option<usize> {
        sched_getcpu().ok()
    }

    /// The CPUs this process may run on (taskset, a container's cpuset).
    fn allowed() -> Result<Vec<usize>, String> {
        let set = sched_getaffinity(Pid::from_raw(0))
            .map_err(|e| format!("cpu_affinity: cannot read this process's CPUs: {e}"))?;
        Ok((0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect())
    }

    /// This process's threads, by their ids.
    fn threads() -> Result<Vec<i32>, String> {
        let entries = std::fs::read_dir("/proc/self/task")
            .map_err(|e| format!("cpu_affinity: cannot list this process's threads: {e}"))?;
        Ok(entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect())
    }

    pub(super) fn pin_every_thread(cpu: usize) -> Result<(), String> {
        let allowed = allowed()?;
        if !allowed.contains(&cpu) {
            let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            return Err(format!(
                "cpu_affinity = {cpu}: this process may run only on CPU {}",
                list.join(", ")
            ));
        }
        let mut set = CpuSet::new();
        set.set(cpu)
            .map_err(|e| format!("cpu_affinity = {cpu}: {e}"))?;
        // A thread started by one not yet pinned could be missed by one pass over the list;
        // the passes go on until one finds no thread it had not seen.
        let mut pinned = std::collections::HashSet::new();
        loop {
            let mut found_new = false;
            for tid in threads()? {
                if !pinned.insert(tid) {
                    continue;
                }
                found_new = true;
                match sched_setaffinity(Pid::from_raw(tid), &set) {
                    // A thread that ended meanwhile needs no CPU.
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => {
                        return Err(format!(
                            "cpu_affinity = {cpu}: cannot move thread {tid}: {e}"
                        ));
                    }
                }
            }
            if !found_new {
                return Ok(());
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) fn current_cpu() -> Option<usize> {
        // Elsewhere `auto` leaves the threads alone.
        None
    }

    pub(super) fn pin_every_thread(cpu: usize) -> Result<(), String> {
        Err(format!(
            "cpu_affinity = {cpu}: choosing CPUs is supported on Linux only; use auto or off"
        ))
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
        assert!(from_json(serde_json::json!(-1)).is_err());
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
}
