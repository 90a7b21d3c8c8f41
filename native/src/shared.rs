//! What the loop's thread and Python share: the schedule coming in, outcomes going out, a few
//! counters. The loop never waits on Python: it takes the lock to append its outcomes every
//! 10 ms.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Mutex;

use crate::sse::Summary;

/// Outcomes as the Python `Recorder.completed_many` takes them: times in seconds since `t0`,
/// a status code or `-1 - i` for the i-th name of [`FAILURES`], sizes or -1 where unknown.
#[derive(Default)]
pub struct Outcomes {
    pub offered: Vec<f64>,
    pub intended: Vec<f64>,
    pub sent: Vec<f64>,
    pub done: Vec<f64>,
    pub codes: Vec<i64>,
    pub request_bytes: Vec<i64>,
    pub response_bytes: Vec<i64>,
    /// Scheduling lag of each request sent (send time minus intended start), seconds.
    pub lags: Vec<f64>,
    /// How each request's stream went, in the order of `codes` (empty unless streaming).
    pub streams: Streams,
}

/// Streamed answers as the Python `StreamArrays` takes them: one entry per recorded request
/// (seconds from its intended start, NaN where nothing came), and every inter-token gap of
/// all of them in one array, `gap_counts[i]` of them belonging to request `i`.
#[derive(Default)]
pub struct Streams {
    pub first_byte: Vec<f64>,
    pub first_token: Vec<f64>,
    pub total: Vec<f64>,
    pub tokens: Vec<i64>,
    pub complete: Vec<i64>,
    pub malformed: Vec<i64>,
    pub gap_counts: Vec<i64>,
    pub gaps: Vec<f64>,
}

impl Streams {
    pub fn push(&mut self, summary: &Summary) {
        self.first_byte.push(summary.first_byte);
        self.first_token.push(summary.first_token);
        self.total.push(summary.total);
        self.tokens.push(summary.tokens);
        self.complete.push(i64::from(summary.complete));
        self.malformed.push(summary.malformed);
        self.gap_counts.push(summary.gaps);
    }

    fn append(&mut self, other: &mut Streams) {
        self.first_byte.append(&mut other.first_byte);
        self.first_token.append(&mut other.first_token);
        self.total.append(&mut other.total);
        self.tokens.append(&mut other.tokens);
        self.complete.append(&mut other.complete);
        self.malformed.append(&mut other.malformed);
        self.gap_counts.append(&mut other.gap_counts);
        self.gaps.append(&mut other.gaps);
    }
}

impl Outcomes {
    pub fn is_empty(&self) -> bool {
        self.offered.is_empty() && self.codes.is_empty() && self.lags.is_empty()
    }

    pub fn append(&mut self, other: &mut Outcomes) {
        self.offered.append(&mut other.offered);
        self.intended.append(&mut other.intended);
        self.sent.append(&mut other.sent);
        self.done.append(&mut other.done);
        self.codes.append(&mut other.codes);
        self.request_bytes.append(&mut other.request_bytes);
        self.response_bytes.append(&mut other.response_bytes);
        self.lags.append(&mut other.lags);
        self.streams.append(&mut other.streams);
    }
}

/// Failure names, in the order their codes count down from -1.
pub const FAILURES: [&str; 5] = ["timeout", "connection", "protocol", "invalid_body", "stream_cut"];
pub const TIMEOUT: i64 = -1;
pub const CONNECTION: i64 = -2;
pub const PROTOCOL: i64 = -3;
pub const INVALID_BODY: i64 = -4;
/// A 2xx stream that ended without `[DONE]` or a final event.
pub const STREAM_CUT: i64 = -5;

#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub scheduled: u64,
    pub sent: u64,
    pub dropped: u64,
}

#[derive(Default)]
pub struct Inner {
    /// (index, offset) pairs not yet taken by the loop.
    pub schedule: VecDeque<(u64, f64)>,
    /// No more schedule will come.
    pub schedule_done: bool,
    pub outcomes: Outcomes,
    pub counts: Counts,
    pub finished: bool,
    /// Why the loop ended early, when it did.
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Shared {
    pub inner: Mutex<Inner>,
    pub stop: AtomicBool,
    pub inflight: AtomicUsize,
}

impl Shared {
    /// The lock, even after a panic in the other thread (the data stays consistent: every
    /// update under it is a plain swap or append).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
