//! Query strings read as a person types them in a link: `+` is a plus
//! (`?expr=(x+y)*(x-1)`), `%XX` escapes are decoded, and only the
//! parameters a page knows are accepted, each once.

use super::error::ApiError;
use super::limits::{MAX_PARAMS, MAX_QUERY};

/// The parameters of a query string, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `%XX` escapes; `+` stays a plus.
fn decode(key: &str, s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ApiError::bad(key, "a '%' that is not followed by two hex digits")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad(key, "not valid UTF-8 once decoded"))
}

/// Parses `raw` (without the `?`), accepting only the keys in `known`.
pub fn parse(raw: &str, known: &[&str]) -> Result<Params, ApiError> {
    if raw.len() > MAX_QUERY {
        return Err(ApiError::bad(
            "query",
            format!(
                "the query string is {} bytes, more than {MAX_QUERY}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = decode("query", k)?;
        if !known.contains(&key.as_str()) {
            return Err(ApiError::bad(
                &key,
                format!("unknown parameter '{key}'; known: {}", known.join(", ")),
            ));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::bad(&key, format!("'{key}' is given twice")));
        }
        let value = decode(&key, v)?;
        out.push((key, value));
        if out.len() > MAX_PARAMS {
            return Err(ApiError::bad(
                "query",
                format!("more than {MAX_PARAMS} parameters"),
            ));
        }
    }
    Ok(Params(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_plus_and_escapes_decode() {
        let p = parse(
            "expr=(x+y)*(x-1)&at=x=3,y=2&lr=%30.5",
            &["expr", "at", "lr"],
        )
        .unwrap();
        assert_eq!(p.get("expr"), Some("(x+y)*(x-1)"));
        assert_eq!(p.get("at"), Some("x=3,y=2"));
        assert_eq!(p.get("lr"), Some("0.5"));
    }

    #[test]
    fn unknown_repeated_and_bad_escapes_are_refused() {
        assert!(parse("nope=1", &["expr"]).is_err());
        assert!(parse("expr=1&expr=2", &["expr"]).is_err());
        assert!(parse("expr=%zz", &["expr"]).is_err());
        assert!(parse(&"a".repeat(MAX_QUERY + 1), &["expr"]).is_err());
    }
}
