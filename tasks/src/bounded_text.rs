//! Text copied from customer data into what people read (violations, reports, emails) is cut to a
//! bounded length: one 50 MB category value once made a 50 MB report and a 52 MB email.

/// The longest single value (a key, a category) shown.
pub const VALUE_CHARS: usize = 80;
/// How many distinct values a list in a message shows before "and N more".
pub const LISTED_VALUES: usize = 10;

/// `text` cut to `max_chars` characters, with how much was left out.
pub fn bounded(text: &str, max_chars: usize) -> String {
    let mut chars = text.char_indices();
    match chars.nth(max_chars) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}... ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

/// Values joined with ", ", each bounded, at most [`LISTED_VALUES`] of them.
pub fn bounded_list<S: AsRef<str>>(values: &[S]) -> String {
    let mut shown: Vec<String> = values
        .iter()
        .take(LISTED_VALUES)
        .map(|v| bounded(v.as_ref(), VALUE_CHARS))
        .collect();
    if values.len() > LISTED_VALUES {
        shown.push(format!("and {} more", values.len() - LISTED_VALUES));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_text_and_long_lists() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ééééé", 3), "ééé... (2 more characters)");
        let huge = "x".repeat(50_000_000);
        assert!(bounded(&huge, VALUE_CHARS).len() < 200);
        let values: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
        assert_eq!(
            bounded_list(&values),
            "v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, and 2 more"
        );
    }
}
