//! Log lines captured in a buffer: as JSON for tests that read what the app logged, or as plain
//! text at every level for tests that search for secrets that must never be logged.

use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Log lines, as JSON, in a buffer tests can read.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Everything logged so far by this process, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Every line logged so far that parses as JSON.
    pub fn lines(&self) -> Vec<Value> {
        self.text().lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}

/// The process's log subscriber (JSON, DEBUG and up, the current span and the span list),
/// installed on first use: install it before the app whose logs a test reads serves
/// (`Options::capture_logs`). Global, because a scoped one misses events when tests on other
/// threads register the same callsites first. Only tests that read logs install it: formatting
/// every line costs the others time for nothing.
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only log subscriber");
        logs
    })
}

/// The process's log subscriber for tests that search for leaks: plain text without colours,
/// every level down to TRACE. Global and installed on first use, like [`logs`]; a test binary
/// uses one or the other.
pub fn every_line() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only log subscriber");
        logs
    })
}

/// Fails if `secret` appears in any line [`every_line`] captured so far.
pub fn assert_never_logged(secret: &str) {
    let text = every_line().text();
    assert!(!text.contains(secret), "`{secret}` was logged:\n{text}");
}
