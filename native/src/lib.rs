//! serving-chaos's native load engine: the `native` engine's event loop in Rust, for Python.
//!
//! Python hands over a run's settings and its schedule in chunks; the loop runs on a thread of
//! its own that never takes the GIL, and Python takes the outcomes every few milliseconds as
//! arrays for its recorder, so per-second buckets, phases and budgets are recorded by the same
//! code whichever engine sent the requests.

mod clock;
mod engine;
mod request;
mod response;
mod shared;
mod sse;
mod validate;

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::{Loop, Mode, Settings};
use crate::request::{Bodies, Requests};
use crate::shared::{Shared, FAILURES};
use crate::validate::Validator;

/// One run of the event loop on its own thread.
#[pyclass(module = "serving_chaos_native")]
struct Engine {
    shared: Arc<Shared>,
    ready: Option<Loop>,
    thread: Option<JoinHandle<()>>,
}

type Arrays<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
);

/// What one streamed answer came to, as `sse_summary` reports it.
type StreamSummary = (f64, f64, Vec<f64>, i64, bool, f64, i64);

#[pymethods]
impl Engine {
    /// `body` is "fixed" (`data`), "samples" (`samples`) or "records" (`records` rows per
    /// request, keys over `keyspace`); `predictions` the records each 2xx must predict for, or
    /// None to accept any answer. Open loop with `ceiling`, closed loop with `users`. With
    /// `stream`, answers are server-sent event streams, timed event by event.
    #[new]
    #[pyo3(signature = (*, address, port, start_line, content_type, always_length, head, body,
        data, samples, records, keyspace, predictions, timeout_s, max_connections, t0,
        duration_s, prepare, ceiling=None, users=None, first=0, step=1, stream=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        address: &str,
        port: u16,
        start_line: &[u8],
        content_type: &str,
        always_length: bool,
        head: bool,
        body: &str,
        data: &[u8],
        samples: Vec<Bound<'_, PyBytes>>,
        records: u64,
        keyspace: u64,
        predictions: Option<usize>,
        timeout_s: f64,
        max_connections: usize,
        t0: f64,
        duration_s: f64,
        prepare: usize,
        ceiling: Option<usize>,
        users: Option<usize>,
        first: u64,
        step: u64,
        stream: bool,
    ) -> PyResult<Self> {
        let ip = address
            .parse()
            .map_err(|_| PyValueError::new_err(format!("expected an IP address but got {address:?}")))?;
        let bodies = match body {
            "fixed" => Bodies::Fixed(data.to_vec()),
            "samples" if !samples.is_empty() => Bodies::Samples(samples.iter().map(|s| s.as_bytes().to_vec()).collect()),
            "records" if records >= 1 && keyspace >= 1 => Bodies::Records { records, keyspace },
            _ => return Err(PyValueError::new_err(format!("expected body fixed, samples or records (with what it needs) but got {body:?}"))),
        };
        let mode = match (ceiling, users) {
            (Some(ceiling), None) => Mode::Open { ceiling },
            (None, Some(users)) => Mode::Closed { users, first, step: step.max(1) },
            _ => return Err(PyValueError::new_err("expected exactly one of ceiling (open loop) and users (closed loop)")),
        };
        if !(timeout_s > 0.0) || max_connections == 0 {
            return Err(PyValueError::new_err("expected timeout_s > 0 and max_connections >= 1"));
        }
        let settings = Settings {
            address: SocketAddr::new(ip, port),
            head,
            timeout_s,
            max_connections,
            t0,
            duration_s,
            prepare,
            mode,
            stream,
        };
        let requests = Requests::new(start_line.to_vec(), content_type, always_length, bodies);
        let validator = match predictions {
            Some(records) => Validator::PredictionsPerRecord(records),
            None => Validator::AcceptAny,
        };
        let shared = Arc::new(Shared::default());
        let ready = Loop::new(settings, requests, validator, Arc::clone(&shared))
            .map_err(|error| PyRuntimeError::new_err(format!("cannot create an epoll set: {error}")))?;
        Ok(Engine { shared, ready: Some(ready), thread: None })
    }

    /// Schedule entries: request indices (native-endian int64) and their offsets in seconds
    /// (float64); `last` when no more will come.
    fn feed(&self, indices: &[u8], offsets: &[u8], last: bool) -> PyResult<()> {
        if indices.len() != offsets.len() || indices.len() % 8 != 0 {
            return Err(PyValueError::new_err("expected as many int64 indices as float64 offsets"));
        }
        let mut inner = self.shared.lock();
        let pairs = indices.chunks_exact(8).zip(offsets.chunks_exact(8));
        inner.schedule.extend(pairs.map(|(index, offset)| {
            (u64::from_ne_bytes(index.try_into().unwrap_or_default()), f64::from_ne_bytes(offset.try_into().unwrap_or_default()))
        }));
        inner.schedule_done |= last;
        Ok(())
    }

    /// Schedule entries handed over and not yet taken by the loop.
    fn queued(&self) -> usize {
        self.shared.lock().schedule.len()
    }

    /// Start the loop's thread.
    fn start(&mut self) -> PyResult<()> {
        let mut ready = self.ready.take().ok_or_else(|| PyRuntimeError::new_err("the engine has already run"))?;
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("serving-chaos-native".into())
            .spawn(move || {
                let ran = catch_unwind(AssertUnwindSafe(|| ready.run()));
                let mut inner = shared.lock();
                if let Err(panic) = ran {
                    let said = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    inner.error = Some(format!("the native engine stopped: {said}"));
                }
                inner.finished = true;
            })
            .map_err(|error| PyRuntimeError::new_err(format!("cannot start the native engine's thread: {error}")))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// The outcomes since the last call, as raw arrays: offered offsets, intended, sent and done
    /// times (float64 seconds since t0), codes, request and response sizes (int64) and lags
    /// (float64 seconds); then, for streams (empty otherwise), one entry per request of codes:
    /// first byte, first token and total (float64 seconds from intended start, NaN for none),
    /// tokens, complete (0 or 1), malformed events, gap counts (int64), and all gaps (float64).
    fn take<'py>(&self, py: Python<'py>) -> (Arrays<'py>, Arrays<'py>) {
        let outcomes = std::mem::take(&mut self.shared.lock().outcomes);
        let streams = &outcomes.streams;
        (
            (
                floats(py, &outcomes.offered),
                floats(py, &outcomes.intended),
                floats(py, &outcomes.sent),
                floats(py, &outcomes.done),
                ints(py, &outcomes.codes),
                ints(py, &outcomes.request_bytes),
                ints(py, &outcomes.response_bytes),
                floats(py, &outcomes.lags),
            ),
            (
                floats(py, &streams.first_byte),
                floats(py, &streams.first_token),
                floats(py, &streams.total),
                ints(py, &streams.tokens),
                ints(py, &streams.complete),
                ints(py, &streams.malformed),
                ints(py, &streams.gap_counts),
                floats(py, &streams.gaps),
            ),
        )
    }

    /// Requests in flight, as of the loop's last wake-up.
    fn inflight(&self) -> usize {
        self.shared.inflight.load(Ordering::Relaxed)
    }

    /// (scheduled, sent, dropped) as of the last hand-over.
    fn counts(&self) -> (u64, u64, u64) {
        let counts = self.shared.lock().counts;
        (counts.scheduled, counts.sent, counts.dropped)
    }

    /// Whether the loop has ended (everything handed over).
    fn finished(&self) -> bool {
        self.shared.lock().finished
    }

    /// Why the loop ended early, if it did.
    fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }

    /// End the run now: nothing more is sent and nothing more awaited.
    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Wait for the loop's thread to end, without holding the GIL.
    fn join(&mut self, py: Python<'_>) {
        if let Some(thread) = self.thread.take() {
            let _ = py.detach(|| thread.join());
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn floats<'py>(py: Python<'py>, values: &[f64]) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_ne_bytes()).collect();
    PyBytes::new(py, &bytes)
}

fn ints<'py>(py: Python<'py>, values: &[i64]) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_ne_bytes()).collect();
    PyBytes::new(py, &bytes)
}

/// Python's `RecordsBody(records, keyspace)(index)`, as the engine writes it (for tests).
#[pyfunction]
fn records_body<'py>(py: Python<'py>, index: u64, records: u64, keyspace: u64) -> Bound<'py, PyBytes> {
    let mut out = Vec::new();
    request::records_body(index, records, keyspace, &mut out);
    PyBytes::new(py, &out)
}

/// Whether a 2xx answer fails the `PredictionsPerRecord(records)` check, as the engine checks.
#[pyfunction]
fn predictions_invalid(records: usize, status: u16, body: &[u8]) -> bool {
    Validator::PredictionsPerRecord(records).invalid(status, body)
}

/// A stream's body, fed piece by piece (`pieces[i]` arriving at `arrived[i]`), as the engine
/// scans it: first byte, first token, gaps, tokens, complete, total and malformed events, in
/// seconds from `intended` (NaN where nothing came). For tests against the Python reader.
#[pyfunction]
fn sse_summary(pieces: Vec<Vec<u8>>, arrived: Vec<f64>, intended: f64) -> PyResult<StreamSummary> {
    if pieces.len() != arrived.len() {
        return Err(PyValueError::new_err("expected an arrival time for every piece"));
    }
    let mut scanner = sse::Sse::default();
    for (piece, at) in pieces.iter().zip(arrived) {
        scanner.feed(piece, at);
    }
    let mut gaps = Vec::new();
    let found = scanner.summary(intended, &mut gaps);
    Ok((found.first_byte, found.first_token, gaps, found.tokens, found.complete, found.total, found.malformed))
}

#[pymodule]
fn serving_chaos_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(records_body, m)?)?;
    m.add_function(wrap_pyfunction!(predictions_invalid, m)?)?;
    m.add_function(wrap_pyfunction!(sse_summary, m)?)?;
    m.add("FAILURES", FAILURES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
