//! The values social commands carry, checked once where they enter: post and comment text,
//! a post's visibility, and the hashtags and mentions found in text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Longest post text, in characters.
pub const MAX_POST_CHARS: usize = 5_000;
/// Longest comment text, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Most distinct hashtags (and mentions) kept from one text: the rest are plain text.
pub const MAX_TAGS: usize = 30;
/// Longest hashtag, in characters (without the `#`).
pub const MAX_HASHTAG_CHARS: usize = 50;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the text is empty")]
    Empty,
    #[error("the text is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the text contains control characters")]
    InvalidCharacters,
}

/// Who may see a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone who is not blocked by, or blocking, the author.
    #[default]
    Public,
    /// The author's friends.
    Friends,
    /// The author alone.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Friends => "friends",
            Self::Private => "private",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "friends" => Some(Self::Friends),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

/// Checks free text: trimmed, 1 to `max` characters, no control characters but line breaks
/// and tabs. Returns the trimmed text.
fn checked_text(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(TextError::InvalidCharacters);
    }
    Ok(text.to_owned())
}

/// A post's text: 1 to [`MAX_POST_CHARS`] characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct PostText(String);

impl PostText {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        checked_text(raw, MAX_POST_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<PostText> for String {
    fn from(text: PostText) -> Self {
        text.0
    }
}

/// A comment's text: 1 to [`MAX_COMMENT_CHARS`] characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct CommentText(String);

impl CommentText {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        checked_text(raw, MAX_COMMENT_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<CommentText> for String {
    fn from(text: CommentText) -> Self {
        text.0
    }
}

/// Whether `c` may be part of a hashtag or a mention.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The words of `text` that follow `sigil` (`#tag`, `@handle`) at the start of a word,
/// lowercased, in order of first appearance, without repeats, at most [`MAX_TAGS`].
fn tagged_words(text: &str, sigil: char, max_chars: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let at_word_start = previous.is_none_or(|p| !is_tag_char(p) && p != sigil);
        previous = Some(c);
        if c != sigil || !at_word_start {
            continue;
        }
        let body_start = start + c.len_utf8();
        let mut end = body_start;
        while let Some(&(index, next)) = chars.peek() {
            if !is_tag_char(next) {
                break;
            }
            end = index + next.len_utf8();
            previous = Some(next);
            chars.next();
        }
        let word = text[body_start..end].to_lowercase();
        let length = word.chars().count();
        // A tag of digits alone (`#1`) is a number, not a topic.
        if length == 0 || length > max_chars || word.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if seen.insert(word.clone()) {
            found.push(word);
            if found.len() == MAX_TAGS {
                break;
            }
        }
    }
    found
}

/// The hashtags of `text` (`#Rust` → `rust`).
pub fn hashtags(text: &str) -> Vec<String> {
    tagged_words(text, '#', MAX_HASHTAG_CHARS)
}

/// The handles mentioned in `text` (`@Ada` → `ada`); which users they name is for the service
/// to resolve when the text is posted.
pub fn mentioned_handles(text: &str) -> Vec<String> {
    tagged_words(text, '@', 30)
}

/// A hashtag as a path names it: without `#`, lowercased; `None` when it is not one.
pub fn normalize_hashtag(raw: &str) -> Option<String> {
    let tag = raw.trim().trim_start_matches('#');
    let valid = !tag.is_empty()
        && tag.chars().count() <= MAX_HASHTAG_CHARS
        && tag.chars().all(is_tag_char)
        && !tag.chars().all(|c| c.is_ascii_digit());
    valid.then(|| tag.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_text_is_trimmed_and_bounded() {
        assert_eq!(PostText::parse("  hello  ").map(String::from), Ok("hello".to_owned()));
        assert_eq!(PostText::parse("   "), Err(TextError::Empty));
        assert!(PostText::parse(&"x".repeat(MAX_POST_CHARS)).is_ok());
        assert_eq!(PostText::parse(&"é".repeat(MAX_POST_CHARS + 1)), Err(TextError::TooLong { max: 5000 }));
        assert_eq!(PostText::parse("a\u{0}b"), Err(TextError::InvalidCharacters));
        assert!(PostText::parse("line one\nline two\ttabbed").is_ok());
    }

    #[test]
    fn hashtags_are_words_after_a_hash_lowercased_once_each() {
        assert_eq!(hashtags("#Rust and #rust, #CQRS! a#b #1 #_x #"), vec!["rust", "cqrs", "_x"]);
        assert_eq!(hashtags("café #Café"), vec!["café"]);
        assert_eq!(hashtags("##double"), Vec::<String>::new());
        let many: String = (0..40).map(|i| format!("#t{i} ")).collect();
        assert_eq!(hashtags(&many).len(), MAX_TAGS);
        assert!(hashtags(&format!("#{}", "a".repeat(51))).is_empty());
    }

    #[test]
    fn mentions_are_handles_after_an_at_sign() {
        assert_eq!(mentioned_handles("hi @Ada and @bob_1, mail me@example.com @ada"), vec!["ada", "bob_1"]);
    }

    #[test]
    fn a_hashtag_in_a_path_is_normalized_or_refused() {
        assert_eq!(normalize_hashtag("#Rust").as_deref(), Some("rust"));
        assert_eq!(normalize_hashtag("rust"), Some("rust".to_owned()));
        assert_eq!(normalize_hashtag("no spaces"), None);
        assert_eq!(normalize_hashtag("123"), None);
        assert_eq!(normalize_hashtag(""), None);
    }
}
