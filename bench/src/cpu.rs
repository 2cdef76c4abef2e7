//! Where the CPU went during a measured window, from `/proc` (Linux only; elsewhere the
//! numbers are simply absent).
//!
//! - the whole machine's busy time (`/proc/stat`), as a share of all cores;
//! - the client: this process's own time plus that of its reaped children
//!   (`/proc/self/stat`) — our pipeline and sqlx for the Rust variants, `pgbench` for the
//!   ceiling;
//! - PostgreSQL, when it runs on this machine: the time of every process named `postgres`
//!   plus that of their reaped children. The postmaster reaps every backend that exits, so the
//!   sum only grows, and a connection that opened and closed within the window is counted too;
//! - everything else: the busy time left over. On a shared machine (other builds, other
//!   benchmarks) this is what tells a noisy row.

use std::time::Instant;

/// Cumulative CPU counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    at: Instant,
    /// Busy ticks of all cores together.
    machine_busy: u64,
    /// Busy plus idle ticks of all cores together.
    machine_total: u64,
    /// User, nice and system ticks: the busy time spent in processes (not in interrupts).
    machine_processes: u64,
    /// User + system ticks of this process and its reaped children.
    process: u64,
    /// User + system ticks of the local PostgreSQL's processes and their reaped children, if
    /// any is visible.
    postgres: Option<u64>,
}

/// The CPU used between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// Busy share of all cores, 0..=1.
    pub machine_busy: f64,
    /// Seconds of CPU used by this process (and its reaped children).
    pub process_seconds: f64,
    /// Seconds of CPU used by the local PostgreSQL, if it is local.
    pub postgres_seconds: Option<f64>,
    /// Seconds of CPU used by all other processes (interrupt handling, such as the loopback
    /// network's, is in `machine_busy` only).
    pub other_seconds: f64,
    /// Wall-clock seconds between the two snapshots.
    pub wall_seconds: f64,
    /// Cores the machine's busy share is relative to.
    pub cores: usize,
}

impl CpuUsage {
    /// Everything else's CPU as a share of all cores.
    pub fn other_share(&self) -> f64 {
        let capacity = self.wall_seconds * self.cores.max(1) as f64;
        if capacity > 0.0 { self.other_seconds / capacity } else { 0.0 }
    }
}

/// `sysconf(_SC_CLK_TCK)` is 100 on every Linux platform Rust targets.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSnapshot {
    /// Reads `/proc`; `None` where it is not available.
    pub fn take() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let MachineTicks { busy: machine_busy, total: machine_total, processes: machine_processes } =
            parse_machine(&stat)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let process = parse_process(&own)?;
        Some(Self {
            at: Instant::now(),
            machine_busy,
            machine_total,
            machine_processes,
            process,
            postgres: postgres_ticks(),
        })
    }

    /// The CPU used since `earlier`.
    pub fn since(&self, earlier: &Self) -> CpuUsage {
        let total = self.machine_total.saturating_sub(earlier.machine_total);
        let busy = self.machine_busy.saturating_sub(earlier.machine_busy);
        let in_processes = self.machine_processes.saturating_sub(earlier.machine_processes);
        let process = self.process.saturating_sub(earlier.process);
        let postgres = self.postgres.zip(earlier.postgres).map(|(now, then)| now.saturating_sub(then));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        CpuUsage {
            machine_busy: if total > 0 { busy as f64 / total as f64 } else { 0.0 },
            process_seconds: process as f64 / TICKS_PER_SECOND,
            postgres_seconds: postgres.map(|p| p as f64 / TICKS_PER_SECOND),
            other_seconds: in_processes.saturating_sub(process).saturating_sub(postgres.unwrap_or(0)) as f64
                / TICKS_PER_SECOND,
            wall_seconds: self.at.saturating_duration_since(earlier.at).as_secs_f64(),
            cores,
        }
    }
}

/// Waits until other processes (neither this one nor PostgreSQL) use less than `max_share` of
/// the machine over a one-second sample, for at most `patience`. Returns the last sample's
/// share, or `None` where `/proc` is not available.
pub async fn wait_for_quiet(max_share: f64, patience: std::time::Duration) -> Option<f64> {
    let deadline = Instant::now() + patience;
    loop {
        let before = CpuSnapshot::take()?;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let share = CpuSnapshot::take()?.since(&before).other_share();
        if share <= max_share || Instant::now() >= deadline {
            return Some(share);
        }
    }
}

/// The CPU ticks of every process named `postgres`, children included; `None` if there is
/// none (PostgreSQL on another machine, or `/proc` hidden).
fn postgres_ticks() -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if process_name(&stat) == Some("postgres")
            && let Some(ticks) = parse_process(&stat)
        {
            total += ticks;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// The command name in a `/proc/<pid>/stat` line.
fn process_name(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

#[derive(Debug, PartialEq, Eq)]
struct MachineTicks {
    busy: u64,
    total: u64,
    processes: u64,
}

/// Ticks from the `cpu` line of `/proc/stat`:
/// `cpu user nice system idle iowait irq softirq steal guest guest_nice`.
fn parse_machine(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // guest and guest_nice are already included in user and nice.
    let counted = fields.get(..8)?;
    let idle = counted.get(3)? + counted.get(4)?;
    let total: u64 = counted.iter().sum();
    let processes = counted.get(..3)?.iter().sum();
    Some(MachineTicks { busy: total - idle, total, processes })
}

/// utime + stime + cutime + cstime from `/proc/self/stat` (fields 14 to 17, counting from 1;
/// the command name in parentheses may contain spaces, so count from the last `)`).
fn parse_process(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so utime (14) is the 12th field from here.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields.get(11..15)?.iter().map(|f| f.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_machine_line_is_parsed() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        assert_eq!(parse_machine(stat), Some(MachineTicks { busy: 160, total: 980, processes: 155 }));
    }

    #[test]
    fn the_process_line_is_parsed_even_with_odd_names() {
        let stat = "1234 (bench core) S 1 1234 1234 0 -1 4194560 100 0 0 0 70 30 5 2 20 0 4 0 100 1000 10";
        assert_eq!(parse_process(stat), Some(107));
    }

    #[test]
    fn process_names_are_found() {
        assert_eq!(process_name("12 (postgres) S 1 2 3"), Some("postgres"));
        assert_eq!(process_name("12 (a (b) c) S 1 2 3"), Some("a (b) c"));
    }

    #[test]
    fn this_process_can_be_measured() {
        if let Some(before) = CpuSnapshot::take() {
            let spin = std::time::Instant::now();
            while spin.elapsed() < Duration::from_millis(50) {}
            let usage = CpuSnapshot::take().map(|after| after.since(&before));
            assert!(usage.is_some_and(|u| u.process_seconds >= 0.0 && u.machine_busy <= 1.0));
        }
    }
}
