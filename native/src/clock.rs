//! The clock every timestamp is read from: CLOCK_MONOTONIC, which is what Python's
//! `time.monotonic()` reads, so `t0` handed over from Python means the same instant here.

/// Seconds on CLOCK_MONOTONIC.
pub fn now() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Linux lets a sleeping thread wake up to its timer slack late (50 us by default); the loop's
/// waits end at send times, so the slack of the thread running it is cut to 1 ns.
pub fn fine_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only the calling thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}
