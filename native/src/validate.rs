//! What counts as a good answer: the Python `AcceptAny` and `PredictionsPerRecord`.

use serde_json::Value;

pub enum Validator {
    AcceptAny,
    /// A 2xx must be a JSON object with one `predictions` entry per record.
    PredictionsPerRecord(usize),
}

impl Validator {
    pub fn needs_body(&self) -> bool {
        !matches!(self, Validator::AcceptAny)
    }

    /// Whether a 2xx answer with `body` is still wrong.
    pub fn invalid(&self, status: u16, body: &[u8]) -> bool {
        match self {
            Validator::AcceptAny => false,
            Validator::PredictionsPerRecord(records) => {
                if !(200..300).contains(&status) {
                    return false;
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(document)) => !matches!(
                        document.get("predictions"),
                        Some(Value::Array(predictions)) if predictions.len() == *records
                    ),
                    _ => true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_per_record() {
        let check = Validator::PredictionsPerRecord(2);
        assert!(!check.invalid(200, br#"{"predictions": [1, 2]}"#));
        assert!(check.invalid(200, br#"{"predictions": [1]}"#));
        assert!(check.invalid(200, br#"[1, 2]"#));
        assert!(check.invalid(200, b"not json"));
        assert!(!check.invalid(503, b"not json"));
    }
}
