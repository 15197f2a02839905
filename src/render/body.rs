//! An article's body, whatever it is written in (Markdown, or HTML imported from another
//! platform): to sanitized HTML with absolute links, and to a plain-text excerpt.

use super::markdown::{self, preformatted, sanitize, Unrenderable, MAX_UNSANITIZED_BYTES};
use super::nesting;
use crate::article::BodyFormat;

/// Renders `body` to the HTML feeds and pages carry, or says why it is not rendered. Markdown
/// goes through [`markdown::try_render_html`]; HTML through the same limits (nesting depth,
/// size before sanitizing) and the same sanitizer. Relative links are made absolute against
/// `base_url`: the article's URL, or for a body just imported, the URL it had where it came
/// from (that is where its images are).
pub fn try_render(body: &str, format: BodyFormat, base_url: &str) -> Result<String, Unrenderable> {
    match format {
        BodyFormat::Markdown => markdown::try_render_html(body, base_url),
        BodyFormat::Html => {
            nesting::check_html(body).map_err(Unrenderable::TooDeep)?;
            if body.len() > MAX_UNSANITIZED_BYTES {
                return Err(Unrenderable::TooLarge(body.len()));
            }
            Ok(sanitize(body, base_url))
        }
    }
}

/// As [`try_render`], with a body it refuses shown as escaped text in `<pre>` (one stored by
/// an older version that a limit now refuses: it was published, and stays so).
pub fn render(body: &str, format: BodyFormat, base_url: &str) -> String {
    try_render(body, format, base_url).unwrap_or_else(|_| preformatted(body))
}

/// The opening of the body as plain text (see [`markdown::excerpt`]).
pub fn excerpt(body: &str, format: BodyFormat) -> String {
    match format {
        BodyFormat::Markdown => markdown::excerpt(body),
        BodyFormat::Html => markdown::cut_excerpt(&html_text(body, 1200)),
    }
}

/// The text of an HTML fragment, about `limit` characters of it: tags dropped (headings,
/// preformatted text, tables, figure captions and footnotes left out, as in a Markdown
/// excerpt), character references decoded, block ends turned into spaces.
pub fn html_text(html: &str, limit: usize) -> String {
    const SKIPPED: [&str; 8] = ["h1", "h2", "h3", "h4", "h5", "h6", "pre", "table"];
    const HIDDEN: [&str; 4] = ["script", "style", "figcaption", "template"];
    let mut out = String::new();
    let mut skip: Vec<String> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() && out.chars().count() < limit {
        match rest.find('<') {
            Some(0) => {
                let end = if rest.starts_with("<!--") {
                    rest.find("-->").map_or(rest.len(), |i| i + 3)
                } else {
                    rest.find('>').map_or(rest.len(), |i| i + 1)
                };
                let tag = &rest[1..end.saturating_sub(1).max(1)];
                let closing = tag.starts_with('/');
                let name: String = tag
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase();
                let skipped = SKIPPED.contains(&name.as_str()) || HIDDEN.contains(&name.as_str());
                if skipped && !closing && !tag.ends_with('/') {
                    skip.push(name);
                } else if skipped && closing {
                    if let Some(at) = skip.iter().rposition(|n| *n == name) {
                        skip.truncate(at);
                    }
                } else if skip.is_empty() {
                    out.push(' ');
                }
                rest = &rest[end..];
            }
            found => {
                let end = found.unwrap_or(rest.len());
                if skip.is_empty() {
                    decode_references(&rest[..end], &mut out);
                }
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Appends `text` to `out` with its character references decoded (the named ones a
/// sanitizer writes and the common typographic ones; others are kept as written).
fn decode_references(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let decoded = match end {
            Some(end) if rest[end..].starts_with(';') => {
                reference(&rest[1..end]).map(|c| (c, end + 1))
            }
            _ => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// The character a reference names (`amp`, `#8212`, `#x2014`), if known.
fn reference(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_excerpt_is_its_text_without_headings() {
        let html = "<h2>Dateline</h2><p><strong>GENEVA</strong> &mdash; Envoys met &amp; \
                    talked.</p><pre>code</pre><p>Second&nbsp;paragraph &#8220;quoted&#x201D;.</p>";
        assert_eq!(
            excerpt(html, BodyFormat::Html),
            "GENEVA — Envoys met & talked. Second paragraph “quoted”."
        );
    }

    #[test]
    fn unknown_references_and_bare_ampersands_stay_as_written() {
        assert_eq!(html_text("a &bogus; b & c", 100), "a &bogus; b & c");
    }

    #[test]
    fn html_bodies_are_sanitized_with_links_made_absolute() {
        let html = try_render(
            "<p onclick=\"x()\">Text <img src=\"/img/a.jpg\" alt=\"A\"><script>alert(1)</script></p>",
            BodyFormat::Html,
            "https://old.example.com/2025/09/story.html",
        )
        .expect("rendered");
        assert!(
            html.contains("src=\"https://old.example.com/img/a.jpg\""),
            "{html}"
        );
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
    }

    #[test]
    fn deep_html_bodies_are_refused_before_parsing() {
        let deep = "<div>".repeat(100);
        assert!(matches!(
            try_render(&deep, BodyFormat::Html, "https://x.example/"),
            Err(Unrenderable::TooDeep(_))
        ));
    }
}
