//! Escaping text that came from outside (a package's names, a peer's error
//! messages, ids taken from a URL) before it reaches a terminal or a log
//! line. A name that holds an escape sequence, a newline or a bidirectional
//! override could otherwise rewrite what an operator sees: erase the line
//! above, or print a false "everything matches". JSON output needs none of
//! this (its encoder escapes control characters); plain text does.

use std::borrow::Cow;

/// Whether `c` may change how text around it is shown: control characters
/// (C0, DEL, C1, which include ESC and newline), the bidirectional
/// embeddings, overrides, isolates and marks, and the line and paragraph
/// separators.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character that could change the display shown as an
/// escape (`\n`, `\t`, `\r`, `\u{1b}`, `\u{202e}`...) and every backslash
/// doubled, so that the escaped form cannot be mistaken for the text it
/// stands for. Text with nothing to escape is returned as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn display_changing_characters_are_shown_escaped() {
        for (raw, shown) in [
            ("plain name.txt", "plain name.txt"),
            ("dossier/é 1.txt", "dossier/é 1.txt"),
            ("a\nb", "a\\nb"),
            (
                "\x1b[1A\x1b[2K\x1b[32mok",
                "\\u{1b}[1A\\u{1b}[2K\\u{1b}[32mok",
            ),
            ("tab\there\r", "tab\\there\\r"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("back\\slash", "back\\\\slash"),
            ("del\u{7f}", "del\\u{7f}"),
        ] {
            assert_eq!(escape(raw), shown, "{raw:?}");
            assert!(!escape(raw).chars().any(|c| c.is_control()), "{raw:?}");
        }
    }
}
