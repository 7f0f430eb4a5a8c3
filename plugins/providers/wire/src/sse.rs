//! An incremental parser for server-sent events (the WHATWG `text/event-stream` format).
//!
//! Bytes go in as they arrive, in chunks split anywhere (inside a line, between `\r` and `\n`,
//! inside a UTF-8 sequence); complete events come out. Lines end in `\n`, `\r\n` or `\r`;
//! `data:` lines of one event are joined with `\n`; comment lines (`:` first) are skipped; a
//! blank line dispatches the event. `[DONE]` is an ordinary data payload here: the protocols that
//! use it check for it (see [`SseEvent::is_done`]).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the server sent one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// OpenAI-style end-of-stream marker.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` first in the next one belongs to it.
    after_cr: bool,
    /// Whether the first line has been seen (a byte-order mark may precede it).
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(pos) => {
                    self.line.extend_from_slice(&bytes[..pos]);
                    if bytes[pos] == b'\r' {
                        self.after_cr = true;
                    }
                    self.end_line(&mut out);
                    bytes = &bytes[pos + 1..];
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
        out
    }

    /// The body ended: completes a last line and a last event that lacked their terminators
    /// (lenient: some servers do not end the final event with a blank line).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let mut line: &[u8] = &raw;
        if !self.started {
            self.started = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            // `id` and `retry` matter for reconnecting, which a completion never does.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event: event.filter(|e| !e.is_empty()),
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(parser.push(chunk));
        }
        out.extend(parser.finish());
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn events_split_at_every_byte_boundary_parse_the_same() {
        let input = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\r\n\r\ndata: héllo\r\ndata: wörld\r\n\r\ndata: [DONE]\r\n\r\n";
        let want = vec![
            ev(Some("message_start"), "{\"a\":1}"),
            ev(None, "héllo\nwörld"),
            ev(None, "[DONE]"),
        ];
        for piece in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input.as_bytes(), piece),
                want,
                "piece {piece}"
            );
        }
        assert!(want[2].is_done());
    }

    #[test]
    fn lf_cr_and_crlf_line_endings() {
        let input = b"data: a\n\ndata: b\r\rdata:c\r\n\r\n";
        assert_eq!(
            parse_in_pieces(input, 64),
            vec![ev(None, "a"), ev(None, "b"), ev(None, "c")]
        );
    }

    #[test]
    fn comments_bom_unknown_fields_and_empty_events() {
        let input = "\u{feff}: comment\nid: 7\nretry: 100\n\nevent: ping\n\nfoo: bar\ndata\ndata:  two spaces\n\n";
        // `event: ping` without data dispatches nothing; `data` alone is an empty line of data.
        assert_eq!(
            parse_in_pieces(input.as_bytes(), 3),
            vec![ev(None, "\n two spaces")]
        );
    }

    #[test]
    fn an_unterminated_last_event_is_delivered_at_the_end() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: {\"x\":").is_empty());
        assert!(parser.push(b"2}").is_empty());
        assert_eq!(parser.finish(), vec![ev(None, "{\"x\":2}")]);
        assert!(parser.finish().is_empty());
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let out = parse_in_pieces(b"data: \xff\xfe\n\n", 1);
        assert_eq!(out.len(), 1);
        assert!(out[0].data.contains('\u{fffd}'));
    }
}
