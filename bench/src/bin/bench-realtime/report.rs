//! The report of `bench-realtime`: the Markdown section for BENCHMARKS.md, with each target's verdict.

use super::*;
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

pub(crate) fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

pub(crate) fn median(values: &[f64]) -> f64 {
    summary(values.to_vec()).p50
}

pub(crate) fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn report(args: &Args, machine: &Machine, server: &ServerInfo, results: &Results) -> String {
    let mut out = String::new();
    let _ = write!(out, "### bench-realtime — {}\n\n", Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        out,
        "- CPU: {} ({} cores online), memory {:.1} GiB, Linux {}; file descriptor limit {}",
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        fd_limit().map_or_else(|| "unknown".to_owned(), |l| grouped(l as usize))
    );
    let _ = writeln!(
        out,
        "- PostgreSQL {} (synchronous_commit={}) and NATS run on the same {} cores as the server \
         (release `loopync serve`, its own process: {} threads) and the benchmark's clients.",
        server.version, server.synchronous_commit, machine.cores, results.server_threads
    );
    let _ = writeln!(
        out,
        "- Server settings: the defaults of `serve` (heartbeat 20 s, outbound queue 256, group commit on, \
         projections in process) with rate limits off and bcrypt cost 4; logs at `warn`."
    );
    let _ = writeln!(out);
    if let Some(idle) = &results.idle {
        idle_section(&mut out, idle);
    }
    if let Some(latency) = &results.latency {
        latency_section(&mut out, args, latency);
    }
    if let Some(fanout) = &results.fanout {
        fanout_section(&mut out, fanout);
    }
    targets_section(&mut out, results);
    out
}

pub(crate) fn idle_section(out: &mut String, idle: &Idle) {
    let _ = writeln!(out, "#### (a) Idle connections held by one node\n");
    let _ = writeln!(out, "| measure | value |\n|---|---:|");
    let held = idle.pongs.min(idle.connected);
    let rows = [
        (
            "connections asked / connected / answered a ping after the hold",
            format!("{} / {} / {}", grouped(idle.target), grouped(idle.connected), grouped(held)),
        ),
        (
            "connect rate (token in the query, up to `ready`)",
            format!(
                "{:.0}/s ({:.1} s for all)",
                idle.connected as f64 / idle.connect_secs.max(1e-9),
                idle.connect_secs
            ),
        ),
        (
            "server RSS before → with every client connected",
            format!("{} → {}", mib(idle.before.rss_kib), mib(idle.after.rss_kib)),
        ),
        ("**server memory per connection**", format!("**{:.1} KiB**", idle.per_connection_bytes() / 1024.0)),
        (
            "server RSS once every client has gone",
            idle.released.map_or_else(|| "-".to_owned(), |r| mib(r.rss_kib)),
        ),
        (
            "server RSS each time the same clients connect again (levelling off: reuse, not a leak)",
            if idle.reconnected.is_empty() {
                "-".to_owned()
            } else {
                idle.reconnected
                    .iter()
                    .map(|(stats, connected)| format!("{} ({})", mib(stats.rss_kib), grouped(*connected)))
                    .collect::<Vec<_>>()
                    .join(" → ")
            },
        ),
        ("server file descriptors before → connected", format!("{} → {}", idle.before.fds, idle.after.fds)),
        (
            "server CPU while idle",
            format!(
                "{:.2} s over {:.0} s ({:.1}% of one core)",
                idle.idle_cpu_seconds,
                idle.hold_secs,
                100.0 * idle.idle_cpu_seconds / idle.hold_secs.max(1e-9)
            ),
        ),
        ("connections closed during the hold", idle.closed_during_hold.to_string()),
        (
            "benchmark process: file descriptors / RSS",
            format!("{} / {}", idle.bench_after.fds, mib(idle.bench_after.rss_kib)),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    if let Some(error) = &idle.first_error {
        let _ = writeln!(out, "\n{} connections failed; first error: `{error}`", idle.failed);
    }
    let _ = writeln!(out);
}

pub(crate) fn latency_section(out: &mut String, args: &Args, l: &Latency) {
    let _ = writeln!(
        out,
        "#### (b) Command to frame at {} connected clients\n\n{} real users (signed up over HTTP in {:.1} s), \
         all connected; {} send 1-credit transfers to the other {} at {:.0}/s asked ({:.1}/s sent), \
         {} s warm-up then {} s measured; latency from sending `POST /api/looppay/transfer` to the \
         recipient's socket reading its `balance_updated`.\n",
        grouped(l.users),
        grouped(l.users),
        l.signup_secs,
        l.senders,
        l.users - l.senders,
        l.rate_asked,
        l.rate_sent,
        args.warmup_secs,
        args.seconds
    );
    let _ = writeln!(
        out,
        "| latency | n | p50 ms | p99 ms | max ms | vs command p99 |\n|---|---:|---:|---:|---:|---:|"
    );
    let base = l.command.p99;
    let line = |name: &str, s: &Summary, ratio: bool| {
        format!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {} |\n",
            s.count,
            s.p50,
            s.p99,
            s.max,
            if ratio && base > 0.0 { format!("{:.2}x", s.p99 / base) } else { "-".to_owned() }
        )
    };
    out.push_str(&line("command: HTTP transfer, sent → response (baseline)", &l.command, true));
    out.push_str(&line("**command → recipient's frame**", &l.to_frame, true));
    out.push_str(&line(
        "frame after the HTTP response (projection + NATS + gateway)",
        &l.after_response,
        false,
    ));
    let _ = writeln!(
        out,
        "\nFrames received for {} of {} measured transfers ({} frames carried two or more credits); {} failed \
         transfers{}; largest ledger projection lag seen on `/metrics`: {}; server CPU {:.1} s over {:.1} s \
         ({:.0}% of one core).\n",
        l.frames,
        l.ok,
        l.coalesced,
        l.errors,
        l.first_error.as_deref().map(|e| format!(" (first: `{e}`)")).unwrap_or_default(),
        l.projection_lag_max.map_or_else(|| "not exported".to_owned(), |s| format!("{:.0} ms", s * 1000.0)),
        l.server_cpu_seconds,
        l.wall_secs,
        100.0 * l.server_cpu_seconds / l.wall_secs.max(1e-9)
    );
}

pub(crate) fn fanout_section(out: &mut String, f: &Fanout) {
    let _ = writeln!(
        out,
        "#### (c) Fan-out: one frame to a {}-user audience\n\n{} rounds; each publishes one `signal` frame \
         to each user's `live.user.<id>.ephemeral` from one NATS connection as fast as it can; delays are \
         from the round's first publish to each client reading the frame. Baseline: the same publishes to \
         as many plain NATS subscribers in the benchmark process.\n",
        grouped(f.audience),
        f.rounds
    );
    let _ = writeln!(
        out,
        "| path | received | publish all, ms | p50 ms | p99 ms | last client ms (median round) | worst round ms |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    let line = |name: &str, p: &Path| {
        let s = summary(p.delays.clone());
        format!(
            "| {name} | {}/{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            p.received,
            p.expected,
            median(&p.publish),
            s.p50,
            s.p99,
            median(&p.totals),
            p.totals.iter().copied().fold(0.0, f64::max)
        )
    };
    out.push_str(&line("plain NATS subscribers (baseline)", &f.nats));
    out.push_str(&line("**through the gateway's WebSockets**", &f.gateway));
    let gateway = median(&f.gateway.totals);
    let nats = median(&f.nats.totals);
    let p99 = |p: &Path| summary(p.delays.clone()).p99;
    if nats > 0.0 && p99(&f.nats) > 0.0 {
        let _ = writeln!(
            out,
            "\nThe gateway takes {:.1}x the plain NATS time to the last client, {:.1}x at p99.\n",
            gateway / nats,
            p99(&f.gateway) / p99(&f.nats)
        );
    }
}

pub(crate) fn targets_section(out: &mut String, results: &Results) {
    let _ = writeln!(out, "#### Targets\n\n| target | measured | |\n|---|---:|---|");
    match &results.idle {
        Some(idle) => {
            let held = idle.pongs.min(idle.connected);
            let _ = writeln!(
                out,
                "| ≥ {} idle connections held by one node | {} | {} |",
                grouped(IDLE_TARGET),
                grouped(held),
                verdict(held >= IDLE_TARGET)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "| ≥ {} idle connections held by one node | not measured | — |",
                grouped(IDLE_TARGET)
            );
        }
    }
    match &results.latency {
        Some(l) => {
            let complete = l.frames == l.ok && l.errors == 0;
            let _ = writeln!(
                out,
                "| command → frame p99 < {P99_TARGET_MS:.0} ms at {} clients, every frame delivered | {:.1} ms, {}/{} frames | {} |",
                grouped(l.users),
                l.to_frame.p99,
                l.frames,
                l.ok,
                verdict(complete && l.to_frame.p99 < P99_TARGET_MS)
            );
        }
        None => {
            let _ = writeln!(out, "| command → frame p99 < {P99_TARGET_MS:.0} ms | not measured | — |");
        }
    }
}
