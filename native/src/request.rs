//! How requests are written: the fixed part once, the body per request when it varies.
//!
//! Byte for byte what the Python engines send: request `i` of the whole schedule gets the same
//! body whichever worker or engine sends it.

use std::fmt::Write;

/// Where bodies come from (the Python `FixedBody`, `SampleBodies` and `RecordsBody`).
pub enum Bodies {
    Fixed(Vec<u8>),
    Samples(Vec<Vec<u8>>),
    /// MLflow-style `dataframe_records`: `records` rows per request, entity keys cycling a
    /// keyspace of `keyspace`.
    Records { records: u64, keyspace: u64 },
}

pub struct Requests {
    start: Vec<u8>,
    typed: Vec<u8>,
    always_length: bool,
    bodies: Bodies,
    /// The whole request when every request is the same.
    fixed: Option<(Vec<u8>, usize)>,
    body: Vec<u8>,
}

impl Requests {
    /// `start` is the request line and Host header, each ending in CRLF; `content_type` the
    /// header's value, sent with non-empty bodies; `always_length` says whether the method
    /// carries a Content-Length even when the body is empty (POST, PUT, PATCH).
    pub fn new(start: Vec<u8>, content_type: &str, always_length: bool, bodies: Bodies) -> Self {
        let typed = format!("Content-Type: {content_type}\r\n").into_bytes();
        let mut requests = Requests { start, typed, always_length, bodies, fixed: None, body: Vec::new() };
        if let Bodies::Fixed(data) = &requests.bodies {
            let data = data.clone();
            let mut whole = Vec::new();
            requests.build(&data, &mut whole);
            requests.fixed = Some((whole, data.len()));
        }
        requests
    }

    /// Request `index` as written on the wire into `out` (cleared first); the size of its body.
    pub fn write(&mut self, index: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        if let Some((whole, size)) = &self.fixed {
            out.extend_from_slice(whole);
            return *size;
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        match &self.bodies {
            Bodies::Fixed(data) => body.extend_from_slice(data),
            Bodies::Samples(samples) => body.extend_from_slice(&samples[(index % samples.len() as u64) as usize]),
            Bodies::Records { records, keyspace } => records_body(index, *records, *keyspace, &mut body),
        }
        self.build(&body, out);
        let size = body.len();
        self.body = body;
        size
    }

    fn build(&self, body: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.start);
        if body.is_empty() && !self.always_length {
            out.extend_from_slice(b"\r\n");
            return;
        }
        if !body.is_empty() {
            out.extend_from_slice(&self.typed);
        }
        let mut length = String::with_capacity(32);
        let _ = write!(length, "Content-Length: {}\r\n\r\n", body.len());
        out.extend_from_slice(length.as_bytes());
        out.extend_from_slice(body);
    }
}

/// What Python's `json.dumps` writes for `RecordsBody(records, keyspace)(index)`.
pub fn records_body(index: u64, records: u64, keyspace: u64, out: &mut Vec<u8>) {
    let first = index.wrapping_mul(records);
    let mut text = String::with_capacity(24 + 48 * records as usize);
    text.push_str("{\"dataframe_records\": [");
    for k in 0..records {
        if k > 0 {
            text.push_str(", ");
        }
        let n = first.wrapping_add(k);
        let _ = write!(text, "{{\"entity_id\": \"user-{}\", \"amount\": {}.0}}", n % keyspace, n % 97);
    }
    text.push_str("]}");
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_without_body_has_no_length() {
        let mut requests = Requests::new(b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec(), "application/json", false, Bodies::Fixed(Vec::new()));
        let mut out = Vec::new();
        assert_eq!(requests.write(7, &mut out), 0);
        assert_eq!(out, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn records_match_python_json_dumps() {
        let mut out = Vec::new();
        records_body(3, 2, 1000, &mut out);
        let want = "{\"dataframe_records\": [{\"entity_id\": \"user-6\", \"amount\": 6.0}, {\"entity_id\": \"user-7\", \"amount\": 7.0}]}";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn samples_cycle_and_carry_their_length() {
        let bodies = Bodies::Samples(vec![b"{\"a\": 1}".to_vec(), b"{}".to_vec()]);
        let mut requests = Requests::new(b"POST /p HTTP/1.1\r\nHost: h\r\n".to_vec(), "application/json", true, bodies);
        let mut out = Vec::new();
        assert_eq!(requests.write(3, &mut out), 2);
        assert_eq!(out, b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    }
}
