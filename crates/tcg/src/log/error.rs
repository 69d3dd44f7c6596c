//! Why a log could not be parsed.

/// A log that is not a valid TCG event log, with the place it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The log has no bytes at all.
    #[error("the event log is empty")]
    Empty,
    /// The log ended inside an event.
    #[error(
        "event {event} (at byte {event_offset}) is truncated: {field} at byte {offset} needs {needed} bytes, only {available} remain"
    )]
    Truncated {
        /// Event index (header = 0).
        event: usize,
        /// Byte offset where the event starts.
        event_offset: usize,
        /// Byte offset of the field.
        offset: usize,
        /// The field being read.
        field: String,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left in the log.
        available: usize,
    },
    /// A field holds a value no valid log has.
    #[error("event {event} (at byte {event_offset}): at byte {offset}: {what}")]
    Malformed {
        /// Event index (header = 0).
        event: usize,
        /// Byte offset where the event starts.
        event_offset: usize,
        /// Byte offset of the bad field.
        offset: usize,
        /// What is wrong and what was expected.
        what: String,
    },
    /// The bytes are something else than an event log (the message says what).
    #[error("not a TCG event log: {0}")]
    NotAnEventLog(String),
    /// The log file could not be read.
    #[error("cannot read event log {path}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ParseError {
    /// Move a field offset computed inside a sub-buffer to a log offset.
    pub(crate) fn shifted(mut self, by: usize) -> Self {
        match &mut self {
            ParseError::Truncated { offset, .. } | ParseError::Malformed { offset, .. } => {
                *offset += by
            }
            _ => {}
        }
        self
    }

    /// The byte offset the error points at, if it has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ParseError::Truncated { offset, .. } | ParseError::Malformed { offset, .. } => {
                Some(*offset)
            }
            _ => None,
        }
    }
}
