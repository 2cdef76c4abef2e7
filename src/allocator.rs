//! The server's memory allocator: mimalloc, told to return freed memory to the system soon.
//!
//! A gateway node's memory follows its WebSocket clients: 10,000 idle sockets take about 220 MiB.
//! With glibc malloc none of it went back to the system when they left, and each new wave of
//! clients grew the process further; mimalloc with its default one-second purge delay kept it
//! too (a quiet process rarely reaches the next purge). Purging after 100 ms, mimalloc gave back
//! about half as clients left and levelled off a fifth lower when they came again, for a few
//! percent of a core while 10,000 sockets idle; purging at once cost more CPU and saved no more
//! (BENCHMARKS.md, "Allocator"). Built with `--no-default-features`, the binary uses glibc
//! malloc and this module does nothing.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mimalloc.h` (v3; the `-sys` crate names only some
/// options): milliseconds freed memory waits before it is returned to the system.
#[cfg(feature = "mimalloc")]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory waits before it goes back to the system.
#[cfg(feature = "mimalloc")]
const PURGE_AFTER_MS: std::ffi::c_long = 100;

/// Applies the allocator's settings; call first thing in `main`. `MIMALLOC_PURGE_DELAY` in
/// the environment still wins, for an operator who wants to trade memory for CPU.
pub fn configure() {
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads options atomically.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_AFTER_MS)
        };
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    /// A new mimalloc whose options are numbered differently would make `configure` change
    /// some other option: its default (1000 ms in v3) tells that the index is still the
    /// purge delay.
    #[test]
    fn the_purge_delay_index_names_the_purge_delay() {
        // SAFETY: reads one integer option.
        #[allow(unsafe_code)]
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(before, 1000, "mi_option_t {PURGE_DELAY} is not the purge delay in this mimalloc");
    }
}
