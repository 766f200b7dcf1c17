//! Server-sent events: splits a byte stream into `(event, data)` pairs, whatever the chunk
//! boundaries (a chunk may end mid-line, mid-UTF-8 character or between `\r` and `\n`).

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when there is one.
    pub(crate) event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// Reads events out of the chunks of a body as they arrive.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

/// Most bytes of one line held while waiting for its end (a provider sending a line longer
/// than this is broken, and the stream fails rather than growing without bound).
const MAX_LINE: usize = 8 * 1024 * 1024;

impl SseParser {
    /// Feeds a chunk; returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            self.line(&line, &mut events);
        }
        if self.buffer.len() > MAX_LINE {
            return Err(format!("an event-stream line exceeds {MAX_LINE} bytes"));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                events.push(SseEvent {
                    event: self.event.take(),
                    data: self.data.join("\n"),
                });
                self.data.clear();
            }
            self.event = None;
            return;
        }
        if line.starts_with(':') {
            return; // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_any_chunking() {
        let body =
            "event: a\r\ndata: {\"x\":1}\r\n\r\n: ping\n\ndata: one\ndata: two\n\ndata: [DONE]\n\n";
        let whole = SseParser::default().feed(body.as_bytes()).expect("parses");
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: Some("a".into()),
                    data: "{\"x\":1}".into()
                },
                SseEvent {
                    event: None,
                    data: "one\ntwo".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
        for size in 1..body.len() {
            let mut parser = SseParser::default();
            let mut events = Vec::new();
            for piece in body.as_bytes().chunks(size) {
                events.extend(parser.feed(piece).expect("parses"));
            }
            assert_eq!(events, whole, "chunks of {size}");
        }
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut parser = SseParser::default();
        let events = parser
            .feed(b"data: {\"a\":1}\n\ndata: {\"b\"")
            .expect("parses");
        assert_eq!(events.len(), 1);
        assert!(parser.feed(b"}\n").expect("parses").is_empty());
        let events = parser.feed(b"\n").expect("parses");
        assert_eq!(events[0].data, "{\"b\"}");
    }
}
