//! What the system allows the process: memory and open files, for the defaults of
//! `max_live_tokens` and `max_connections`. Linux only; elsewhere `None` and the callers
//! use fixed figures.

use std::sync::OnceLock;

/// The memory the process may use, in bytes: the cgroup limit (v2 or v1) when there is one,
/// or else the machine's memory, whichever is smaller.
pub fn memory_limit_bytes() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let cgroup = [
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .min();
        let machine = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                kib.checked_mul(1024)
            });
        match (cgroup, machine) {
            (Some(c), Some(m)) => Some(c.min(m)),
            (c, m) => c.or(m),
        }
    })
}

/// The soft limit on open files (`ulimit -n`).
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn linux_limits_are_read() {
        if cfg!(target_os = "linux") {
            assert!(super::memory_limit_bytes().is_some_and(|m| m > 1 << 20));
            assert!(super::open_file_limit().is_some_and(|n| n > 16));
        }
    }
}
