//! The report of `bench-ledger`: the progress lines, the setup, the Markdown tables with each
//! target's verdict, and where the CPU went.

use super::*;

pub(super) fn print_row(row: &Row) {
    eprintln!(
        "      {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        row.per_second, row.p50_ms, row.p99_ms, row.errors
    );
}

/// The lines that say where the numbers come from.
pub(super) fn setup_lines(
    args: &Args,
    machine: &Machine,
    server: &ServerInfo,
    pgbench: Option<&str>,
) -> Vec<String> {
    vec![
        format!(
            "- CPU: {} ({} cores online), memory {:.1} GiB, Linux {}",
            machine.cpu, machine.cores, machine.memory_gib, machine.kernel
        ),
        format!(
            "- PostgreSQL {}: synchronous_commit={}, fsync={}, wal_sync_method={}, shared_buffers={}, max_connections={}",
            server.version,
            server.synchronous_commit,
            server.fsync,
            server.wal_sync_method,
            server.shared_buffers,
            server.max_connections
        ),
        format!(
            "- PostgreSQL runs on this same machine and shares its {} cores with the benchmark, which is both \
             the HTTP server and its clients in the HTTP rows.",
            machine.cores
        ),
        format!(
            "- Workload: {} users signed up through the identity service, each wallet topped up with {} minor units \
             through the `TopUp` decision; transfers of 1 minor unit between random distinct users; {} s warm-up + {} s \
             measured per row; app pool {} connections, group commit on (512 per batch, 2 in flight), snapshots \
             every 100 events, cache 10,000 (the `serve` defaults); projections not running; {}; ceiling: {}.",
            args.users,
            args.top_up,
            args.warmup_secs,
            args.duration_secs,
            args.pool_size,
            if args.no_nats {
                "no NATS (`--no-nats`: the session gate re-checks sessions every 5 s)"
            } else {
                "NATS as `serve` has it (the session gate hears endings; sessions' positions shared)"
            },
            pgbench.unwrap_or("skipped")
        ),
    ]
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn find(rows: &[Row], kind: Kind, clients: usize) -> Option<&Row> {
    rows.iter().find(|r| r.kind == kind && r.clients == clients)
}

/// The ratio of a row and what it is measured against, and its target's verdict.
fn ratio_cells(rows: &[Row], row: &Row) -> (String, String) {
    let against =
        |kind: Kind, clients: usize| find(rows, kind, clients).map(|b| b.per_second).filter(|b| *b > 0.0);
    match row.kind {
        Kind::Ceiling => ("—".to_owned(), "—".to_owned()),
        Kind::InProcess => match against(Kind::Ceiling, row.clients) {
            Some(ceiling) => {
                let ratio = row.per_second / ceiling;
                let target = if row.clients == TARGET_CLIENTS {
                    format!(
                        "{} (≥ {:.0}%); p99 {} (< {P99_TARGET_MS:.0} ms)",
                        verdict(ratio >= CEILING_TARGET),
                        100.0 * CEILING_TARGET,
                        verdict(row.p99_ms < P99_TARGET_MS)
                    )
                } else {
                    "—".to_owned()
                };
                (format!("{:.0}% of ceiling", 100.0 * ratio), target)
            }
            None => ("n/a".to_owned(), "—".to_owned()),
        },
        Kind::Http => match against(Kind::InProcess, row.clients) {
            Some(in_process) => {
                let ratio = row.per_second / in_process;
                let mut target = format!("{} (≥ {:.0}%)", verdict(ratio >= HTTP_TARGET), 100.0 * HTTP_TARGET);
                if row.clients == TARGET_CLIENTS {
                    let _ = write!(
                        target,
                        "; p99 {} (< {P99_TARGET_MS:.0} ms)",
                        verdict(row.p99_ms < P99_TARGET_MS)
                    );
                }
                (format!("{:.0}% of in-process", 100.0 * ratio), target)
            }
            None => ("n/a".to_owned(), "—".to_owned()),
        },
        Kind::HotAccount => match against(Kind::InProcess, row.clients) {
            Some(in_process) => (
                format!("{:.0}% of in-process transfers", 100.0 * row.per_second / in_process),
                "—".to_owned(),
            ),
            None => ("—".to_owned(), "—".to_owned()),
        },
    }
}

/// The report: setup, results with ratios and verdicts, the targets, and where the CPU went.
pub(super) fn report(args: &Args, header: &[String], rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### bench-ledger — transfers at C = {}, hot account at C = {}\n",
        args.clients.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        args.hot_clients
    );
    let _ = writeln!(out, "#### Machine\n\n{}\n", header.join("\n"));
    let _ = writeln!(out, "#### Results\n");
    let _ = writeln!(out, "| row | C | per second | p50 ms | p99 ms | max ms | errors | ratio | target |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    for row in rows {
        let (ratio, target) = ratio_cells(rows, row);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            row.kind.label(),
            row.clients,
            row.per_second,
            row.p50_ms,
            row.p99_ms,
            row.max_ms,
            row.errors,
            ratio,
            target
        );
    }

    let _ = writeln!(out, "\n#### Targets (at C = {TARGET_CLIENTS})\n");
    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    let in_process = find(rows, Kind::InProcess, TARGET_CLIENTS);
    let http = find(rows, Kind::Http, TARGET_CLIENTS);
    let ceiling = find(rows, Kind::Ceiling, TARGET_CLIENTS);
    match (in_process, ceiling) {
        (Some(row), Some(ceiling)) if ceiling.per_second > 0.0 => {
            let ratio = row.per_second / ceiling.per_second;
            let _ = writeln!(
                out,
                "| in-process transfers ≥ {:.0}% of the one-insert-per-commit ceiling | {:.0}% ({:.0} vs {:.0}/s) | {} |",
                100.0 * CEILING_TARGET,
                100.0 * ratio,
                row.per_second,
                ceiling.per_second,
                verdict(ratio >= CEILING_TARGET)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "| in-process transfers ≥ {:.0}% of the ceiling | not measured | — |",
                100.0 * CEILING_TARGET
            );
        }
    }
    match (http, in_process) {
        (Some(row), Some(base)) if base.per_second > 0.0 => {
            let ratio = row.per_second / base.per_second;
            let _ = writeln!(
                out,
                "| HTTP transfers ≥ {:.0}% of the in-process rate | {:.0}% ({:.0} vs {:.0}/s) | {} |",
                100.0 * HTTP_TARGET,
                100.0 * ratio,
                row.per_second,
                base.per_second,
                verdict(ratio >= HTTP_TARGET)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "| HTTP transfers ≥ {:.0}% of the in-process rate | not measured | — |",
                100.0 * HTTP_TARGET
            );
        }
    }
    for (name, row) in [("in-process", in_process), ("HTTP", http)] {
        match row {
            Some(row) => {
                let _ = writeln!(
                    out,
                    "| p99 < {P99_TARGET_MS:.0} ms, {name} | {:.2} ms | {} |",
                    row.p99_ms,
                    verdict(row.p99_ms < P99_TARGET_MS)
                );
            }
            None => {
                let _ = writeln!(out, "| p99 < {P99_TARGET_MS:.0} ms, {name} | not measured | — |");
            }
        }
    }

    let _ = writeln!(
        out,
        "\n#### Where the CPU went\n\nDuring each measured window: how busy the machine was (all cores); the CPU per \
         operation of the benchmark process (pipeline and sqlx in process; the HTTP server *and* its reqwest clients in \
         the HTTP rows; pgbench for the ceiling) and of PostgreSQL (all its processes, so work for other databases on \
         the server counts too); the share of the machine other processes took, and the transactions per second the \
         server's other databases committed (both near 0 for an undisturbed row); and the pipeline's own counters \
         (conflict retries, appends per group commit).\n"
    );
    let _ = writeln!(
        out,
        "| row | C | machine busy | client CPU µs/op | PostgreSQL CPU µs/op | other processes | other DBs tx/s | conflict retries | appends/group commit |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let per_op = |seconds: f64, usage: &CpuUsage| {
            let ops = row.per_second * usage.wall_seconds;
            if ops > 0.0 { format!("{:.0}", seconds * 1e6 / ops) } else { "-".to_owned() }
        };
        let cpu = row.cpu.as_ref();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.kind.label(),
            row.clients,
            cpu.map_or_else(|| "-".to_owned(), |c| format!("{:.0}%", 100.0 * c.machine_busy)),
            cpu.map_or_else(|| "-".to_owned(), |c| per_op(c.process_seconds, c)),
            cpu.and_then(|c| c.postgres_seconds.map(|p| per_op(p, c))).unwrap_or_else(|| "-".to_owned()),
            cpu.map_or_else(|| "-".to_owned(), |c| format!("{:.0}%", 100.0 * c.other_share())),
            row.other_db_tps.map_or_else(|| "-".to_owned(), |t| format!("{t:.0}")),
            row.pipeline.map_or_else(|| "-".to_owned(), |p| format!("{:.0}", p.conflicts)),
            row.pipeline
                .filter(|p| p.batches > 0.0)
                .map_or_else(|| "-".to_owned(), |p| format!("{:.1}", p.batched / p.batches)),
        );
    }
    let _ = row_count_note(&mut out, rows);
    out
}

/// A line with the totals, so a reader can tell a short window from a slow one.
fn row_count_note(out: &mut String, rows: &[Row]) -> std::fmt::Result {
    let counted: Vec<String> = rows
        .iter()
        .filter(|r| r.kind != Kind::Ceiling)
        .map(|r| format!("{} C={} {}", short(r.kind), r.clients, r.ok))
        .collect();
    writeln!(out, "\nOperations counted in the measured windows: {}.", counted.join(", "))
}

fn short(kind: Kind) -> &'static str {
    match kind {
        Kind::Ceiling => "ceiling",
        Kind::InProcess => "in-process",
        Kind::Http => "HTTP",
        Kind::HotAccount => "hot",
    }
}
