//! A streamed answer's server-sent events, scanned as the body arrives: the Python
//! `StreamReader`'s rules, so a stream is judged alike whichever engine read it.
//!
//! An event ends at a blank line (`\n\n` or `\r\n\r\n`); its `data:` lines joined are its data.
//! An event whose `choices` carry text (`delta.content` of a chat chunk, `text` of a
//! completion) is a token, timed when the bytes that completed it arrived; `data: [DONE]` or
//! a choice with a `finish_reason` ends the stream properly; `usage.completion_tokens` of an
//! event, when given, is the count of tokens (a server may put several in one event); data
//! that is neither JSON nor `[DONE]` is a malformed event.

use serde_json::Value;

/// How one stream went, in seconds from the request's intended start (gaps are kept apart).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// NaN when no byte of the body came.
    pub first_byte: f64,
    /// NaN when no token came.
    pub first_token: f64,
    /// Intended start to the last byte (0 when nothing came).
    pub total: f64,
    pub tokens: i64,
    pub complete: bool,
    pub malformed: i64,
    pub gaps: i64,
}

impl Summary {
    /// A stream of which nothing arrived: a request that failed before any answer.
    pub fn empty() -> Self {
        Summary { first_byte: f64::NAN, first_token: f64::NAN, total: 0.0, tokens: 0, complete: false, malformed: 0, gaps: 0 }
    }
}

#[derive(Default)]
pub struct Sse {
    pending: Vec<u8>,
    /// Bytes at the start of `pending` already searched for the end of an event.
    searched: usize,
    data: Vec<u8>,
    first_byte: Option<f64>,
    first_token: Option<f64>,
    last_token: f64,
    last: Option<f64>,
    gaps: Vec<f64>,
    token_events: i64,
    usage_tokens: Option<i64>,
    complete: bool,
    malformed: i64,
}

impl Sse {
    pub fn reset(&mut self) {
        self.pending.clear();
        self.searched = 0;
        self.first_byte = None;
        self.first_token = None;
        self.last = None;
        self.gaps.clear();
        self.token_events = 0;
        self.usage_tokens = None;
        self.complete = false;
        self.malformed = 0;
    }

    /// Bytes of the body that arrived at monotonic time `now`.
    pub fn feed(&mut self, data: &[u8], now: f64) {
        if data.is_empty() {
            return;
        }
        self.first_byte.get_or_insert(now);
        self.last = Some(now);
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some((end, width)) = event_end(&self.pending[start..], self.searched.saturating_sub(start)) {
            let event = start..start + end;
            let pending = std::mem::take(&mut self.pending);
            self.event(&pending[event], now);
            self.pending = pending;
            start += end + width;
            self.searched = start;
        }
        self.pending.drain(..start);
        // The end of an event is at most 4 bytes wide: the last 3 may begin one.
        self.searched = self.pending.len().saturating_sub(3);
    }

    /// How the stream went, from `intended`; its gaps are appended to `gaps`.
    pub fn summary(&self, intended: f64, gaps: &mut Vec<f64>) -> Summary {
        gaps.extend_from_slice(&self.gaps);
        let tokens = match self.usage_tokens {
            Some(usage) if self.token_events > 0 => usage.max(1),
            _ => self.token_events,
        };
        Summary {
            first_byte: self.first_byte.map_or(f64::NAN, |at| at - intended),
            first_token: self.first_token.map_or(f64::NAN, |at| at - intended),
            total: self.last.map_or(0.0, |at| at - intended),
            tokens,
            complete: self.complete,
            malformed: self.malformed,
            gaps: self.gaps.len() as i64,
        }
    }

    fn event(&mut self, event: &[u8], now: f64) {
        let mut data = std::mem::take(&mut self.data);
        data.clear();
        let mut any = false;
        for line in event.split(|&byte| byte == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(value) = line.strip_prefix(b"data:") {
                if any {
                    data.push(b'\n');
                }
                any = true;
                data.extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
            }
        }
        if !data.is_empty() {
            self.judge(&data, now);
        }
        self.data = data;
    }

    fn judge(&mut self, data: &[u8], now: f64) {
        if data.trim_ascii() == b"[DONE]" {
            self.complete = true;
            return;
        }
        let Ok(Value::Object(chunk)) = serde_json::from_slice::<Value>(data) else {
            self.malformed += 1;
            return;
        };
        if let Some(Value::Object(usage)) = chunk.get("usage") {
            if let Some(count) = usage.get("completion_tokens").and_then(Value::as_i64) {
                self.usage_tokens = Some(count);
            }
        }
        let Some(Value::Array(choices)) = chunk.get("choices") else { return };
        let choices = || choices.iter().filter_map(Value::as_object);
        if choices().any(|choice| !text_of(choice).is_empty()) {
            self.token(now);
        }
        if choices().any(|choice| choice.get("finish_reason").is_some_and(truthy)) {
            self.complete = true;
        }
    }

    fn token(&mut self, now: f64) {
        match self.first_token {
            None => self.first_token = Some(now),
            Some(_) => self.gaps.push(now - self.last_token),
        }
        self.last_token = now;
        self.token_events += 1;
    }
}

/// Where the first whole event in `pending` ends and the width of its blank line, searching
/// from `from` (the bytes before it hold no end).
fn event_end(pending: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..pending.len()).find_map(|at| {
        let rest = &pending[at..];
        if rest.starts_with(b"\n\n") {
            Some((at, 2))
        } else if rest.starts_with(b"\r\n\r\n") {
            Some((at, 4))
        } else {
            None
        }
    })
}

/// A chat chunk's `delta.content`, else a completion's `text`; "" when neither is a string.
fn text_of(choice: &serde_json::Map<String, Value>) -> &str {
    if let Some(Value::Object(delta)) = choice.get("delta") {
        return delta.get("content").and_then(Value::as_str).unwrap_or("");
    }
    choice.get("text").and_then(Value::as_str).unwrap_or("")
}

/// Python's truth of a JSON value: what `if choice.get("finish_reason")` accepts.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str, finish: Option<&str>, usage: Option<i64>) -> Vec<u8> {
        let delta = if text.is_empty() { serde_json::json!({}) } else { serde_json::json!({"content": text}) };
        let mut chunk = serde_json::json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some(count) = usage {
            chunk["usage"] = serde_json::json!({"completion_tokens": count});
        }
        format!("data: {chunk}\n\n").into_bytes()
    }

    fn stream() -> Vec<Vec<u8>> {
        vec![chat("Hello", None, None), chat(" there", None, None), chat(" friend", None, None), chat("", Some("stop"), None), b"data: [DONE]\n\n".to_vec()]
    }

    fn summary(sse: &Sse, intended: f64) -> (Summary, Vec<f64>) {
        let mut gaps = Vec::new();
        let found = sse.summary(intended, &mut gaps);
        (found, gaps)
    }

    #[test]
    fn tokens_are_timed_from_the_intended_start_and_the_end_is_seen() {
        let mut sse = Sse::default();
        for (n, event) in stream().iter().enumerate() {
            sse.feed(event, 10.1 + 0.02 * n as f64);
        }
        let (found, gaps) = summary(&sse, 10.0);
        assert!((found.first_byte - 0.1).abs() < 1e-9);
        assert!((found.first_token - 0.1).abs() < 1e-9);
        assert_eq!(gaps.len(), 2);
        assert!(gaps.iter().all(|gap| (gap - 0.02).abs() < 1e-9));
        assert_eq!((found.tokens, found.complete, found.malformed, found.gaps), (3, true, 0, 2));
        assert!((found.total - 0.18).abs() < 1e-9);
    }

    #[test]
    fn events_split_at_every_byte_read_the_same() {
        let body: Vec<u8> = stream().concat();
        let body = {
            // One event ended the other way, so both ends are split too.
            let text = String::from_utf8(body).unwrap().replacen("\n\n", "\r\n\r\n", 1);
            text.into_bytes()
        };
        let mut whole = Sse::default();
        whole.feed(&body, 1.0);
        let want = summary(&whole, 0.0);
        assert_eq!((want.0.tokens, want.0.complete), (3, true));
        for cut in 1..body.len() {
            let mut sse = Sse::default();
            sse.feed(&body[..cut], 1.0);
            sse.feed(&body[cut..], 1.0);
            assert_eq!(summary(&sse, 0.0), want, "split at byte {cut}");
        }
        let mut sse = Sse::default();
        for byte in &body {
            sse.feed(std::slice::from_ref(byte), 1.0);
        }
        assert_eq!(summary(&sse, 0.0), want);
    }

    #[test]
    fn a_token_is_timed_when_its_event_is_whole() {
        let event = chat("x", None, None);
        let mut sse = Sse::default();
        sse.feed(&event[..10], 1.0);
        sse.feed(&event[10..], 2.0);
        sse.feed(&chat("y", None, None), 2.5);
        let (found, gaps) = summary(&sse, 0.0);
        assert_eq!(found.first_byte, 1.0);
        assert_eq!(found.first_token, 2.0);
        assert_eq!(gaps, vec![0.5]);
        assert!(!found.complete);
    }

    #[test]
    fn a_final_event_ends_it_and_its_usage_is_the_count() {
        let mut sse = Sse::default();
        sse.feed(&chat("ab", None, None), 1.0);
        sse.feed(&chat("cd", None, None), 1.1);
        sse.feed(&chat("", Some("length"), Some(7)), 1.2);
        let (found, _) = summary(&sse, 0.0);
        assert_eq!((found.tokens, found.complete), (7, true));
    }

    #[test]
    fn usage_without_any_token_event_counts_nothing() {
        let mut sse = Sse::default();
        sse.feed(&chat("", Some("stop"), Some(5)), 1.0);
        let (found, _) = summary(&sse, 0.0);
        assert_eq!((found.tokens, found.complete), (0, true));
        assert!(found.first_token.is_nan());
    }

    #[test]
    fn done_alone_ends_it_and_a_stream_without_either_end_is_cut() {
        let mut sse = Sse::default();
        sse.feed(b"data: [DONE]\r\n\r\n", 1.0);
        assert!(summary(&sse, 0.0).0.complete);
        let mut cut = Sse::default();
        cut.feed(&chat("a", None, None), 1.0);
        cut.feed(b"data: [DONE]", 1.1);
        assert!(!summary(&cut, 0.0).0.complete, "[DONE] without its blank line is not an event");
    }

    #[test]
    fn malformed_events_are_counted_and_other_lines_ignored() {
        let mut sse = Sse::default();
        sse.feed(b"data: {not json\n\ndata: [1, 2]\n\n: a comment\n\nevent: ping\n\ndata:\n\n", 1.0);
        sse.feed(b"id: 3\ndata: {\"choices\": [{\"text\": \"hi\"}]}\n\n", 1.5);
        let (found, _) = summary(&sse, 0.0);
        assert_eq!((found.malformed, found.tokens), (2, 1));
        assert_eq!(found.first_token, 1.5);
    }

    #[test]
    fn data_lines_of_one_event_are_joined() {
        let mut sse = Sse::default();
        sse.feed(b"data: {\"choices\":\ndata: [{\"delta\": {\"content\": \"a\"}}]}\n\n", 1.0);
        assert_eq!(summary(&sse, 0.0).0.tokens, 1);
    }

    #[test]
    fn a_delta_without_content_is_no_token_even_with_text() {
        let mut sse = Sse::default();
        sse.feed(b"data: {\"choices\": [{\"delta\": {\"role\": \"assistant\"}, \"text\": \"x\"}]}\n\n", 1.0);
        sse.feed(b"data: {\"choices\": [{\"finish_reason\": \"\"}, 3]}\n\n", 1.1);
        let (found, _) = summary(&sse, 0.0);
        assert_eq!((found.tokens, found.complete), (0, false));
    }

    #[test]
    fn reset_reads_the_next_stream() {
        let mut sse = Sse::default();
        sse.feed(&chat("a", None, None), 1.0);
        sse.feed(b"data: {\"choi", 1.1);
        sse.reset();
        let (found, gaps) = summary(&sse, 0.0);
        assert!(found.first_byte.is_nan() && found.first_token.is_nan() && gaps.is_empty());
        assert_eq!((found.total, found.tokens, found.complete, found.malformed), (0.0, 0, false, 0));
        sse.feed(&chat("b", Some("stop"), None), 2.0);
        assert_eq!(summary(&sse, 0.0).0.tokens, 1);
    }
}
