//! Splits ovs-ofctl text into `key[=|:value]` and `key(value)` tokens,
//! the way ovs-ofctl does: tokens are separated by commas or white space,
//! a value runs to the next separator outside parentheses, and `key(...)`
//! takes everything up to the matching `)`.
//!
//! Positions are byte offsets into the whole text being parsed, so an
//! error anywhere can be reported with its line and column.

/// One token. `value` is empty when `sep` is `None`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token<'a> {
    pub key: &'a str,
    pub key_pos: usize,
    /// `=`, `:` or `(`.
    pub sep: Option<u8>,
    pub value: &'a str,
    pub value_pos: usize,
}

/// A lexing error: byte offset and message.
pub(crate) type LexError = (usize, String);

pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
    /// Keys whose `=`/`:` value is the whole rest of the text (`actions`).
    rest_keys: &'static [&'static str],
}

fn is_sep(b: u8) -> bool {
    matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Lexer<'a> {
    /// Lex `text[start..end]`.
    pub fn new(text: &'a str, start: usize, end: usize) -> Self {
        Lexer {
            text,
            pos: start.min(text.len()),
            end: end.min(text.len()),
            rest_keys: &[],
        }
    }

    /// Make `keys` take the rest of the text as their value.
    pub fn with_rest_keys(mut self, keys: &'static [&'static str]) -> Self {
        self.rest_keys = keys;
        self
    }

    /// Skip separators; `true` if nothing but separators is left.
    pub fn at_end(&mut self) -> bool {
        let b = self.text.as_bytes();
        while self.pos < self.end && is_sep(b[self.pos]) {
            self.pos += 1;
        }
        self.pos >= self.end
    }

    pub fn next_token(&mut self) -> Option<Result<Token<'a>, LexError>> {
        if self.at_end() {
            return None;
        }
        let b = self.text.as_bytes();
        let key_pos = self.pos;
        let mut i = self.pos;
        while i < self.end && !is_sep(b[i]) && !matches!(b[i], b'=' | b':' | b'(' | b')') {
            i += 1;
        }
        let key = &self.text[key_pos..i];
        if key.is_empty() {
            self.pos = self.end;
            return Some(Err((
                key_pos,
                format!(
                    "expected a keyword, found \"{}\"",
                    char_at(self.text, key_pos)
                ),
            )));
        }
        if i >= self.end || is_sep(b[i]) {
            self.pos = i;
            return Some(Ok(Token {
                key,
                key_pos,
                sep: None,
                value: "",
                value_pos: i,
            }));
        }
        let sep = b[i];
        if sep == b')' {
            self.pos = self.end;
            return Some(Err((i, format!("unbalanced \")\" after \"{key}\""))));
        }
        let value_pos = i + 1;
        if sep != b'(' && !self.rest_keys.is_empty() && self.rest_keys.contains(&key) {
            self.pos = self.end;
            return Some(Ok(Token {
                key,
                key_pos,
                sep: Some(sep),
                value: &self.text[value_pos..self.end],
                value_pos,
            }));
        }
        let mut j = value_pos;
        let mut depth = 0usize;
        if sep == b'(' {
            depth = 1;
            while j < self.end {
                match b[j] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if depth != 0 {
                self.pos = self.end;
                return Some(Err((i, format!("missing \")\" for \"{key}(\""))));
            }
            let value = &self.text[value_pos..j];
            self.pos = j + 1;
            if self.pos < self.end && !is_sep(b[self.pos]) {
                let at = self.pos;
                self.pos = self.end;
                return Some(Err((
                    at,
                    format!(
                        "expected \",\" after \"{key}(...)\", found \"{}\"",
                        char_at(self.text, at)
                    ),
                )));
            }
            return Some(Ok(Token {
                key,
                key_pos,
                sep: Some(sep),
                value,
                value_pos,
            }));
        }
        while j < self.end {
            match b[j] {
                b'(' => depth += 1,
                b')' if depth == 0 => break,
                b')' => depth -= 1,
                c if depth == 0 && is_sep(c) => break,
                _ => {}
            }
            j += 1;
        }
        if j < self.end && b[j] == b')' {
            self.pos = self.end;
            return Some(Err((
                j,
                format!("unbalanced \")\" in the value of \"{key}\""),
            )));
        }
        if depth != 0 {
            self.pos = self.end;
            return Some(Err((
                value_pos,
                format!("missing \")\" in the value of \"{key}\""),
            )));
        }
        self.pos = j;
        Some(Ok(Token {
            key,
            key_pos,
            sep: Some(sep),
            value: &self.text[value_pos..j],
            value_pos,
        }))
    }
}

/// The character at byte offset `pos` (for messages).
pub(crate) fn char_at(text: &str, pos: usize) -> String {
    text.get(pos..)
        .and_then(|s| s.chars().next())
        .map(String::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Vec<(String, Option<char>, String, usize)> {
        let mut l = Lexer::new(s, 0, s.len());
        let mut out = Vec::new();
        while let Some(t) = l.next_token() {
            let t = t.unwrap();
            out.push((
                t.key.to_string(),
                t.sep.map(char::from),
                t.value.to_string(),
                t.value_pos,
            ));
        }
        out
    }

    #[test]
    fn tokens() {
        let t =
            lex("ip, nw_src=10.0.0.0/8 write_actions(output:1,set_field:1->ip_ecn),goto_table:2");
        assert_eq!(t.len(), 4);
        assert_eq!(t[0], ("ip".into(), None, "".into(), 2));
        assert_eq!(t[1].0, "nw_src");
        assert_eq!(t[1].2, "10.0.0.0/8");
        assert_eq!(
            t[2],
            (
                "write_actions".into(),
                Some('('),
                "output:1,set_field:1->ip_ecn".into(),
                36
            )
        );
        assert_eq!(t[3].2, "2");
        let t = lex("set_field:a0::a0->nd_target");
        assert_eq!(t[0].2, "a0::a0->nd_target");
    }

    #[test]
    fn errors() {
        for bad in ["write_actions(output:1", "a=b)", "=x", "f(x)y", ")", "a=(b"] {
            let mut l = Lexer::new(bad, 0, bad.len());
            let mut failed = false;
            while let Some(t) = l.next_token() {
                failed |= t.is_err();
            }
            assert!(failed, "{bad}");
        }
    }
}
