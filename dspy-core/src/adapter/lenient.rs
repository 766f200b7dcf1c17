//! Lenient JSON: what LMs write when asked for JSON.
//!
//! Accepts strict JSON and, failing that, the usual near-misses: Python literals (`'a'`,
//! `True`, `None`), trailing commas, unquoted keys, a missing closing bracket at the end,
//! a surrounding ``` fence, and chatter before or after the value. Never panics; depth is
//! bounded.

use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 128;

/// The JSON value in `text`, if one can be read.
pub(crate) fn parse_value(text: &str) -> Option<Value> {
    let t = unfence(text.trim());
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    let mut p = Parser {
        s: t.as_bytes(),
        text: t,
        i: 0,
    };
    if let Some(v) = p.value(0) {
        p.ws();
        if p.i == p.s.len() {
            return Some(v);
        }
    }
    // Chatter around a container: read from the first bracket.
    let start = t.find(['{', '['])?;
    let mut p = Parser {
        s: t.as_bytes(),
        text: t,
        i: start,
    };
    p.value(0)
}

/// The first JSON object in `text` (DSPy's JSONAdapter extraction).
pub(crate) fn extract_object(text: &str) -> Option<Map<String, Value>> {
    if let Some(Value::Object(map)) = parse_value(text) {
        return Some(map);
    }
    let t = unfence(text.trim());
    for (start, _) in t.match_indices('{') {
        let mut p = Parser {
            s: t.as_bytes(),
            text: t,
            i: start,
        };
        if let Some(Value::Object(map)) = p.value(0) {
            return Some(map);
        }
    }
    None
}

/// The body of a ```lang fenced block, when the text is one or holds one.
fn unfence(t: &str) -> &str {
    let Some(open) = t.find("```") else { return t };
    let after = &t[open + 3..];
    let body_start = after.find('\n').map_or(after.len(), |n| n + 1);
    let body = &after[body_start..];
    match body.find("```") {
        Some(close) => body[..close].trim(),
        None => body.trim(),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' | b'\'' => self.string().map(Value::String),
            b'-' | b'+' | b'0'..=b'9' | b'.' => self.number(),
            _ => {
                let word = self.word();
                match word {
                    "true" | "True" => Some(Value::Bool(true)),
                    "false" | "False" => Some(Value::Bool(false)),
                    "null" | "None" | "none" => Some(Value::Null),
                    _ => None,
                }
            }
        }
    }

    fn word(&mut self) -> &str {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        &self.text[start..self.i]
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        self.i += 1; // '{'
        let mut map = Map::new();
        loop {
            self.ws();
            match self.peek() {
                None => return Some(Value::Object(map)), // unclosed at the end: close it
                Some(b'}') => {
                    self.i += 1;
                    return Some(Value::Object(map));
                }
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                Some(b'"' | b'\'') => {
                    let key = self.string()?;
                    self.entry(key, &mut map, depth)?;
                }
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                    let key = self.word().to_string();
                    self.entry(key, &mut map, depth)?;
                }
                Some(_) => return None,
            }
        }
    }

    fn entry(&mut self, key: String, map: &mut Map<String, Value>, depth: usize) -> Option<()> {
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        let value = self.value(depth + 1)?;
        map.insert(key, value);
        Some(())
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        self.i += 1; // '['
        let mut items = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                None => return Some(Value::Array(items)),
                Some(b']') => {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                Some(b',') => {
                    self.i += 1;
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    /// A single- or double-quoted string with JSON escapes; unterminated runs to the end.
    fn string(&mut self) -> Option<String> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.text[self.i..].char_indices();
        while let Some((offset, c)) = chars.next() {
            if c == quote as char {
                self.i += offset + 1;
                return Some(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 'b')) => out.push('\u{08}'),
                Some((_, 'f')) => out.push('\u{0c}'),
                Some((_, 'u')) => {
                    let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                }
                Some((_, other)) => out.push(other),
                None => break,
            }
        }
        self.i = self.s.len();
        Some(out)
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9' | b'_'
            )
        {
            self.i += 1;
        }
        let raw: String = self.text[start..self.i]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let raw = raw.trim_start_matches('+');
        if let Ok(i) = raw.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = raw.parse::<u64>() {
            return Some(Value::from(u));
        }
        raw.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_near_json() {
        assert_eq!(
            parse_value("{'a': True, 'b': None,}"),
            Some(json!({"a": true, "b": null}))
        );
        assert_eq!(
            parse_value("{answer: 'x', n: [1, 2,]}"),
            Some(json!({"answer": "x", "n": [1, 2]}))
        );
        assert_eq!(parse_value("[1, 2"), Some(json!([1, 2])));
        assert_eq!(
            parse_value("```json\n{\"a\": 1}\n```"),
            Some(json!({"a": 1}))
        );
        assert_eq!(parse_value("The answer: [\"x\"] ok"), Some(json!(["x"])));
        assert_eq!(parse_value("'it\\'s'"), Some(json!("it's")));
        assert_eq!(parse_value("no value here"), None);
    }

    #[test]
    fn extracts_the_first_object() {
        let text = "Sure {not json} then {\"a\": {\"b\": 2}} and {\"c\": 3}";
        assert_eq!(
            extract_object(text),
            Some(json!({"a": {"b": 2}}).as_object().cloned().expect("object"))
        );
        assert_eq!(extract_object("[1, 2]"), None);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_value(&deep), None);
    }
}
