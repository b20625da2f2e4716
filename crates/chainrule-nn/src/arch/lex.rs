//! Tokens of an architecture string, each with the character where it
//! starts (character, not byte, offsets: the caret of an error counts
//! characters).

use super::error::ArchError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// A name: `[A-Za-z_][A-Za-z0-9_]*`, as written (the parser lowercases).
    Word(String),
    /// A number as written: an optional sign, digits and at most one point,
    /// an optional exponent (`-1`, `0.5`, `1e-3`). Interpreted by the
    /// argument that receives it.
    Num(String),
    Open,
    Close,
    Comma,
    Equals,
    /// The end of the text.
    End,
}

/// A token and its 0-based character position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    pub at: usize,
}

impl Tok {
    /// The token as an error message quotes it.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Num(n) => format!("the number {n}"),
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Equals => "'='".into(),
            Tok::End => "the end of the text".into(),
        }
    }
}

/// Splits `text` into tokens, ending with [`Tok::End`] at the character
/// count; whitespace separates tokens and is otherwise ignored.
pub(super) fn tokens(text: &str) -> Result<Vec<Token>, ArchError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        let single = match c {
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Equals),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, at });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word = chars[at..i].iter().collect();
            out.push(Token {
                tok: Tok::Word(word),
                at,
            });
        } else if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') {
            i = number_end(&chars, i);
            if i == at + 1 && !c.is_ascii_digit() {
                return Err(ArchError::new(
                    text,
                    at,
                    format!("unexpected character '{c}'"),
                ));
            }
            let num = chars[at..i].iter().collect();
            out.push(Token {
                tok: Tok::Num(num),
                at,
            });
        } else {
            return Err(ArchError::new(
                text,
                at,
                format!("unexpected character '{}'", c.escape_debug()),
            ));
        }
    }
    out.push(Token {
        tok: Tok::End,
        at: chars.len(),
    });
    Ok(out)
}

/// The end of the number starting at `start`: sign, digits and points,
/// then `e`/`E`, an optional sign and digits if a digit follows.
fn number_end(chars: &[char], start: usize) -> usize {
    let mut i = start;
    if matches!(chars[i], '+' | '-') {
        i += 1;
    }
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i < chars.len() && matches!(chars[i], 'e' | 'E') {
        let mut j = i + 1;
        if j < chars.len() && matches!(chars[j], '+' | '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(Tok, usize)> {
        tokens(s)
            .unwrap()
            .into_iter()
            .map(|t| (t.tok, t.at))
            .collect()
    }

    #[test]
    fn splits_words_numbers_and_punctuation_with_char_positions() {
        assert_eq!(
            toks(" Conv2d( 6,-1e-3 ,p=2)"),
            vec![
                (Tok::Word("Conv2d".into()), 1),
                (Tok::Open, 7),
                (Tok::Num("6".into()), 9),
                (Tok::Comma, 10),
                (Tok::Num("-1e-3".into()), 11),
                (Tok::Comma, 17),
                (Tok::Word("p".into()), 18),
                (Tok::Equals, 19),
                (Tok::Num("2".into()), 20),
                (Tok::Close, 21),
                (Tok::End, 22),
            ]
        );
        // Positions count characters, not bytes.
        assert_eq!(toks("\u{a0}\u{a0}relu")[0], (Tok::Word("relu".into()), 2));
    }
}
