//! Text from outside: the human reason and the machine error code a stop carries, and the bounded excerpts of
//! untrusted input that messages and audit records quote.
//!
//! The reason and error code are parsed once at ingress into newtypes that already respect the target APIs'
//! limits, so nothing later needs to re-check them. Pure: no SDK, no serde.

use std::fmt;

use super::glob::Glob;

/// Step Functions `StopExecution.cause` is at most 32 768 characters. The gateway appends who asked and the audit
/// id to the reason (at most [`CAUSE_ENVELOPE_RESERVE`] bytes), so the reason itself gets the rest.
pub const SFN_CAUSE_MAX: usize = 32_768;
/// Room kept in the cause for the caller and audit id appended after the reason.
pub const CAUSE_ENVELOPE_RESERVE: usize = 4_096;
/// Longest reason accepted, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = SFN_CAUSE_MAX - CAUSE_ENVELOPE_RESERVE;
/// Step Functions `StopExecution.error` is at most 256 characters.
pub const MAX_ERROR_CODE_LEN: usize = 256;
/// Appended to a reason that was shortened to fit.
pub const TRUNCATION_MARKER: &str = " …[truncated by stop-gateway]";

/// What to do with a reason longer than [`MAX_REASON_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse it: API callers can shorten and resend.
    Reject,
    /// Cut it on a UTF-8 boundary and append [`TRUNCATION_MARKER`]: an alarm cannot resend, and a kill-switch
    /// must not fail over the length of its text.
    Truncate,
}

/// A non-empty, trimmed reason free of control and invisible formatting characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    text: String,
    truncated: bool,
}

/// Why a reason was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Nothing but whitespace.
    #[error("reason is empty")]
    Empty,
    /// Longer than the target APIs allow.
    #[error("reason is {len} bytes long; the limit is {MAX_REASON_BYTES} bytes")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// A control character (other than newline or tab) or an invisible formatting character.
    #[error(
        "reason contains the disallowed character U+{code:04X} at byte {position} (control, zero-width and bidirectional-override characters are not allowed)"
    )]
    Character {
        /// The code point.
        code: u32,
        /// Byte offset in the trimmed reason.
        position: usize,
    },
}

/// Characters that change how text is displayed without being visible: zero-width characters and bidirectional
/// overrides could make an audit record read differently from what was sent ("Trojan Source").
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

impl Reason {
    /// Parses a reason; see [`Overflow`] for what happens to over-long text.
    pub fn parse(raw: &str, overflow: Overflow) -> Result<Reason, ReasonError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ReasonError::Empty);
        }
        if let Some((position, c)) =
            text.char_indices().find(|&(_, c)| (c.is_control() && c != '\n' && c != '\t') || is_invisible_format(c))
        {
            return Err(ReasonError::Character { code: u32::from(c), position });
        }
        if text.len() <= MAX_REASON_BYTES {
            return Ok(Reason { text: text.to_owned(), truncated: false });
        }
        match overflow {
            Overflow::Reject => Err(ReasonError::TooLong { len: text.len() }),
            Overflow::Truncate => {
                let mut cut = MAX_REASON_BYTES - TRUNCATION_MARKER.len();
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Ok(Reason { text: format!("{}{TRUNCATION_MARKER}", &text[..cut]), truncated: true })
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Length in characters, which is what policy limits count.
    pub fn char_len(&self) -> usize {
        self.text.chars().count()
    }

    /// Whether the text was shortened to fit.
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A machine-readable error code sent as Step Functions `error` or durable `ErrorType`: 1–256 characters from
/// `A-Z a-z 0-9 . _ - :`, so it is safe in logs, metrics and alarms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorCode(String);

/// Why an error code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error code {value} is invalid: use 1-{MAX_ERROR_CODE_LEN} characters from A-Z a-z 0-9 . _ - :")]
pub struct ErrorCodeError {
    /// Escaped excerpt of the value.
    pub value: String,
}

impl ErrorCode {
    /// Parses an error code.
    pub fn parse(raw: &str) -> Result<ErrorCode, ErrorCodeError> {
        if Self::fits(raw, b"") { Ok(ErrorCode(raw.to_owned())) } else { Err(ErrorCodeError { value: excerpt(raw) }) }
    }

    /// Parses a glob over error codes, for policy rules: the code alphabet plus `*`.
    pub fn glob(raw: &str) -> Result<Glob, ErrorCodeError> {
        let invalid = || ErrorCodeError { value: excerpt(raw) };
        if !Self::fits(raw, b"*") {
            return Err(invalid());
        }
        Glob::new(raw).map_err(|_| invalid())
    }

    /// Whether `raw` is 1 to [`MAX_ERROR_CODE_LEN`] characters of the code alphabet, plus `extra`.
    fn fits(raw: &str, extra: &[u8]) -> bool {
        (1..=MAX_ERROR_CODE_LEN).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b) || extra.contains(&b))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short, escaped excerpt of untrusted input for error messages and logs.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// Longest untrusted string copied into an audit record; longer input is cut with a marker.
pub const MAX_AUDIT_FIELD_BYTES: usize = 32_768;

/// Copies untrusted text into a record, bounded to [`MAX_AUDIT_FIELD_BYTES`] on a UTF-8 boundary.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_AUDIT_FIELD_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_AUDIT_FIELD_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[{} bytes not recorded]", &text[..cut], text.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_untrusted_text_on_a_char_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_AUDIT_FIELD_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() < MAX_AUDIT_FIELD_BYTES + 64);
        assert!(cut.ends_with("bytes not recorded]"));
    }

    #[test]
    fn trims_and_keeps_newlines_and_tabs() {
        let r = Reason::parse("  OPS-12 runaway loop\n\tsee dashboard  ", Overflow::Reject).unwrap();
        assert_eq!(r.as_str(), "OPS-12 runaway loop\n\tsee dashboard");
        assert!(!r.was_truncated());
    }

    #[test]
    fn accepts_non_ascii_prose() {
        let r = Reason::parse("Störung: Überlast – OPS-7", Overflow::Reject).unwrap();
        assert_eq!(r.char_len(), 25);
    }

    #[test]
    fn rejects_empty_control_and_invisible_characters() {
        for (raw, case) in [
            ("", "empty"),
            ("   \n\t ", "whitespace only"),
            ("stop\u{0}now", "NUL"),
            ("stop\u{1b}[31mnow", "ANSI escape"),
            ("stop\rnow", "carriage return"),
            ("stop\u{202e}won", "bidi override"),
            ("stop\u{200b}now", "zero-width space"),
            ("\u{feff}stop", "byte order mark"),
            ("stop\u{85}now", "C1 next line"),
        ] {
            assert!(Reason::parse(raw, Overflow::Truncate).is_err(), "accepted {case}");
        }
    }

    #[test]
    fn rejects_over_long_reason_for_api_callers() {
        let raw = "x".repeat(MAX_REASON_BYTES + 1);
        assert_eq!(Reason::parse(&raw, Overflow::Reject), Err(ReasonError::TooLong { len: MAX_REASON_BYTES + 1 }));
        assert!(Reason::parse(&"x".repeat(MAX_REASON_BYTES), Overflow::Reject).is_ok());
    }

    #[test]
    fn truncates_over_long_reason_on_a_char_boundary() {
        // 3-byte characters straddle every possible cut point.
        let raw = "€".repeat(MAX_REASON_BYTES);
        let r = Reason::parse(&raw, Overflow::Truncate).unwrap();
        assert!(r.was_truncated());
        assert!(r.as_str().len() <= MAX_REASON_BYTES);
        assert!(r.as_str().ends_with(TRUNCATION_MARKER));
        assert!(r.as_str().trim_end_matches(TRUNCATION_MARKER).chars().all(|c| c == '€'));
    }

    #[test]
    fn error_codes_are_bounded_and_plain() {
        assert!(ErrorCode::parse("StopGateway.Manual").is_ok());
        assert!(ErrorCode::parse("Ops:kill_switch-1").is_ok());
        assert!(ErrorCode::parse(&"E".repeat(256)).is_ok());
        for bad in ["", "has space", "tab\t", "ünïcode", "semi;colon", &"E".repeat(257)] {
            assert!(ErrorCode::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
