//! The results: for each client count, the throughput and latency table, and a second table
//! of where the CPU went; as text for the terminal and as markdown.

use crate::ceiling::CeilingRun;
use crate::cpu::CpuUsage;
use crate::driver::Measurement;
use crate::machine::{Machine, ServerInfo};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Duration;

/// The rows of a table, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Ceiling,
    LoopyncSingle,
    LoopyncGrouped,
    Peer,
    SqlxInsert,
    AppendOnly,
    GroupedSharded,
}

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ceiling => "ceiling (pgbench, 1 insert/commit)",
            Self::LoopyncSingle => "loopync (no grouping)",
            Self::LoopyncGrouped => "loopync (group commit)",
            Self::Peer => "cqrs-es peer",
            Self::SqlxInsert => "breakdown: sqlx insert, 1/commit",
            Self::AppendOnly => "breakdown: store append only",
            Self::GroupedSharded => "breakdown: group commit, 4 writers",
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub variant: Variant,
    pub commands: u64,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// `None` where the notion does not apply (the ceiling).
    pub conflict_retries: Option<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Mean appends per group commit (group commit only).
    pub mean_batch: Option<f64>,
    /// CPU used during the measured window.
    pub cpu: Option<CpuUsage>,
}

fn quantile(latency: &Histogram<u64>, q: f64) -> Duration {
    Duration::from_micros(if latency.is_empty() { 0 } else { latency.value_at_quantile(q) })
}

impl Row {
    pub fn from_measurement(variant: Variant, m: &Measurement) -> Self {
        Self {
            variant,
            commands: m.commands,
            per_second: m.per_second(),
            p50: quantile(&m.latency, 0.5),
            p99: quantile(&m.latency, 0.99),
            max: Duration::from_micros(m.latency.max()),
            conflict_retries: Some(m.pipeline.conflicts),
            errors: m.errors,
            first_error: m.first_error.clone(),
            mean_batch: m.pipeline.mean_batch(),
            cpu: m.cpu,
        }
    }

    pub fn from_ceiling(run: &CeilingRun) -> Self {
        Self {
            variant: Variant::Ceiling,
            commands: run.transactions,
            per_second: run.tps,
            p50: quantile(&run.latency, 0.5),
            p99: quantile(&run.latency, 0.99),
            max: Duration::from_micros(run.latency.max()),
            conflict_retries: None,
            errors: run.failed,
            first_error: (run.failed > 0).then(|| format!("{} pgbench transactions failed", run.failed)),
            mean_batch: None,
            cpu: run.cpu,
        }
    }

    /// Microseconds of CPU per command.
    fn per_command(&self, seconds: f64) -> String {
        if self.commands == 0 {
            return "-".to_owned();
        }
        format!("{:.0}", seconds * 1e6 / self.commands as f64)
    }
}

/// The rows measured at one client count.
#[derive(Debug, Clone)]
pub struct Table {
    pub clients: usize,
    pub rows: Vec<Row>,
}

const RESULT_HEADERS: [&str; 8] =
    ["variant", "commands/s", "vs ceiling", "p50 ms", "p99 ms", "max ms", "conflict retries", "errors"];

const CPU_HEADERS: [&str; 6] = [
    "variant",
    "machine busy",
    "client CPU µs/cmd",
    "PostgreSQL CPU µs/cmd",
    "other processes",
    "appends/group commit",
];

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "-".to_owned(), |f| format!("{:.0}%", 100.0 * f))
}

impl Table {
    fn ceiling(&self) -> Option<f64> {
        self.rows.iter().find(|r| r.variant == Variant::Ceiling).map(|r| r.per_second).filter(|t| *t > 0.0)
    }

    fn result_cells(&self, row: &Row) -> Vec<String> {
        let ratio = self
            .ceiling()
            .map_or_else(|| "n/a".to_owned(), |c| format!("{:.0}%", 100.0 * row.per_second / c));
        vec![
            row.variant.label().to_owned(),
            format!("{:.0}", row.per_second),
            ratio,
            ms(row.p50),
            ms(row.p99),
            ms(row.max),
            row.conflict_retries.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            row.errors.to_string(),
        ]
    }

    fn cpu_cells(row: &Row) -> Vec<String> {
        vec![
            row.variant.label().to_owned(),
            percent(row.cpu.map(|c| c.machine_busy)),
            row.cpu.map_or_else(|| "-".to_owned(), |c| row.per_command(c.process_seconds)),
            row.cpu.and_then(|c| c.postgres_seconds).map_or_else(|| "-".to_owned(), |p| row.per_command(p)),
            percent(row.cpu.map(|c| c.other_share())),
            row.mean_batch.map_or_else(|| "-".to_owned(), |b| format!("{b:.1}")),
        ]
    }

    fn errors(&self) -> impl Iterator<Item = (&Row, &String)> {
        self.rows.iter().filter_map(|row| row.first_error.as_ref().map(|e| (row, e)))
    }
}

/// Everything a report says besides the tables.
#[derive(Debug, Clone)]
pub struct Setup {
    pub machine: Machine,
    pub server: ServerInfo,
    pub pgbench: Option<String>,
    /// Session settings given with `--pg-setting`.
    pub settings: Vec<(String, String)>,
    pub aggregates: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Setup {
    fn lines(&self) -> Vec<String> {
        let m = &self.machine;
        let s = &self.server;
        let mut lines = vec![
            format!(
                "CPU: {} ({} cores online), memory {:.1} GiB, Linux {}",
                m.cpu, m.cores, m.memory_gib, m.kernel
            ),
            format!(
                "PostgreSQL {}: synchronous_commit={}, fsync={}, wal_sync_method={}, shared_buffers={}, \
                 max_connections={}",
                s.version,
                s.synchronous_commit,
                s.fsync,
                s.wal_sync_method,
                s.shared_buffers,
                s.max_connections
            ),
            format!(
                "PostgreSQL and NATS run on this same machine and share its {} cores with the benchmark client \
                 (NATS is idle here: the benchmark does not publish).",
                m.cores
            ),
            format!(
                "Workload: topup on {} aggregates, {:.0} s warm-up + {:.0} s measured per row; ceiling: {}.",
                self.aggregates,
                self.warmup.as_secs_f64(),
                self.duration.as_secs_f64(),
                self.pgbench.as_deref().unwrap_or("skipped")
            ),
        ];
        if !self.settings.is_empty() {
            let settings: Vec<String> = self.settings.iter().map(|(n, v)| format!("{n}={v}")).collect();
            lines.push(format!("Session settings for every variant: {}.", settings.join(", ")));
        }
        lines
    }

    /// The header printed before the tables.
    pub fn text(&self) -> String {
        self.lines().into_iter().map(|l| l + "\n").collect()
    }
}

fn text_grid(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            let width = *width;
            if i == 0 {
                let _ = write!(l, "{cell:<width$}");
            } else {
                let _ = write!(l, "  {cell:>width$}");
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    out += &line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        out += &line(row);
    }
    out
}

fn markdown_grid(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|", headers.join(" | "));
    for i in 0..headers.len() {
        out += if i == 0 { "---|" } else { "---:|" };
    }
    out += "\n";
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// A client count's tables for the terminal.
pub fn text_table(table: &Table) -> String {
    let results: Vec<Vec<String>> = table.rows.iter().map(|r| table.result_cells(r)).collect();
    let cpu: Vec<Vec<String>> = table.rows.iter().map(Table::cpu_cells).collect();
    let mut out = format!("C = {} clients\n", table.clients);
    out += &text_grid(&RESULT_HEADERS, &results);
    for (row, error) in table.errors() {
        let _ = writeln!(out, "  {}: first error: {error}", row.variant.label());
    }
    out += "\n";
    out += &text_grid(&CPU_HEADERS, &cpu);
    out
}

/// The whole report as a markdown section.
pub fn markdown(setup: &Setup, tables: &[Table]) -> String {
    let mut out = String::from("## Results\n\n### Machine\n\n");
    for line in setup.lines() {
        let _ = writeln!(out, "- {line}");
    }
    for table in tables {
        let results: Vec<Vec<String>> = table.rows.iter().map(|r| table.result_cells(r)).collect();
        let _ = write!(out, "\n### C = {} clients\n\n", table.clients);
        out += &markdown_grid(&RESULT_HEADERS, &results);
        for (row, error) in table.errors() {
            let _ = writeln!(out, "\n{}: first error: `{error}`", row.variant.label());
        }
    }
    out += "\n### Where the CPU went\n\n\
            During each measured window: how busy the machine was (all cores); the CPU per command \
            of the client (the benchmark process: our pipeline and sqlx, or the peer; pgbench for \
            the ceiling) and of PostgreSQL (all its processes); and the share of the machine taken \
            by other processes, which should be near 0%: a row where it is not was disturbed by \
            something else running.\n";
    for table in tables {
        let cpu: Vec<Vec<String>> = table.rows.iter().map(Table::cpu_cells).collect();
        let _ = write!(out, "\nC = {} clients:\n\n", table.clients);
        out += &markdown_grid(&CPU_HEADERS, &cpu);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(variant: Variant, per_second: f64) -> Row {
        Row {
            variant,
            commands: 1000,
            per_second,
            p50: Duration::from_micros(1500),
            p99: Duration::from_millis(4),
            max: Duration::from_millis(20),
            conflict_retries: (variant != Variant::Ceiling).then_some(3),
            errors: 0,
            first_error: None,
            mean_batch: (variant == Variant::LoopyncGrouped).then_some(7.5),
            cpu: Some(CpuUsage {
                machine_busy: 0.9,
                process_seconds: 0.25,
                postgres_seconds: Some(0.5),
                other_seconds: 0.1,
                wall_seconds: 1.0,
                cores: 2,
            }),
        }
    }

    #[test]
    fn ratios_are_against_the_ceiling_of_the_same_table() {
        let table = Table {
            clients: 8,
            rows: vec![row(Variant::Ceiling, 1000.0), row(Variant::LoopyncGrouped, 3500.0)],
        };
        let text = text_table(&table);
        assert!(text.contains("350%"), "{text}");
        assert!(text.contains("100%"), "{text}");
        assert!(text.contains("1.50"), "{text}");
        assert!(text.contains("250") && text.contains("500") && text.contains("7.5"), "{text}");
        assert!(text.contains("5%"), "{text}");
        let without = Table { clients: 8, rows: vec![row(Variant::Peer, 10.0)] };
        assert!(text_table(&without).contains("n/a"));
    }
}
