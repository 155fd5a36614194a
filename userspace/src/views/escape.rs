//! Nothing from a recording reaches the terminal raw.
//!
//! A recording is input like any other: its hostname, kernel release,
//! task names and paths can hold escape sequences that would retitle or
//! clear the reader's terminal. Text views write through [`EscapeWriter`]
//! (or escape single strings with [`escape`]): C0 controls other than
//! newline and tab, DEL and the C1 controls (U+0080–U+009F, which some
//! terminals also obey) come out as `\x1b`-style escapes. JSON written to
//! a terminal keeps being JSON: its controls are already `\u001b`, and C1
//! characters, which serde leaves raw, become `\u009b`.

use std::borrow::Cow;
use std::io::{self, Write};

/// How escaped characters are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `\x1b` (C0, DEL) and `\u{9b}` (C1): for text meant to be read.
    Text,
    /// `\u001b`: valid inside a JSON string (where a raw one can only be).
    Json,
}

fn is_escaped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

fn push_escaped(out: &mut String, c: char, style: Style) {
    use std::fmt::Write as _;
    let code = u32::from(c);
    let _ = match (style, code) {
        (Style::Json, _) => write!(out, "\\u{code:04x}"),
        (Style::Text, 0..=0x7f) => write!(out, "\\x{code:02x}"),
        (Style::Text, _) => write!(out, "\\u{{{code:x}}}"),
    };
}

/// `text` with its control characters (all but `\n` and `\t`) escaped
/// in the text style; borrowed when there are none.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_as(text, Style::Text)
}

/// [`escape`] that also escapes newlines and tabs: for one-line fields
/// (a hostname, a task name) in a table or a TUI cell.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\u{7f}') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || c == '\u{7f}' {
            push_escaped(&mut out, c, Style::Text);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_as(text: &str, style: Style) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_escaped(c) {
            push_escaped(&mut out, c, style);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that escapes control characters on their way to `inner`.
///
/// It works on bytes, so a character split across two writes is still
/// seen whole: the first byte of a two-byte UTF-8 sequence (0xC2, which
/// starts every C1 character) is held until the next write.
pub struct EscapeWriter<W: Write> {
    inner: W,
    style: Style,
    /// A 0xC2 byte whose continuation has not been written yet.
    pending_c2: bool,
    buf: Vec<u8>,
}

impl<W: Write> EscapeWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, style: Style) -> Self {
        EscapeWriter {
            inner,
            style,
            pending_c2: false,
            buf: Vec::new(),
        }
    }

    fn escaped(&mut self, code: u32) {
        let mut s = String::new();
        push_escaped(&mut s, char::from_u32(code).unwrap_or('\u{fffd}'), self.style);
        self.buf.extend_from_slice(s.as_bytes());
    }
}

impl<W: Write> Write for EscapeWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        for &b in data {
            if self.pending_c2 {
                self.pending_c2 = false;
                if (0x80..=0x9f).contains(&b) {
                    self.escaped(u32::from(b));
                    continue;
                }
                self.buf.push(0xc2);
            }
            match b {
                b'\n' | b'\t' => self.buf.push(b),
                0..=0x1f | 0x7f => self.escaped(u32::from(b)),
                0xc2 => self.pending_c2 = true,
                _ => self.buf.push(b),
            }
        }
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A lone 0xC2 at a flush is held on: the rest of its character
        // comes with the next write (UTF-8 text never ends on it).
        self.inner.flush()
    }
}

impl<W: Write> Drop for EscapeWriter<W> {
    fn drop(&mut self) {
        if self.pending_c2 {
            let _ = self.inner.write_all(&[0xc2]);
        }
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(style: Style, parts: &[&[u8]]) -> String {
        let mut out = Vec::new();
        {
            let mut w = EscapeWriter::new(&mut out, style);
            for p in parts {
                w.write_all(p).unwrap();
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_keeps_newlines_and_tabs_and_escapes_the_rest() {
        let hostile = "host\x1b]0;pwned\x07\x1b[2J\r\x7f\u{9b}31m é\tz\n";
        let got = through(Style::Text, &[hostile.as_bytes()]);
        assert_eq!(got, "host\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x7f\\u{9b}31m é\tz\n");
        assert_eq!(escape(hostile), got);
        assert!(matches!(escape("plain é text\n"), Cow::Borrowed(_)));
        assert_eq!(escape_line("a\nb\tc\x1b"), "a\\x0ab\\x09c\\x1b");
    }

    #[test]
    fn a_c1_character_split_across_writes_is_still_escaped() {
        let got = through(Style::Text, &[b"a\xc2", b"\x9bb \xc2", b"\xa9"]);
        assert_eq!(got, "a\\u{9b}b ©");
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"hostname": "h\u{1b}[2J\u{9b}x"});
        let raw = serde_json::to_string(&v).unwrap();
        let got = through(Style::Json, &[raw.as_bytes()]);
        assert!(!got.contains('\u{9b}') && !got.contains('\u{1b}'));
        let back: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back, v);
    }
}
