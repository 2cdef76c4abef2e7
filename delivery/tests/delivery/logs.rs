//! Every log line of this test binary, at every level, in a buffer the tests search for codes
//! that must never be logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The captured lines, as plain text without colours.
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
    /// Everything logged so far by any test of this binary.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// The process's log subscriber, installed by the first test that asks: a global one, because
/// a scoped one misses events when tests on other threads register the same callsites first.
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        if let Err(error) = tracing::subscriber::set_global_default(subscriber) {
            panic!("log subscriber: {error}");
        }
        logs
    })
}

/// Fails if `secret` appears in any line logged so far.
pub fn assert_never_logged(secret: &str) {
    let text = logs().text();
    assert!(!text.contains(secret), "`{secret}` was logged:\n{text}");
}
