//! The event loop: HTTP/1.1 on non-blocking sockets and one epoll set, paced open or closed.
//!
//! The same rules as the Python http1 engine, so what a run records does not depend on which of
//! the two sent it: each connection carries one request at a time and is kept alive for the
//! next; a request due while every connection is busy waits for one (its latency still counts
//! from its intended start), and past the in-flight ceiling it is dropped and counted; a request
//! whose kept-alive connection turns out to be closed before any answer is sent again once on a
//! new connection; a request without a full answer `timeout` after its send is a `timeout`;
//! after the last send, stragglers get one timeout and a second, then are abandoned unrecorded.
//! When the target streams, each answer's body is scanned for server-sent events as it arrives
//! (`sse`), and every recorded request carries how its stream went; a 2xx stream that ended
//! without `[DONE]` or a final event is `stream_cut`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::now;
use crate::request::Requests;
use crate::response::{Progress, Response};
use crate::shared::{Counts, Outcomes, Shared, CONNECTION, INVALID_BODY, PROTOCOL, STREAM_CUT, TIMEOUT};
use crate::sse::Summary;
use crate::validate::Validator;

const NEVER: f64 = f64::INFINITY;
/// The longest single wait, so the loop notices a stop or the end of the run.
const MAX_IDLE_S: f64 = 0.05;
/// Timeouts are checked this often; a timed-out request is reported at most this late.
const EXPIRY_EVERY_S: f64 = 0.005;
const MAX_EVENTS: usize = 256;
const RECV_BYTES: usize = 64 * 1024;
/// Outcomes are handed to Python at least this often (and whenever this many are waiting).
const PUBLISH_EVERY_S: f64 = 0.01;
const PUBLISH_COUNT: usize = 4096;
/// Schedule entries taken from the shared queue at a time.
const TAKE_SCHEDULE: usize = 4096;
/// While Python has not yet handed over more schedule, look again this soon.
const SCHEDULE_POLL_S: f64 = 0.001;

pub enum Mode {
    /// Requests at the schedule's offsets; more than `ceiling` outstanding are dropped.
    Open { ceiling: usize },
    /// `users` each sending again as soon as their answer is back; request indices count from
    /// `first` by `step` (this worker's share of the whole run's).
    Closed { users: usize, first: u64, step: u64 },
}

pub struct Settings {
    pub address: SocketAddr,
    pub head: bool,
    pub timeout_s: f64,
    pub max_connections: usize,
    /// Monotonic seconds the run's offsets count from.
    pub t0: f64,
    pub duration_s: f64,
    /// Connections opened before the first request.
    pub prepare: usize,
    pub mode: Mode,
    /// Answers are server-sent event streams, timed event by event.
    pub stream: bool,
}

struct Conn {
    fd: i32,
    generation: u32,
    connected: bool,
    refused: bool,
    busy: bool,
    reused: bool,
    retried: bool,
    got: bool,
    watching_out: bool,
    index: u64,
    intended: f64,
    sent: f64,
    size: usize,
    out: Vec<u8>,
    written: usize,
    response: Response,
}

pub struct Loop {
    settings: Settings,
    shared: Arc<Shared>,
    requests: Requests,
    validator: Validator,
    epoll: i32,
    pwait2: bool,
    events: Vec<libc::epoll_event>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    generation: u32,
    open: usize,
    /// Kept-alive connections, the most recently used last: reusing it keeps the set of
    /// connections in use small and warm.
    idle: Vec<usize>,
    inflight: usize,
    /// Requests wait for a connection: the next completion calls `send_due`.
    blocked: bool,
    released: bool,
    next_expiry: f64,
    buffer: Vec<u8>,
    schedule: VecDeque<(u64, f64)>,
    schedule_done: bool,
    upcoming: Option<(u64, f64)>,
    waiting: VecDeque<(u64, f64)>,
    counter: u64,
    end: f64,
    out: Outcomes,
    counts: Counts,
    last_publish: f64,
}

impl Loop {
    pub fn new(settings: Settings, requests: Requests, validator: Validator, shared: Arc<Shared>) -> io::Result<Loop> {
        // SAFETY: plain system call; the descriptor is owned by the loop and closed in Drop.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        let counter = match settings.mode {
            Mode::Closed { first, .. } => first,
            Mode::Open { .. } => 0,
        };
        let end = settings.t0 + settings.duration_s;
        Ok(Loop {
            settings,
            shared,
            requests,
            validator,
            epoll,
            pwait2: true,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            conns: Vec::new(),
            free: Vec::new(),
            generation: 0,
            open: 0,
            idle: Vec::new(),
            inflight: 0,
            blocked: false,
            released: false,
            next_expiry: 0.0,
            buffer: vec![0; RECV_BYTES],
            schedule: VecDeque::new(),
            schedule_done: false,
            upcoming: None,
            waiting: VecDeque::new(),
            counter,
            end,
            out: Outcomes::default(),
            counts: Counts::default(),
            last_publish: 0.0,
        })
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// The whole run: send, serve, drain, then hand everything over.
    pub fn run(&mut self) {
        crate::clock::fine_timers();
        self.prepare();
        match self.settings.mode {
            Mode::Open { .. } => self.run_open(),
            Mode::Closed { .. } => self.run_closed(),
        }
        self.publish(true);
    }

    fn prepare(&mut self) {
        let wanted = self.settings.prepare.min(self.settings.max_connections);
        while self.open < wanted {
            match self.open_connection() {
                Some(slot) => self.idle.push(slot),
                None => break,
            }
        }
    }

    fn run_open(&mut self) {
        let mut due = self.send_due();
        while !self.stopped() && !(self.upcoming.is_none() && self.schedule_done && self.waiting.is_empty()) {
            due = self.serve(now() + MAX_IDLE_S, due);
            self.publish(false);
        }
        let end = (self.settings.t0 + self.settings.duration_s).max(now());
        self.drain(end + self.settings.timeout_s);
    }

    fn run_closed(&mut self) {
        while !self.stopped() {
            let wait = self.settings.t0 - now();
            if wait <= 0.0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs_f64(wait.min(MAX_IDLE_S)));
        }
        let mut due = self.send_due();
        while !self.stopped() && now() < self.end {
            due = self.serve(self.end.min(now() + MAX_IDLE_S), due);
            self.publish(false);
        }
        self.end = self.end.min(now());
        self.drain(self.end + self.settings.timeout_s);
    }

    /// Await the requests still in flight after the last send, a second past the timeout of
    /// the last at most (each is timed out by itself before).
    fn drain(&mut self, timeout_at: f64) {
        let deadline = timeout_at + 1.0;
        while self.inflight > 0 && !self.stopped() && now() < deadline {
            self.serve(deadline.min(now() + MAX_IDLE_S), NEVER);
            self.publish(false);
        }
    }

    // --- pacing ---------------------------------------------------------------------------

    fn send_due(&mut self) -> f64 {
        match self.settings.mode {
            Mode::Open { ceiling } => self.send_due_open(ceiling),
            Mode::Closed { users, step, .. } => self.refill(users, step),
        }
    }

    fn next_scheduled(&mut self) -> Option<(u64, f64)> {
        if let Some(found) = self.schedule.pop_front() {
            return Some(found);
        }
        if self.schedule_done {
            return None;
        }
        let mut inner = self.shared.lock();
        let take = inner.schedule.len().min(TAKE_SCHEDULE);
        self.schedule.extend(inner.schedule.drain(..take));
        self.schedule_done = inner.schedule_done && inner.schedule.is_empty();
        drop(inner);
        self.schedule.pop_front()
    }

    /// Offer every request whose time has come and send as many as there are free connections
    /// for; when the next one is due.
    fn send_due_open(&mut self, ceiling: usize) -> f64 {
        let t0 = self.settings.t0;
        let now = now();
        if self.upcoming.is_none() {
            self.upcoming = self.next_scheduled();
        }
        while let Some((index, offset)) = self.upcoming {
            if t0 + offset > now {
                break;
            }
            self.counts.scheduled += 1;
            self.out.offered.push(offset);
            if self.inflight + self.waiting.len() >= ceiling {
                self.counts.dropped += 1;
            } else {
                self.waiting.push_back((index, t0 + offset));
            }
            self.upcoming = self.next_scheduled();
        }
        // One pass only: sockets are served between passes, so answers keep freeing
        // connections even when sending alone would take all the time there is.
        while !self.waiting.is_empty() && self.can_start() {
            let (index, intended) = self.waiting.pop_front().unwrap_or_default();
            let sent = self.start(index, intended);
            self.out.lags.push(sent - intended);
            self.counts.sent += 1;
        }
        self.blocked = !self.waiting.is_empty();
        match self.upcoming {
            Some((_, offset)) => t0 + offset,
            None if self.schedule_done => NEVER,
            None => now + SCHEDULE_POLL_S,
        }
    }

    /// Closed loop's "intended" start is whenever the previous answer came back.
    fn refill(&mut self, users: usize, step: u64) -> f64 {
        loop {
            let now = now();
            if self.inflight >= users || now >= self.end || self.stopped() {
                break;
            }
            self.out.offered.push(now - self.settings.t0);
            self.counts.scheduled += 1;
            self.counts.sent += 1;
            self.out.lags.push(0.0);
            let index = self.counter;
            self.counter += step;
            self.start(index, now);
        }
        // Users come back through completions, which wake this through `blocked`.
        self.blocked = now() < self.end;
        NEVER
    }

    fn can_start(&self) -> bool {
        !self.idle.is_empty() || self.open < self.settings.max_connections
    }

    /// Serve sockets for one wake-up, waiting at most until `until`, `due` or the next timeout
    /// check; `send_due` runs whenever `due` passes (between any two answers) and after an
    /// answer frees a connection while the schedule is blocked.
    fn serve(&mut self, until: f64, mut due: f64) -> f64 {
        let start = now();
        let wake = if self.inflight > 0 { until.min(due).min(self.next_expiry) } else { until.min(due) };
        let ready = self.wait(wake - start);
        for n in 0..ready {
            let event = self.events[n];
            let (token, flags) = (event.u64, event.events);
            let slot = (token & 0xffff_ffff) as usize;
            let generation = (token >> 32) as u32;
            if !self.is_current(slot, generation) {
                continue;
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                self.writable(slot);
            }
            let readable = (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32;
            if flags & readable != 0 && self.is_current(slot, generation) {
                self.readable(slot);
            }
            if now() >= due || (self.released && self.blocked) {
                self.released = false;
                due = self.send_due();
            }
        }
        let checked = now();
        if checked >= self.next_expiry {
            self.next_expiry = checked + EXPIRY_EVERY_S;
            self.expire(checked);
        }
        if now() >= due || (self.released && self.blocked) {
            self.released = false;
            due = self.send_due();
        }
        self.shared.inflight.store(self.inflight, Ordering::Relaxed);
        due
    }

    /// Ready events, waiting at most `timeout` seconds for the first (to the nanosecond where
    /// the kernel has epoll_pwait2, else to the millisecond, rounded up).
    fn wait(&mut self, timeout: f64) -> usize {
        let events = self.events.as_mut_ptr();
        let max = MAX_EVENTS as i32;
        let found = if timeout <= 0.0 {
            // SAFETY: `events` holds MAX_EVENTS entries.
            unsafe { libc::epoll_wait(self.epoll, events, max, 0) }
        } else {
            let mut found = -1;
            if self.pwait2 {
                let whole = timeout.floor();
                let ts = libc::timespec { tv_sec: whole as libc::time_t, tv_nsec: ((timeout - whole) * 1e9) as libc::c_long };
                // SAFETY: epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize).
                found = unsafe {
                    libc::syscall(libc::SYS_epoll_pwait2, self.epoll, events, max, &ts as *const libc::timespec, std::ptr::null::<libc::sigset_t>(), 0usize)
                } as i32;
                if found < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                    self.pwait2 = false;
                }
            }
            if !self.pwait2 {
                let millis = (timeout * 1000.0).ceil().min(i32::MAX as f64) as i32;
                // SAFETY: as above.
                found = unsafe { libc::epoll_wait(self.epoll, events, max, millis) };
            }
            found
        };
        found.max(0) as usize
    }

    // --- connections ----------------------------------------------------------------------

    fn is_current(&self, slot: usize, generation: u32) -> bool {
        matches!(self.conns.get(slot), Some(Some(conn)) if conn.generation == generation)
    }

    fn conn(&mut self, slot: usize) -> &mut Conn {
        self.conns[slot].as_mut().expect("a live connection in its slot")
    }

    fn open_connection(&mut self) -> Option<usize> {
        let address = self.settings.address;
        let family = if address.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain system calls on a descriptor this function owns until stored.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return None;
        }
        let one: libc::c_int = 1;
        // SAFETY: `one` outlives the call; the size is that of c_int.
        unsafe {
            libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as libc::socklen_t)
        };
        let (storage, length) = socket_address(&address);
        // SAFETY: `storage` holds a sockaddr of `length` bytes.
        let rc = unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, length) };
        let (connected, refused) = if rc == 0 {
            (true, false)
        } else {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINPROGRESS) => (false, false),
                // Refused at once (loopback does that): reported on the next wake-up, so the
                // request still goes through the bookkeeping of a send first.
                _ => (false, true),
            }
        };
        self.generation = self.generation.wrapping_add(1);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let conn = Conn {
            fd,
            generation: self.generation,
            connected,
            refused,
            busy: false,
            reused: false,
            retried: false,
            got: false,
            watching_out: !connected,
            index: 0,
            intended: 0.0,
            sent: 0.0,
            size: 0,
            out: Vec::new(),
            written: 0,
            response: if self.settings.stream {
                Response::streamed(self.settings.head, self.validator.needs_body())
            } else {
                Response::new(self.settings.head, self.validator.needs_body())
            },
        };
        let mut flags = libc::EPOLLIN as u32;
        if !connected {
            flags |= libc::EPOLLOUT as u32;
        }
        let mut event = libc::epoll_event { events: flags, u64: (u64::from(self.generation) << 32) | slot as u64 };
        // SAFETY: `event` is valid for the call.
        unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
        self.conns[slot] = Some(conn);
        self.open += 1;
        Some(slot)
    }

    fn watch(&mut self, slot: usize, out: bool) {
        let epoll = self.epoll;
        let conn = self.conn(slot);
        if conn.watching_out == out {
            return;
        }
        conn.watching_out = out;
        let flags = if out { (libc::EPOLLIN | libc::EPOLLOUT) as u32 } else { libc::EPOLLIN as u32 };
        let mut event = libc::epoll_event { events: flags, u64: (u64::from(conn.generation) << 32) | slot as u64 };
        // SAFETY: `event` is valid for the call.
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_MOD, conn.fd, &mut event) };
    }

    fn close(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].take() else { return };
        if let Some(at) = self.idle.iter().position(|&idle| idle == slot) {
            self.idle.remove(at);
        }
        // Closing the socket also takes it out of the epoll set.
        // SAFETY: the descriptor is owned by this connection and closed once.
        unsafe { libc::close(conn.fd) };
        self.free.push(slot);
        self.open -= 1;
    }

    /// Send request `index` on a kept-alive connection or a new one; its send time.
    fn start(&mut self, index: u64, intended: f64) -> f64 {
        let slot = match self.idle.pop() {
            Some(slot) => slot,
            None => match self.open_connection() {
                Some(slot) => slot,
                None => {
                    // No socket to be had (out of descriptors): a failed request, not a crash.
                    let sent = now();
                    let size = self.requests.write(index, &mut Vec::new());
                    self.record(intended, sent, sent, CONNECTION, size, None, Summary::empty());
                    return sent;
                }
            },
        };
        self.inflight += 1;
        let Loop { conns, requests, .. } = self;
        let conn = conns[slot].as_mut().expect("a live connection in its slot");
        conn.size = requests.write(index, &mut conn.out);
        conn.written = 0;
        let sent = now();
        conn.busy = true;
        conn.index = index;
        conn.intended = intended;
        conn.sent = sent;
        conn.got = false;
        conn.retried = false;
        conn.response.reset();
        if conn.connected {
            self.flush(slot);
        }
        sent
    }

    fn flush(&mut self, slot: usize) {
        let conn = self.conn(slot);
        let pending = &conn.out[conn.written..];
        if pending.is_empty() {
            return;
        }
        // SAFETY: `pending` is valid for its length; MSG_NOSIGNAL turns EPIPE into an error.
        let sent = unsafe { libc::send(conn.fd, pending.as_ptr() as *const libc::c_void, pending.len(), libc::MSG_NOSIGNAL) };
        if sent < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => self.watch(slot, true),
                _ => self.broken(slot),
            }
            return;
        }
        conn.written += sent as usize;
        let done = conn.written == conn.out.len();
        self.watch(slot, !done);
    }

    fn writable(&mut self, slot: usize) {
        let conn = self.conn(slot);
        if !conn.connected {
            let mut error: libc::c_int = 0;
            let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `error` and `length` are valid for the call.
            unsafe { libc::getsockopt(conn.fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut error as *mut _ as *mut libc::c_void, &mut length) };
            if conn.refused || error != 0 {
                if conn.busy {
                    self.fail(slot, CONNECTION);
                } else {
                    self.close(slot);
                }
                return;
            }
            conn.connected = true;
        }
        if conn.written < conn.out.len() {
            self.flush(slot);
        } else {
            self.watch(slot, false);
        }
    }

    fn readable(&mut self, slot: usize) {
        let fd = self.conn(slot).fd;
        // SAFETY: the buffer is valid for its length.
        let received = unsafe { libc::recv(fd, self.buffer.as_mut_ptr() as *mut libc::c_void, self.buffer.len(), 0) };
        if received < 0 {
            if let Some(libc::EAGAIN) | Some(libc::EINTR) = io::Error::last_os_error().raw_os_error() {
                return;
            }
        }
        let received = received.max(0) as usize;
        if !self.conn(slot).busy {
            // An idle connection the server closed (or, against the protocol, spoke on).
            self.close(slot);
            return;
        }
        if received == 0 {
            self.broken(slot);
            return;
        }
        // A stream's events are timed by when their bytes arrived; whole answers need no clock.
        let arrived = if self.settings.stream { now() } else { 0.0 };
        let Loop { conns, buffer, .. } = self;
        let conn = conns[slot].as_mut().expect("a live connection in its slot");
        conn.got = true;
        let progress = conn.response.feed_at(&buffer[..received], arrived);
        match progress {
            Progress::Partial => {}
            Progress::Invalid => self.fail(slot, PROTOCOL),
            Progress::Complete { status, keep } => self.answered(slot, status, keep),
        }
    }

    /// The connection ended before a full answer.
    fn broken(&mut self, slot: usize) {
        let conn = self.conn(slot);
        if !conn.got && conn.reused && !conn.retried {
            self.retry(slot);
        } else if conn.response.ends_at_close() {
            // An answer without a length ends when the server closes the connection.
            if let Progress::Complete { status, .. } = conn.response.closed() {
                self.answered(slot, status, false);
            }
        } else {
            self.fail(slot, CONNECTION);
        }
    }

    fn retry(&mut self, slot: usize) {
        let old = self.conn(slot);
        let (index, intended, size) = (old.index, old.intended, old.size);
        self.close(slot);
        let Some(fresh) = self.open_connection() else {
            self.inflight -= 1;
            self.released = true;
            let failed = now();
            self.record(intended, failed, failed, CONNECTION, size, None, Summary::empty());
            return;
        };
        let Loop { conns, requests, .. } = self;
        let conn = conns[fresh].as_mut().expect("a live connection in its slot");
        conn.size = requests.write(index, &mut conn.out);
        conn.written = 0;
        conn.busy = true;
        conn.retried = true;
        conn.index = index;
        conn.intended = intended;
        conn.sent = now();
        conn.response.reset();
        if conn.connected {
            self.flush(fresh);
        }
    }

    fn expire(&mut self, now: f64) {
        let late = now - self.settings.timeout_s;
        let expired: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(slot, conn)| match conn {
                Some(conn) if conn.busy && conn.sent <= late => Some(slot),
                _ => None,
            })
            .collect();
        for slot in expired {
            self.fail(slot, TIMEOUT);
        }
    }

    // --- outcomes -------------------------------------------------------------------------

    fn answered(&mut self, slot: usize, status: u16, keep: bool) {
        let Loop { conns, validator, .. } = self;
        let conn = conns[slot].as_mut().expect("a live connection in its slot");
        let code = if validator.invalid(status, conn.response.body()) { INVALID_BODY } else { i64::from(status) };
        let received = conn.response.body_len();
        self.done(slot, code, Some(received));
        if keep {
            let conn = self.conn(slot);
            conn.reused = true;
            conn.response.reset();
            self.idle.push(slot);
        } else {
            self.close(slot);
        }
    }

    fn fail(&mut self, slot: usize, code: i64) {
        self.done(slot, code, None);
        self.close(slot);
    }

    fn done(&mut self, slot: usize, code: i64, received: Option<usize>) {
        let finished = now();
        let Loop { conns, out, .. } = self;
        let conn = conns[slot].as_mut().expect("a live connection in its slot");
        conn.busy = false;
        let (intended, sent, size) = (conn.intended, conn.sent, conn.size);
        let stream = match conn.response.stream() {
            Some(sse) => sse.summary(intended, &mut out.streams.gaps),
            None => Summary::empty(),
        };
        let code = if (200..300).contains(&code) && conn.response.stream().is_some() && !stream.complete { STREAM_CUT } else { code };
        self.inflight -= 1;
        self.released = true;
        self.record(intended, sent, finished, code, size, received, stream);
    }

    /// One request's outcome; with its stream's when the target streams (`stream`'s gaps are
    /// already in the outcomes).
    #[allow(clippy::too_many_arguments)]
    fn record(&mut self, intended: f64, sent: f64, done: f64, code: i64, size: usize, received: Option<usize>, stream: Summary) {
        let t0 = self.settings.t0;
        let out = &mut self.out;
        out.intended.push(intended - t0);
        out.sent.push(sent - t0);
        out.done.push(done - t0);
        out.codes.push(code);
        out.request_bytes.push(size as i64);
        out.response_bytes.push(received.map_or(-1, |n| n as i64));
        if self.settings.stream {
            out.streams.push(&stream);
        }
    }

    /// Hand outcomes over: every few milliseconds, when many are waiting, and at the end.
    fn publish(&mut self, last: bool) {
        let now = now();
        let due = now - self.last_publish >= PUBLISH_EVERY_S || self.out.codes.len() >= PUBLISH_COUNT;
        if !last && (self.out.is_empty() || !due) {
            return;
        }
        self.last_publish = now;
        let mut inner = self.shared.lock();
        inner.outcomes.append(&mut self.out);
        inner.counts = self.counts;
        if last {
            inner.finished = true;
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        for conn in self.conns.iter().flatten() {
            // SAFETY: each descriptor is owned by its connection.
            unsafe { libc::close(conn.fd) };
        }
        // SAFETY: the epoll descriptor is owned by the loop.
        unsafe { libc::close(self.epoll) };
    }
}

fn socket_address(address: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; it is filled in below.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let length = match address {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, length as libc::socklen_t)
}
