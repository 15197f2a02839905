//! Markdown to sanitized HTML with absolute links, and a plain-text excerpt.

use std::collections::{HashMap, HashSet};

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::conform::{conform, URL_SCHEMES};
use super::nesting;
use crate::text::strip_non_feed_chars;

/// Longest excerpt, in characters.
const EXCERPT_CHARS: usize = 280;

/// CommonMark plus tables, footnotes and strikethrough. No smart punctuation: the author's
/// characters are kept as typed.
pub(super) fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH
}

/// Renders `markdown` to HTML that is safe to embed in a page or a feed: no script, no event
/// handlers, no `style`, no `javascript:`/`data:` URLs, no frames; relative `href`/`src` are made
/// absolute against `article_url` (feeds have no reliable base URL).
///
/// A body that [`try_render_html`] refuses (refused at publishing, but one stored by an older
/// version may be rendered again) is shown as its escaped text in `<pre>`, in linear time.
pub fn render_html(markdown: &str, article_url: &str) -> String {
    try_render_html(markdown, article_url).unwrap_or_else(|_| preformatted(markdown))
}

/// Most bytes of HTML a body may render to before it is sanitized: one and a half times what
/// one feed item may carry once sanitized. Sanitizing (two HTML parses) takes most of a second
/// for a megabyte, and a Markdown line of 64 `>` renders to 64 `<blockquote>`: without this
/// bound, a 1 MiB body of such lines costs ten seconds of sanitizing only to be refused as too
/// large afterwards. Ordinary Markdown is no larger before sanitizing than after (links gain
/// `rel` and absolute URLs); only raw HTML that loses a third of itself to the sanitizer
/// (styles, scripts, comments) falls between the two limits.
pub const MAX_UNSANITIZED_BYTES: usize = super::MAX_ITEM_BYTES * 3 / 2;

/// Why a body is not rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrenderable {
    /// It nests deeper than [`nesting::MAX_DEPTH`]: parsing it as HTML would take time growing
    /// with the square of its depth.
    TooDeep(nesting::TooDeep),
    /// It renders to more than [`MAX_UNSANITIZED_BYTES`] before sanitizing (that many bytes).
    TooLarge(usize),
}

impl std::fmt::Display for Unrenderable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrenderable::TooDeep(too_deep) => too_deep.fmt(f),
            Unrenderable::TooLarge(bytes) => write!(
                f,
                "renders to {bytes} bytes of HTML before sanitizing, more than {MAX_UNSANITIZED_BYTES}; split the article"
            ),
        }
    }
}

/// Renders as [`render_html`] does, or says why the body is not rendered: both refusals are
/// decided before the sanitizer's HTML parser runs, so the time taken is linear in the body.
pub fn try_render_html(markdown: &str, article_url: &str) -> Result<String, Unrenderable> {
    // One parse: the nesting is checked as the events go to HTML, and the HTML stops at the
    // first event too deep (no HTML parser has seen it yet).
    let mut checker = nesting::Checker::new(markdown);
    let mut too_deep = None;
    let events = Parser::new_ext(markdown, options())
        .into_offset_iter()
        .map_while(|(event, range)| match checker.feed(&event, &range) {
            Ok(()) => Some(event),
            Err(e) => {
                too_deep = Some(e);
                None
            }
        });
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut raw, events);
    if let Some(e) = too_deep {
        return Err(Unrenderable::TooDeep(e));
    }
    if raw.len() > MAX_UNSANITIZED_BYTES {
        return Err(Unrenderable::TooLarge(raw.len()));
    }
    Ok(sanitize(&raw, article_url))
}

/// `text` escaped in a `<pre>` element.
pub(crate) fn preformatted(text: &str) -> String {
    format!(
        "<pre>{}</pre>\n",
        crate::text::escape_markup(&strip_non_feed_chars(text))
    )
}

/// Revision of the rendering of bodies: raise it whenever [`sanitize`] or [`render_html`] would
/// give different output for a stored article, so the next start renders every stored body
/// again (see `publish::fingerprint`).
pub const BODY_REVISION: u32 = 3;

/// Elements a body may carry. Left out of ammonia's defaults: those HTML declares obsolete
/// (`acronym`, `center`, `strike`, `tt`), and those that are only valid with attributes or
/// content we do not check (`area` and `map` need a `name` and `usemap`, `bdo` a `dir`, `data`
/// a `value`, `time` a machine-readable date; `col`, `colgroup`, `hgroup`, `rp`, `rtc`).
const TAGS: &str =
    "a abbr article aside b bdi blockquote br caption cite code dd del details dfn div dl dt \
     em figcaption figure footer h1 h2 h3 h4 h5 h6 header hr i img ins kbd li mark nav ol p \
     pre q rt ruby s samp small span strong sub summary sup table tbody td th thead tr u ul \
     var wbr";

/// Sanitizes an HTML fragment with feedsvc's policy (see [`render_html`]). The result is also
/// valid HTML: [`conform`](super::conform::conform) repairs what the removals leave behind.
pub fn sanitize(html: &str, article_url: &str) -> String {
    let base = url::Url::parse(article_url).ok();
    let mut builder = Builder::default();
    builder.tags(TAGS.split_whitespace().collect());
    // Footnote references and definitions link to each other by id. No `lang`: HTML wants a
    // registered language tag, and the page already declares the site's language.
    builder.generic_attributes(HashSet::from(["id", "title"]));
    // No presentational attributes (obsolete in HTML), no `cite` (a URL ammonia neither checks
    // nor makes absolute), no `headers` (ids that must name header cells of the same table).
    builder.tag_attributes(HashMap::from([
        ("a", HashSet::from(["href"])),
        ("img", HashSet::from(["alt", "height", "src", "width"])),
        ("ol", HashSet::from(["start"])),
        ("td", HashSet::from(["colspan", "rowspan"])),
        ("th", HashSet::from(["colspan", "rowspan"])),
    ]));
    builder.tag_attribute_values(HashMap::from([(
        "th",
        HashMap::from([(
            "scope",
            HashSet::from(["row", "col", "rowgroup", "colgroup"]),
        )]),
    )]));
    builder.add_allowed_classes("sup", ["footnote-reference"]);
    builder.add_allowed_classes("div", ["footnote-definition"]);
    builder.add_allowed_classes("span", ["footnote-definition-label"]);
    builder.url_schemes(URL_SCHEMES.iter().copied().collect());
    builder.link_rel(Some("noopener"));
    match base {
        Some(base) => builder.url_relative(UrlRelative::RewriteWithBase(base)),
        None => builder.url_relative(UrlRelative::Deny),
    };
    let clean = conform(&builder.clean(html).to_string());
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
    cut_excerpt(&text)
}

/// `text` with its runs of white space folded, cut at a word boundary with `…` when longer
/// than [`EXCERPT_CHARS`].
pub(super) fn cut_excerpt(text: &str) -> String {
    let text = strip_non_feed_chars(text)
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

    /// The Nu HTML Checker refuses `rel` on a link without `href`, and an image without `alt`
    /// or `src`: each way the sanitizer can drop a URL leaves a valid element.
    #[test]
    fn links_and_images_whose_url_was_removed_stay_valid() {
        let html = render_html(
            "[click](javascript:alert(1)) <a href=\"vbscript:x\" hreflang=\"en\">v</a> \
             <a href=\"https://[::1\">malformed</a> <a href=\"//[bad\">relative</a>\n\n\
             <img src=\"x\"> <img src=\"javascript:alert(1)\" alt=\"a chart\">\n\n\
             <map name=\"m\"><area href=\"javascript:alert(1)\" alt=\"area\"></map>",
            URL,
        );
        assert_eq!(
            html,
            "<p><a>click</a> <a>v</a> <a>malformed</a> <a>relative</a></p>\n<p>\
             <img alt=\"\" src=\"https://news.example.org/articles/x\"> a chart</p>\n\
             <p></p>\n"
        );
        // Without a base URL relative links are refused, and lose `rel` too.
        assert_eq!(
            sanitize(
                "<a href=\"/a\">r</a><img src=\"b.png\" alt=\"b\">",
                "not a URL"
            ),
            "<a>r</a>b"
        );
        assert_eq!(
            sanitize("<a href=\"https://example.org/\">ok</a>", URL),
            "<a href=\"https://example.org/\" rel=\"noopener\">ok</a>"
        );
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
    fn bodies_too_deep_or_too_large_are_refused_and_rendered_as_text() {
        let deep = format!("{}<x>&\n", "> ".repeat(nesting::MAX_DEPTH + 1));
        assert!(matches!(
            try_render_html(&deep, URL),
            Err(Unrenderable::TooDeep(_))
        ));
        assert_eq!(
            render_html(&deep, URL),
            format!(
                "<pre>{}&lt;x&gt;&amp;\n</pre>\n",
                "&gt; ".repeat(nesting::MAX_DEPTH + 1)
            )
        );
        let at_limit = format!("{}x\n", "> ".repeat(nesting::MAX_DEPTH));
        assert!(render_html(&at_limit, URL).starts_with("<blockquote>"));
        // Each line renders to 64 `<blockquote>` and as many end tags.
        let expanding = format!("{}x\n\n", ">".repeat(nesting::MAX_DEPTH)).repeat(1000);
        assert!(matches!(
            try_render_html(&expanding, URL),
            Err(Unrenderable::TooLarge(bytes)) if bytes > MAX_UNSANITIZED_BYTES
        ));
        assert!(render_html(&expanding, URL).starts_with("<pre>"));
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
