//! Text limits of the places we write to (condition messages, Event notes).

/// `text` cut to at most `max` bytes on a character boundary, with `...` marking the cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clips_on_a_char_boundary_within_the_limit() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghijk", 10), "abcdefg...");
        // 'é' is two bytes: a cut through it moves back to the boundary before it.
        let clipped = clip("aaaaaaé-rest", 10);
        assert_eq!(clipped, "aaaaaa...");
        assert!(clipped.len() <= 10);
    }
}
