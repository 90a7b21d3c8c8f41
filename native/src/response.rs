//! An HTTP/1.1 answer read as it arrives: the head by httparse, then a body framed by
//! Content-Length, by chunks, or by the end of the connection. A streamed answer's body also
//! goes, piece by piece as it is decoded, to its server-sent event scanner.

use httparse::Status;

use crate::sse::Sse;

/// Heads larger than this are not an answer worth waiting for.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    Partial,
    /// A whole answer: its status and whether the connection may carry the next request.
    Complete { status: u16, keep: bool },
    /// Not HTTP/1.x.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Sized(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// The answer to one request; [`Response::reset`] before the next.
pub struct Response {
    pending: Vec<u8>,
    state: State,
    status: u16,
    keep: bool,
    /// The answer to a HEAD request has no body whatever its Content-Length says.
    no_body: bool,
    keep_body: bool,
    body: Vec<u8>,
    body_len: usize,
    pub headers_done: bool,
    /// The events of a streamed answer, when the target streams.
    stream: Option<Sse>,
    /// When the bytes being fed arrived (monotonic seconds), for the stream's timings.
    arrived: f64,
}

impl Response {
    pub fn new(no_body: bool, keep_body: bool) -> Self {
        Response {
            pending: Vec::new(),
            state: State::Head,
            status: 0,
            keep: false,
            no_body,
            keep_body,
            body: Vec::new(),
            body_len: 0,
            headers_done: false,
            stream: None,
            arrived: 0.0,
        }
    }

    /// An answer whose body is a stream of server-sent events, scanned as it arrives.
    pub fn streamed(no_body: bool, keep_body: bool) -> Self {
        Response { stream: Some(Sse::default()), ..Response::new(no_body, keep_body) }
    }

    /// The stream's events so far (None unless made by [`Response::streamed`]).
    pub fn stream(&self) -> Option<&Sse> {
        self.stream.as_ref()
    }

    pub fn reset(&mut self) {
        self.pending.clear();
        self.body.clear();
        self.state = State::Head;
        self.status = 0;
        self.keep = false;
        self.body_len = 0;
        self.headers_done = false;
        if let Some(stream) = &mut self.stream {
            stream.reset();
        }
    }

    /// The body as received (chunks joined), when asked to keep it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// Whether, without a length, the end of the connection is the end of the answer.
    pub fn ends_at_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// The answer's status and that the connection ends with it: for a body ended by close.
    pub fn closed(&mut self) -> Progress {
        self.state = State::Done;
        Progress::Complete { status: self.status, keep: false }
    }

    #[cfg(test)]
    pub fn feed(&mut self, data: &[u8]) -> Progress {
        self.feed_at(data, 0.0)
    }

    /// [`Response::feed`] for bytes that arrived at monotonic time `now`.
    pub fn feed_at(&mut self, data: &[u8], now: f64) -> Progress {
        self.arrived = now;
        if self.pending.is_empty() {
            // The common case: a whole answer in one read, parsed where it lies.
            let (used, progress) = self.advance(data);
            if progress == Progress::Partial && used < data.len() {
                self.pending.extend_from_slice(&data[used..]);
            }
            return progress;
        }
        self.pending.extend_from_slice(data);
        let pending = std::mem::take(&mut self.pending);
        let (used, progress) = self.advance(&pending);
        let mut pending = pending;
        if progress == Progress::Partial {
            pending.drain(..used);
            self.pending = pending;
        } else {
            pending.clear();
            // Keep the allocation for the next answer.
            self.pending = pending;
        }
        progress
    }

    /// Parse what `data` holds; how many bytes were consumed and where the answer stands.
    fn advance(&mut self, data: &[u8]) -> (usize, Progress) {
        let mut at = 0;
        loop {
            let rest = &data[at..];
            match self.state {
                State::Done => return (at, Progress::Complete { status: self.status, keep: self.keep }),
                State::Head => match self.head(rest) {
                    Ok(Some(used)) => at += used,
                    Ok(None) => {
                        if rest.len() > MAX_HEAD_BYTES {
                            return (at, Progress::Invalid);
                        }
                        return (at, Progress::Partial);
                    }
                    Err(()) => return (at, Progress::Invalid),
                },
                State::Sized(remaining) | State::ChunkData(remaining) => {
                    if rest.is_empty() {
                        return (at, Progress::Partial);
                    }
                    let take = remaining.min(rest.len() as u64) as usize;
                    self.take_body(&rest[..take]);
                    at += take;
                    let left = remaining - take as u64;
                    self.state = match (self.state, left) {
                        (State::Sized(_), 0) => State::Done,
                        (State::Sized(_), _) => State::Sized(left),
                        (_, 0) => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(Status::Complete((used, 0))) => {
                        at += used;
                        self.state = State::Trailers;
                    }
                    Ok(Status::Complete((used, size))) => {
                        at += used;
                        self.state = State::ChunkData(size);
                    }
                    Ok(Status::Partial) => return (at, Progress::Partial),
                    Err(_) => return (at, Progress::Invalid),
                },
                State::ChunkEnd => {
                    if rest.len() < 2 {
                        return (at, Progress::Partial);
                    }
                    if &rest[..2] != b"\r\n" {
                        return (at, Progress::Invalid);
                    }
                    at += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => match rest.windows(2).position(|pair| pair == b"\r\n") {
                    // The empty line ends the trailers; any other line is a trailer, skipped.
                    Some(0) => {
                        at += 2;
                        self.state = State::Done;
                    }
                    Some(end) => at += end + 2,
                    None => return (at, Progress::Partial),
                },
                State::UntilClose => {
                    self.take_body(rest);
                    return (data.len(), Progress::Partial);
                }
            }
        }
    }

    fn take_body(&mut self, data: &[u8]) {
        self.body_len += data.len();
        if self.keep_body {
            self.body.extend_from_slice(data);
        }
        if let Some(stream) = &mut self.stream {
            stream.feed(data, self.arrived);
        }
    }

    /// Parse the head; the bytes it took, or None when it is not all there yet.
    fn head(&mut self, data: &[u8]) -> Result<Option<usize>, ()> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut answer = httparse::Response::new(&mut headers);
        let used = match answer.parse(data) {
            Ok(Status::Complete(used)) => used,
            Ok(Status::Partial) => return Ok(None),
            Err(_) => return Err(()),
        };
        let status = answer.code.ok_or(())?;
        let http11 = answer.version == Some(1);
        if (100..200).contains(&status) && status != 101 {
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            return Ok(Some(used));
        }
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = !http11;
        for header in answer.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(header.value).map_err(|_| ())?;
                let value: u64 = text.trim().parse().map_err(|_| ())?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(());
                }
                length = Some(value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = has_token(header.value, b"chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                if has_token(header.value, b"close") {
                    close = true;
                } else if has_token(header.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        self.status = status;
        self.keep = !close;
        self.headers_done = true;
        self.state = if self.no_body || status == 204 || status == 304 || status == 101 {
            State::Done
        } else if chunked {
            State::ChunkSize
        } else if let Some(length) = length {
            if length == 0 { State::Done } else { State::Sized(length) }
        } else {
            self.keep = false;
            State::UntilClose
        };
        Ok(Some(used))
    }
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&byte| byte == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &[u8]) -> (Progress, Vec<u8>) {
        let mut answer = Response::new(false, true);
        let progress = answer.feed(text);
        (progress, answer.body().to_vec())
    }

    #[test]
    fn sized_answer_in_one_read() {
        let (progress, body) = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(progress, Progress::Complete { status: 200, keep: true });
        assert_eq!(body, b"ok");
    }

    #[test]
    fn byte_by_byte_chunked_with_trailers() {
        let text = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let mut answer = Response::new(false, true);
        for (n, byte) in text.iter().enumerate() {
            let progress = answer.feed(std::slice::from_ref(byte));
            if n + 1 < text.len() {
                assert_eq!(progress, Progress::Partial, "at byte {n}");
            } else {
                assert_eq!(progress, Progress::Complete { status: 503, keep: true });
            }
        }
        assert_eq!(answer.body(), b"abcde");
        assert_eq!(answer.body_len(), 5);
    }

    #[test]
    fn http10_closes_unless_kept_alive() {
        let (progress, _) = whole(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(progress, Progress::Complete { status: 200, keep: false });
        let (progress, _) = whole(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(progress, Progress::Complete { status: 200, keep: true });
        let (progress, _) = whole(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(progress, Progress::Complete { status: 200, keep: false });
    }

    #[test]
    fn no_length_ends_at_close() {
        let mut answer = Response::new(false, true);
        assert_eq!(answer.feed(b"HTTP/1.1 200 OK\r\n\r\nab"), Progress::Partial);
        assert_eq!(answer.feed(b"cd"), Progress::Partial);
        assert!(answer.ends_at_close());
        assert_eq!(answer.closed(), Progress::Complete { status: 200, keep: false });
        assert_eq!(answer.body(), b"abcd");
    }

    #[test]
    fn interim_answers_are_skipped_and_head_has_no_body() {
        let (progress, _) = whole(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(progress, Progress::Complete { status: 204, keep: true });
        let mut answer = Response::new(true, false);
        assert_eq!(answer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), Progress::Complete { status: 200, keep: true });
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(whole(b"SSH-2.0-OpenSSH\r\n\r\n").0, Progress::Invalid);
        assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").0, Progress::Invalid);
        assert_eq!(whole(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").0, Progress::Invalid);
    }

    #[test]
    fn a_streamed_chunked_body_reaches_its_scanner_timed_by_arrival() {
        let mut answer = Response::streamed(false, false);
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(answer.feed_at(head, 1.0), Progress::Partial);
        let first = b"data: {\"choices\": [{\"text\": \"a\"}]}\n\n";
        let chunk = format!("{:x}\r\n", first.len());
        assert_eq!(answer.feed_at(&[chunk.as_bytes(), first, b"\r\n"].concat(), 2.0), Progress::Partial);
        let done = b"data: [DONE]\n\n";
        let last = [format!("{:x}\r\n", done.len()).as_bytes(), done, b"\r\n0\r\n\r\n"].concat();
        assert_eq!(answer.feed_at(&last, 3.0), Progress::Complete { status: 200, keep: true });
        let mut gaps = Vec::new();
        let found = answer.stream().map(|sse| sse.summary(0.0, &mut gaps)).unwrap();
        assert_eq!((found.first_byte, found.first_token, found.total), (2.0, 2.0, 3.0));
        assert_eq!((found.tokens, found.complete), (1, true));
        answer.reset();
        let found = answer.stream().map(|sse| sse.summary(0.0, &mut gaps)).unwrap();
        assert_eq!((found.tokens, found.complete), (0, false));
    }

    #[test]
    fn reset_reads_the_next_answer() {
        let mut answer = Response::new(false, false);
        assert_eq!(answer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), Progress::Complete { status: 200, keep: true });
        answer.reset();
        assert_eq!(answer.feed(b"HTTP/1.1 404 NF\r\nContent-Length: 3\r\n\r\nabc"), Progress::Complete { status: 404, keep: true });
        assert_eq!(answer.body_len(), 3);
    }
}
