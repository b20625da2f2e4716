//! The parse error of an architecture string: a message, the character it
//! points at, the text with a caret under that character, and notes (the
//! known names, a suggestion).

use std::fmt;

/// Why an architecture string does not parse, and where.
///
/// Renders as
///
/// ```text
/// architecture: unknown layer 'conv3d' at character 12
///   conv2d(6,5),conv3d(2)
///               ^
///   known layers: linear, conv2d, …
///   did you mean 'conv2d'?
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ArchError {
    message: String,
    at: usize,
    text: String,
    notes: Vec<String>,
}

impl ArchError {
    /// An error `message` at character `at` of `text`.
    pub(super) fn new(text: &str, at: usize, message: impl Into<String>) -> ArchError {
        ArchError {
            message: message.into(),
            at,
            text: text.to_string(),
            notes: Vec::new(),
        }
    }

    /// Adds a line under the caret.
    pub(super) fn note(mut self, note: impl Into<String>) -> ArchError {
        self.notes.push(note.into());
        self
    }

    /// Adds "did you mean '…'?" if a name of `known` is within edit
    /// distance 2 of `name` (the closest; the first of equals).
    pub(super) fn suggest(self, name: &str, known: &[&str]) -> ArchError {
        match closest(name, known) {
            Some(best) => self.note(format!("did you mean '{best}'?")),
            None => self,
        }
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 0-based character position the error points at.
    pub fn position(&self) -> usize {
        self.at
    }

    /// The lines under the caret (known names, a suggestion).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

impl fmt::Display for ArchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Control characters would break the caret's alignment: shown as
        // spaces, one character each.
        let line: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(
            f,
            "architecture: {} at character {}\n  {}\n  {}^",
            self.message,
            self.at,
            line.trim_end(),
            " ".repeat(self.at)
        )?;
        for note in &self.notes {
            write!(f, "\n  {note}")?;
        }
        Ok(())
    }
}

/// The name of `known` closest to `name` by edit distance, if within 2.
pub(super) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let mut best: Option<(usize, &str)> = None;
    for &k in known {
        let d = edit_distance(name, k);
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Levenshtein distance (insertions, deletions, substitutions) between two
/// strings, by characters, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("conv3d", "conv2d"), 1);
        assert_eq!(edit_distance("", "relu"), 4);
        assert_eq!(edit_distance("rleu", "relu"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("lineer", &["linear", "relu"]), Some("linear"));
        assert_eq!(closest("softmax", &["linear", "relu"]), None);
    }

    #[test]
    fn renders_caret_under_the_character() {
        let e = ArchError::new("a,\tb", 3, "bad").note("n");
        assert_eq!(
            e.to_string(),
            "architecture: bad at character 3\n  a, b\n     ^\n  n"
        );
    }
}
