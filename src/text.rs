//! Small text rules shared by articles, tags and feeds: slugs and characters XML can carry.

use std::borrow::Cow;

/// Longest slug feedsvc derives or accepts, in bytes.
pub const MAX_SLUG_LEN: usize = 80;

/// True when `c` may appear in an XML 1.0 document and is not a control character a reader
/// would choke on (C0 other than tab, newline and carriage return; DEL and C1; U+FFFE/U+FFFF).
pub fn is_feed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (!c.is_control() && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Removes every character [`is_feed_char`] rejects; borrows when nothing needs removing.
pub fn strip_non_feed_chars(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_feed_char) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| is_feed_char(c)).collect())
    }
}

/// Escapes text for XML or HTML content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// True when `slug` follows the slug rule `[a-z0-9]+(-[a-z0-9]+)*` and is not too long.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Derives a slug from free text: transliterates to ASCII, lowercases, joins words with `-`,
/// and cuts at a word boundary. Returns `None` when nothing usable is left (no Latin letters or
/// digits even after transliteration).
pub fn slugify(text: &str) -> Option<String> {
    let ascii = deunicode::deunicode_with_tofu(text, "-");
    let mut slug = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // "Côte d'Ivoire" -> "cote-divoire", "Don't" -> "dont": apostrophes join, not split.
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.len() > MAX_SLUG_LEN {
        let cut = slug[..MAX_SLUG_LEN].rfind('-').unwrap_or(MAX_SLUG_LEN);
        slug.truncate(cut);
    }
    if slug.is_empty() {
        None
    } else {
        Some(slug)
    }
}

/// Symbols that carry the meaning of a tag (`C++`, `C#`, `R&D`), spelled out in its slug so that
/// `C`, `C++` and `C#` get three slugs. `#` counts only after a letter or digit (`C#`, `F#`): a
/// leading one, as in `#metoo`, is dropped like other punctuation.
const TAG_SYMBOL_WORDS: [(char, &str); 4] =
    [('+', "plus"), ('#', "sharp"), ('&', "and"), ('@', "at")];

/// The slug a new tag gets: [`slugify`] after spelling out the symbols of [`TAG_SYMBOL_WORDS`]
/// (`C++` -> `c-plus-plus`, `C#` -> `c-sharp`, `R&D` -> `r-and-d`); a name with nothing usable
/// gets `tag-` and a digest, as titles do. Never fails.
pub fn tag_slug(name: &str) -> String {
    // Transliterate first, so a fullwidth `＋` or the music sign `♯` is spelled out too.
    let ascii = deunicode::deunicode_with_tofu(name, "-");
    let mut spelled = String::with_capacity(ascii.len() + 16);
    let mut after_word = false;
    for c in ascii.chars() {
        let word = TAG_SYMBOL_WORDS
            .iter()
            .find(|(symbol, _)| *symbol == c)
            .map(|(_, word)| *word)
            .filter(|_| c != '#' || after_word);
        match word {
            Some(word) => {
                spelled.push(' ');
                spelled.push_str(word);
                spelled.push(' ');
            }
            None => spelled.push(c),
        }
        after_word = c.is_ascii_alphanumeric() || (after_word && c == '#');
    }
    slugify(&spelled).unwrap_or_else(|| stable_short_id("tag", name))
}

/// What makes two tag names the same tag: case, and how words are separated (spaces, hyphens,
/// underscores), do not count: `Rust`, `rust` and `RUST` are one tag, and so are `North Korea`,
/// `north  korea` and `NORTH-KOREA`. Every other character does (`C`, `C++`, `C#`).
pub fn tag_key(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The `n`th variant of `slug` for a second name that would get the same one: `c-2`, `c-3`…,
/// cut at a hyphen so it stays within [`MAX_SLUG_LEN`].
pub fn numbered_slug(slug: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let room = MAX_SLUG_LEN.saturating_sub(suffix.len());
    let mut base = slug;
    if base.len() > room {
        base = base[..room]
            .rfind('-')
            .map_or(&base[..room], |cut| &base[..cut]);
    }
    format!("{base}{suffix}")
}

/// A short stable identifier for text that has no Latin letters: the first 8 hex digits of its
/// SHA-256, prefixed with `prefix` (`article-3f9a1c2e`).
pub fn stable_short_id(prefix: &str, text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        assert!(is_valid_slug("geneva-talks-2026"));
        for bad in [
            "", "-a", "a-", "a--b", "A", "a/b", "../x", "a b", "é", "a_b",
        ] {
            assert!(!is_valid_slug(bad), "{bad:?} should be refused");
        }
        assert!(!is_valid_slug(&"a".repeat(MAX_SLUG_LEN + 1)));
    }

    #[test]
    fn slugify_transliterates_and_joins() {
        assert_eq!(slugify("North Korea").as_deref(), Some("north-korea"));
        assert_eq!(slugify("Côte d'Ivoire").as_deref(), Some("cote-divoire"));
        assert_eq!(slugify("São Paulo").as_deref(), Some("sao-paulo"));
        assert_eq!(
            slugify("Q&A: <b> \"quotes\" & 'apostrophes'").as_deref(),
            Some("q-a-b-quotes-apostrophes")
        );
        assert_eq!(
            slugify("“Peace” — talks… 2026–2027").as_deref(),
            Some("peace-talks-2026-2027")
        );
        assert_eq!(slugify("!!! ---").as_deref(), None);
        let long = slugify(&"word ".repeat(40)).unwrap();
        assert!(long.len() <= MAX_SLUG_LEN && is_valid_slug(&long), "{long}");
    }

    #[test]
    fn slugify_transliterates_every_script_to_a_valid_slug() {
        for (title, slug) in [
            ("北京与首尔恢复对话", "bei-jing-yu-shou-er-hui-fu-dui-hua"),
            ("مرحبا بالعالم", "mrhb-bl-lm"),
            ("استئناف المحادثات في جنيف", "stynf-lmhdtht-fy-jnyf"),
            ("Markets rally 📈", "markets-rally-chart-with-upwards-trend"),
            ("📈🎉", "chart-with-upwards-trend-tada"),
            ("a", "a"),
            ("ÆØÅ", "aeoa"),
            ("Chapter ⅷ, note ①", "chapter-viii-note-1"),
        ] {
            assert_eq!(slugify(title).as_deref(), Some(slug), "{title}");
            assert!(is_valid_slug(slug), "{slug}");
        }
    }

    #[test]
    fn slugify_gives_none_only_when_nothing_is_usable() {
        // Blank, punctuation, private-use and lone combining characters transliterate to
        // nothing a slug can carry.
        for title in [
            "",
            "   ",
            "!!! ---",
            "“…” — ?",
            "\u{e000}\u{e001}",
            "\u{301}",
        ] {
            assert_eq!(slugify(title), None, "{title:?}");
        }
        // One usable character among them is enough.
        assert_eq!(slugify("— \u{e000} 7 …").as_deref(), Some("7"));
    }

    #[test]
    fn stable_short_ids() {
        let id = stable_short_id("article", "📈");
        assert_eq!(
            id, "article-b5ad1dfd",
            "the first 4 bytes of SHA-256, in hex"
        );
        assert_eq!(
            stable_short_id("article", "📈"),
            id,
            "the same text, the same id"
        );
        assert_eq!(stable_short_id("tag", "📈"), "tag-b5ad1dfd");
        assert_ne!(stable_short_id("article", "📈🎉"), id);
        assert!(is_valid_slug(&id));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_markup("Q&A: <script>\"x\"</script> ]]> 'y'"),
            "Q&amp;A: &lt;script&gt;&quot;x&quot;&lt;/script&gt; ]]&gt; &#39;y&#39;"
        );
    }

    #[test]
    fn strips_what_xml_cannot_carry() {
        assert_eq!(
            strip_non_feed_chars("a\u{0}b\u{1b}c\u{7f}d\u{85}e\tf\ng"),
            "abcde\tf\ng"
        );
        assert!(matches!(
            strip_non_feed_chars("plain “text” 北京"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn tag_slugs_spell_out_symbols_that_carry_meaning() {
        for (name, slug) in [
            ("C", "c"),
            ("C++", "c-plus-plus"),
            ("C#", "c-sharp"),
            ("F#", "f-sharp"),
            ("R&D", "r-and-d"),
            ("Q&A", "q-and-a"),
            ("Google+", "google-plus"),
            ("Me@Work", "me-at-work"),
            ("#metoo", "metoo"),
            ("C＋＋", "c-plus-plus"),
            ("North Korea", "north-korea"),
            ("Côte d'Ivoire", "cote-divoire"),
        ] {
            assert_eq!(tag_slug(name), slug, "{name}");
            assert!(is_valid_slug(slug), "{slug}");
        }
        assert_eq!(tag_slug("???"), stable_short_id("tag", "???"));
    }

    #[test]
    fn tag_keys_ignore_case_and_spacing_only() {
        assert_eq!(tag_key("Rust"), tag_key("rust"));
        assert_eq!(tag_key("ÉCONOMIE"), tag_key("économie"));
        assert_eq!(tag_key("North  Korea"), tag_key("north korea"));
        assert_eq!(tag_key("NORTH-KOREA"), tag_key("north_korea"));
        assert_ne!(tag_key("C"), tag_key("C++"));
        assert_ne!(tag_key("C#"), tag_key("C++"));
    }

    #[test]
    fn numbered_slugs_stay_valid_and_short() {
        assert_eq!(numbered_slug("c", 2), "c-2");
        let long = format!("{}-tail", "word-".repeat(15).trim_end_matches('-'));
        assert_eq!(long.len(), MAX_SLUG_LEN - 1);
        let numbered = numbered_slug(&long, 12);
        assert!(
            numbered.len() <= MAX_SLUG_LEN && is_valid_slug(&numbered),
            "{numbered}"
        );
        assert!(numbered.ends_with("-12"), "{numbered}");
    }
}
