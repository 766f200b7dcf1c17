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

/// What turns a provider's events into chunks: one per protocol (OpenAI, Anthropic).
pub(crate) trait Decoder: Send + 'static {
    /// The event that ends a whole stream, named in the error when the body ends first.
    const END: &'static str;

    /// Handles one event: pushes the chunks it carries onto `out`, and says whether it
    /// ended the stream.
    fn event(
        &mut self,
        event: &SseEvent,
        endpoint: &super::http::Endpoint,
        out: &mut std::collections::VecDeque<super::StreamChunk>,
    ) -> Result<bool, super::LmError>;
}

/// The chunks of a streamed response, read under the endpoint's idle timeout and decoded
/// by `decoder`. A body that ends before the decoder's end event, an unreadable event or
/// a failed read ends the stream with an error.
pub(crate) fn chat_stream<D: Decoder>(
    endpoint: super::http::Endpoint,
    response: reqwest::Response,
    decoder: D,
) -> super::ChatStream {
    let state = Reader {
        endpoint,
        response,
        parser: SseParser::default(),
        pending: std::collections::VecDeque::new(),
        decoder,
        done: false,
    };
    super::ChatStream::new(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    }))
}

struct Reader<D> {
    endpoint: super::http::Endpoint,
    response: reqwest::Response,
    parser: SseParser,
    pending: std::collections::VecDeque<super::StreamChunk>,
    decoder: D,
    done: bool,
}

impl<D: Decoder> Reader<D> {
    /// The next chunk, an error (after which the stream ends), or `None` at the end.
    async fn next(&mut self) -> Option<Result<super::StreamChunk, super::LmError>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(Ok(chunk));
            }
            if self.done {
                return None;
            }
            self.done = true; // until this round proves otherwise
            let bytes = match self.endpoint.next_chunk(&mut self.response).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    return Some(Err(super::LmError::Transport {
                        endpoint: self.endpoint.base_url.clone(),
                        message: format!("the event stream ended before `{}`", D::END),
                    }));
                }
                Err(e) => return Some(Err(e)),
            };
            let events = match self.parser.feed(&bytes) {
                Ok(events) => events,
                Err(message) => return Some(Err(self.endpoint.malformed(message, ""))),
            };
            self.done = false;
            for event in &events {
                match self.decoder.event(event, &self.endpoint, &mut self.pending) {
                    Ok(false) => {}
                    Ok(true) => {
                        self.done = true;
                        break;
                    }
                    Err(error) => {
                        self.done = true;
                        self.pending.clear();
                        return Some(Err(error));
                    }
                }
            }
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
