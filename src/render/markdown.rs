//! Markdown to sanitized HTML with absolute links, and a plain-text excerpt.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::text::strip_non_feed_chars;

/// Longest excerpt, in characters.
const EXCERPT_CHARS: usize = 280;

/// CommonMark plus tables, footnotes and strikethrough. No smart punctuation: the author's
/// characters are kept as typed.
fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH
}

/// Renders `markdown` to HTML that is safe to embed in a page or a feed: no script, no event
/// handlers, no `style`, no `javascript:`/`data:` URLs, no frames; relative `href`/`src` are made
/// absolute against `article_url` (feeds have no reliable base URL).
pub fn render_html(markdown: &str, article_url: &str) -> String {
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut raw, Parser::new_ext(markdown, options()));
    sanitize(&raw, article_url)
}

/// Sanitizes an HTML fragment with feedsvc's policy (see [`render_html`]).
pub fn sanitize(html: &str, article_url: &str) -> String {
    let base = url::Url::parse(article_url).ok();
    let mut builder = Builder::default();
    // Footnote references and definitions link to each other by id.
    builder.add_generic_attributes(["id"]);
    builder.add_tag_attributes("ol", ["start"]);
    builder.add_tags(["figure", "figcaption"]);
    builder.add_allowed_classes("sup", ["footnote-reference"]);
    builder.add_allowed_classes("div", ["footnote-definition"]);
    builder.add_allowed_classes("span", ["footnote-definition-label"]);
    builder.url_schemes(HashSet::from(["http", "https", "mailto", "tel"]));
    builder.link_rel(Some("noopener"));
    match base {
        Some(base) => builder.url_relative(UrlRelative::RewriteWithBase(base)),
        None => builder.url_relative(UrlRelative::Deny),
    };
    let clean = builder.clean(html).to_string();
    // Character references (`&#xFFFE;`, `&#1;`) decode into characters XML cannot carry, after
    // the input itself was cleaned of them: clean the output too.
    strip_non_feed_chars(&clean).into_owned()
}

/// The opening of the body as plain text, cut at a word boundary with `…` when longer than
/// [`EXCERPT_CHARS`]. Headings, code blocks and raw HTML are skipped.
pub fn excerpt(markdown: &str) -> String {
    let mut text = String::new();
    let mut skip_depth = 0usize;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(
                Tag::Heading { .. }
                | Tag::CodeBlock(_)
                | Tag::FootnoteDefinition(_)
                | Tag::Table(_),
            ) => skip_depth += 1,
            Event::End(
                TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::FootnoteDefinition | TagEnd::Table,
            ) => skip_depth = skip_depth.saturating_sub(1),
            Event::Text(t) | Event::Code(t) if skip_depth == 0 => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak if skip_depth == 0 => text.push(' '),
            Event::End(TagEnd::Paragraph) if skip_depth == 0 => {
                if text.chars().count() >= EXCERPT_CHARS / 2 {
                    break;
                }
                text.push(' ');
            }
            _ => {}
        }
        if text.chars().count() > EXCERPT_CHARS * 2 {
            break;
        }
    }
    let text = strip_non_feed_chars(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > EXCERPT_CHARS / 2 => &cut[..i],
        _ => &cut[..],
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', '.', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://news.example.org/articles/talks";

    #[test]
    fn hostile_markup_is_removed() {
        let html = render_html(
            "Safe text survives.\n\n<script>alert(1)</script>\n\n<img src=x onerror=\"alert(1)\">\n\n\
             <a href=\"javascript:alert(1)\">click</a>\n\n<iframe src=\"https://evil.example/\"></iframe>\n\n\
             <p style=\"background:url(javascript:alert(1))\">styled</p>\n\n<a href=\"data:text/html,x\">d</a>\n",
            URL,
        );
        assert!(html.contains("Safe text survives."));
        for bad in [
            "<script",
            "alert(1)</",
            "onerror",
            "javascript:",
            "<iframe",
            "style=",
            "data:",
        ] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
    }

    #[test]
    fn relative_links_become_absolute() {
        let html = render_html(
            "[r](../reports/2026) [h](/) ![m](images/map.png) [e](https://example.org/)",
            URL,
        );
        assert!(
            html.contains("href=\"https://news.example.org/reports/2026\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://news.example.org/\""),
            "{html}"
        );
        assert!(
            html.contains("src=\"https://news.example.org/articles/images/map.png\""),
            "{html}"
        );
        assert!(html.contains("href=\"https://example.org/\""), "{html}");
    }

    #[test]
    fn text_is_kept_exactly() {
        let html = render_html("“Quotes” -- dashes — and 'single' ... & <b>x</b> ]]>", URL);
        assert!(
            html.contains("“Quotes” -- dashes — and 'single' ... &amp; <b>x</b> ]]&gt;"),
            "{html}"
        );
    }

    #[test]
    fn footnotes_tables_strikethrough() {
        let html = render_html("a[^1] ~~gone~~\n\n|x|y|\n|-|-|\n|1|2|\n\n[^1]: note\n", URL);
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("footnote-definition"), "{html}");
        assert!(html.contains("id=\"1\""), "{html}");
    }

    #[test]
    fn character_references_cannot_smuggle_in_non_xml_characters() {
        let html = render_html("A &#xFFFE; B &#xFFFF; C &#x1; D &#x1F; E &#x85; F", URL);
        assert!(html.chars().all(crate::text::is_feed_char), "{html:?}");
        let text = excerpt("A &#xFFFE; B &#x1; C");
        assert!(text.chars().all(crate::text::is_feed_char), "{text:?}");
    }

    #[test]
    fn excerpt_is_plain_and_short() {
        assert_eq!(
            excerpt("## Head\n\n**GENEVA** — Talks *resumed*.\n"),
            "GENEVA — Talks resumed."
        );
        let long = excerpt(&"word ".repeat(200));
        assert!(long.ends_with('…') && long.chars().count() <= EXCERPT_CHARS + 1);
    }
}
