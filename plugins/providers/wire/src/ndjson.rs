//! Newline-delimited JSON: splits a byte stream into complete lines.

#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Feeds bytes; returns the complete, non-blank lines they finish (without `\r\n`/`\n`).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.buf.extend_from_slice(&rest[..pos]);
            rest = &rest[pos + 1..];
            self.take_line(&mut out);
        }
        self.buf.extend_from_slice(rest);
        out
    }

    /// The body ended: a last line without its newline.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.take_line(&mut out);
        out
    }

    fn take_line(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.buf);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if !text.is_empty() {
            out.push(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let input = b"{\"a\":1}\r\n\n{\"b\":\"\xc3\xa9\"}\n{\"c\":3}";
        for piece in 1..input.len() {
            let mut s = LineSplitter::new();
            let mut out = Vec::new();
            for chunk in input.chunks(piece) {
                out.extend(s.push(chunk));
            }
            out.extend(s.finish());
            assert_eq!(
                out,
                ["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}"],
                "piece {piece}"
            );
        }
    }
}
