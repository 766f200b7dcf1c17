//! Streaming a predictor's answer: typed field events as the text arrives, then the typed
//! output ([`Predict::stream`](crate::Predict::stream)).

/// What a streaming predictor yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent<O> {
    /// More text of an output field, as generated (raw text, before parsing).
    Field {
        /// The output field's name.
        field: String,
        /// The new text.
        text: String,
    },
    /// The whole answer, parsed: the last event.
    Done(O),
}

const OPEN: &str = "[[ ## ";
const CLOSE: &str = " ## ]]";

/// Splits ChatAdapter text (`[[ ## field ## ]]` sections) into per-field pieces as it
/// arrives, whatever the chunk boundaries: a marker cut across chunks is held back until
/// it is whole, and a field's surrounding whitespace is not passed on.
#[derive(Debug, Default)]
pub(crate) struct FieldSplitter {
    outputs: Vec<String>,
    buffer: String,
    current: Option<String>,
    started: bool,
}

impl FieldSplitter {
    /// A splitter that reports the sections of these output fields.
    pub(crate) fn new(outputs: Vec<String>) -> Self {
        FieldSplitter {
            outputs,
            ..FieldSplitter::default()
        }
    }

    /// Feeds text; returns `(field, text)` pieces now known.
    pub(crate) fn feed(&mut self, text: &str) -> Vec<(String, String)> {
        self.buffer.push_str(text);
        let mut pieces = Vec::new();
        loop {
            match self.buffer.find(OPEN) {
                Some(open) => {
                    let before = self.buffer[..open].to_string();
                    self.emit(&before, true, &mut pieces);
                    let Some(close) = self.buffer[open..].find(CLOSE).map(|c| open + c) else {
                        self.buffer.drain(..open);
                        return pieces;
                    };
                    let name = self.buffer[open + OPEN.len()..close].trim().to_string();
                    self.buffer.drain(..close + CLOSE.len());
                    self.current = self.outputs.contains(&name).then_some(name);
                    self.started = false;
                }
                None => {
                    // Hold back what may be the start of a marker, and trailing whitespace
                    // (it belongs to the field only if more text follows).
                    let keep_from = partial_marker_start(&self.buffer);
                    let text = self.buffer[..keep_from].to_string();
                    let body = text.trim_end();
                    let body_len = body.len();
                    let body = body.to_string();
                    self.emit(&body, false, &mut pieces);
                    self.buffer.drain(..body_len);
                    return pieces;
                }
            }
        }
    }

    fn emit(&mut self, text: &str, section_end: bool, pieces: &mut Vec<(String, String)>) {
        let Some(field) = &self.current else {
            return;
        };
        let mut text = if self.started {
            text
        } else {
            text.trim_start()
        };
        if section_end {
            text = text.trim_end();
        }
        if !text.is_empty() {
            self.started = true;
            pieces.push((field.clone(), text.to_string()));
        }
    }

    /// The text still held at the end of the stream, for the current field.
    pub(crate) fn finish(&mut self) -> Vec<(String, String)> {
        let rest = std::mem::take(&mut self.buffer);
        let mut pieces = Vec::new();
        self.emit(&rest, true, &mut pieces);
        pieces
    }
}

/// Where a suffix of `text` that could begin a marker starts (`text.len()` if none).
fn partial_marker_start(text: &str) -> usize {
    (1..OPEN.len())
        .rev()
        .filter(|&n| n <= text.len())
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && OPEN.starts_with(&text[text.len() - n..])
        })
        .map_or(text.len(), |n| text.len() - n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pieces: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (field, text) in pieces {
            match out.last_mut() {
                Some((f, t)) if f == field => t.push_str(text),
                _ => out.push((field.clone(), text.clone())),
            }
        }
        out
    }

    #[test]
    fn fields_come_out_whole_whatever_the_chunking() {
        let text = "[[ ## reasoning ## ]]\nTwo plus two.\n\nIt is four.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]\n";
        let expected = vec![
            (
                "reasoning".to_string(),
                "Two plus two.\n\nIt is four.".to_string(),
            ),
            ("answer".to_string(), "4".to_string()),
        ];
        for size in 1..text.len() {
            let mut splitter = FieldSplitter::new(vec!["reasoning".into(), "answer".into()]);
            let mut pieces = Vec::new();
            let chars: Vec<char> = text.chars().collect();
            for chunk in chars.chunks(size) {
                pieces.extend(splitter.feed(&chunk.iter().collect::<String>()));
            }
            pieces.extend(splitter.finish());
            assert_eq!(joined(&pieces), expected, "chunks of {size}");
        }
    }

    #[test]
    fn text_outside_output_sections_is_not_reported() {
        let mut splitter = FieldSplitter::new(vec!["answer".into()]);
        let mut pieces =
            splitter.feed("Sure! [[ ## notes ## ]] x [[ ## answer ## ]] [[ not a marker");
        pieces.extend(splitter.finish());
        assert_eq!(
            joined(&pieces),
            vec![("answer".to_string(), "[[ not a marker".to_string())]
        );
    }
}
