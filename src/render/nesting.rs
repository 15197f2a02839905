//! Bounds how deeply a body nests before any HTML parser sees it. html5ever's tree builder
//! checks the whole stack of open elements for many tokens, so its time grows with the square
//! of the nesting depth: 55,000 nested `<ul>` took seconds, 100,000 nested list items over a
//! minute. Counting depth here is one linear pass over pulldown-cmark's events and a small
//! tokenizer over the raw HTML they carry.

use std::ops::Range;

use pulldown_cmark::{Event, Tag, TagEnd};

/// Deepest nesting a body may have, counting each list, block quote, emphasis, link, heading
/// and raw HTML element that encloses a point of the text as one level. News articles nest a
/// handful of levels (a quote inside a list inside a quote is already rare); 64 leaves ten
/// times that for unusual markup, while keeping the HTML parser's per-token work small.
pub const MAX_DEPTH: usize = 64;

/// Most formatting elements (`<b>`, `<i>`, `<a>`, …) of raw HTML open at once. The HTML parser
/// opens every such element again in each later paragraph once its container has closed
/// (`<p><b><i>…</p>`), so the work per paragraph grows with their number: 63 of them before
/// 110,000 one-word paragraphs took over a second. Text rarely sits in more than three.
pub const MAX_FORMATTING: usize = 16;

/// Where a body first nests deeper than [`MAX_DEPTH`], or holds more than [`MAX_FORMATTING`]
/// formatting elements open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// Line of the body (1-based) where the limit was passed.
    pub line: usize,
    /// Which limit, and the count reached there.
    pub excess: Excess,
}

/// Which limit a body passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// Nested this many levels deep.
    Depth(usize),
    /// This many formatting elements open at once.
    Formatting(usize),
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.excess {
            Excess::Depth(depth) => write!(
                f,
                "line {}: nested {depth} levels deep (lists, block quotes or HTML elements); the limit is {MAX_DEPTH}",
                self.line
            ),
            Excess::Formatting(count) => write!(
                f,
                "line {}: {count} formatting elements (<b>, <i>, <a> and the like) open at once; the limit is {MAX_FORMATTING}",
                self.line
            ),
        }
    }
}

/// HTML elements without content: they never enclose anything.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements the HTML parser keeps in its list of active formatting elements: one left open is
/// opened again around later text even after an enclosing element closed, so it counts until
/// its own end tag.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Elements whose start tag closes an open one of the same group (`<li>a<li>b`).
/// Elements HTML's tree builder calls "special": an end tag of another name never closes
/// them, nor anything they hold (`<span><div></span>` leaves both open).
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
];

/// Elements that bound the search of a special element's end tag ("in scope").
const SCOPE: &[&str] = &[
    "applet", "caption", "html", "marquee", "object", "table", "td", "template", "th",
];

const SELF_CLOSING_GROUPS: &[&[&str]] = &[
    &["p"],
    &["li"],
    &["dt", "dd"],
    &["tr"],
    &["td", "th"],
    &["thead", "tbody", "tfoot"],
    &["option"],
    &["rt", "rp"],
];

/// One open level.
#[derive(Debug, PartialEq, Eq)]
enum Open {
    /// A Markdown container; its end closes the raw HTML opened inside it.
    Markdown,
    /// A raw HTML element, by name.
    Html(String),
}

/// The open levels so far, and where the limit was passed.
#[derive(Debug, Default)]
struct Depth {
    open: Vec<Open>,
    /// Formatting elements opened by raw HTML and not yet ended by their own end tag.
    formatting: Vec<String>,
    /// Inside an HTML comment that a previous event began.
    in_comment: bool,
}

impl Depth {
    fn depth(&self) -> usize {
        self.open.len() + self.formatting.len()
    }

    /// The limit passed, if any.
    fn excess(&self) -> Option<Excess> {
        if self.depth() > MAX_DEPTH {
            Some(Excess::Depth(self.depth()))
        } else if self.formatting.len() > MAX_FORMATTING {
            Some(Excess::Formatting(self.formatting.len()))
        } else {
            None
        }
    }

    fn start_markdown(&mut self) {
        self.open.push(Open::Markdown);
    }

    /// A block container's end tag closes the HTML elements opened inside it; an inline one's
    /// (`</em>`, `</a>`, `</del>`) may leave them open, so they keep counting.
    fn end_markdown(&mut self, is_block: bool) {
        let Some(i) = self.open.iter().rposition(|o| *o == Open::Markdown) else {
            return;
        };
        if is_block {
            self.open.truncate(i);
        } else {
            self.open.remove(i);
        }
    }

    fn start_html(&mut self, name: &str) {
        if VOID.contains(&name) {
            return;
        }
        if FORMATTING.contains(&name) {
            self.formatting.push(name.to_string());
            return;
        }
        if let Some(group) = SELF_CLOSING_GROUPS.iter().find(|g| g.contains(&name)) {
            if matches!(self.open.last(), Some(Open::Html(top)) if group.contains(&top.as_str())) {
                self.open.pop();
            }
        }
        self.open.push(Open::Html(name.to_string()));
    }

    fn end_html(&mut self, name: &str) {
        if FORMATTING.contains(&name) {
            if let Some(i) = self.formatting.iter().rposition(|f| f == name) {
                self.formatting.remove(i);
            }
            return;
        }
        // Only as far back as the innermost Markdown container (so the search stays within
        // the limit and the pass linear), and, as the tree builder does, never across an
        // element that the end tag cannot close: a special one for another end tag, a scope
        // boundary for a special one. Counting an element the parser closed errs on the safe
        // side; missing one it keeps open would not.
        let barrier: &[&str] = if SPECIAL.contains(&name) {
            SCOPE
        } else {
            SPECIAL
        };
        let found = self
            .open
            .iter()
            .rev()
            .take_while(|o| match o {
                Open::Markdown => false,
                Open::Html(n) => n == name || !barrier.contains(&n.as_str()),
            })
            .position(|o| matches!(o, Open::Html(n) if n == name));
        if let Some(from_top) = found {
            self.open.truncate(self.open.len() - from_top - 1);
        }
    }

    /// Feeds raw HTML to the depth count; returns the byte offset in `html` of the first tag
    /// that passes the limit.
    fn html(&mut self, html: &str) -> Option<usize> {
        let bytes = html.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            if self.in_comment {
                match comment_end(&html[at..]) {
                    Some(end) => {
                        at += end;
                        self.in_comment = false;
                    }
                    None => return None,
                }
                continue;
            }
            let start = at + html[at..].find('<')?;
            let rest = &html[start..];
            if let Some(after) = rest.strip_prefix("<!--") {
                // `<!-->` and `<!--->` are whole (empty) comments.
                let empty = if after.starts_with('>') {
                    Some(1)
                } else if after.starts_with("->") {
                    Some(2)
                } else {
                    None
                };
                match empty {
                    Some(length) => at = start + 4 + length,
                    None => {
                        at = start + 4;
                        self.in_comment = true;
                    }
                }
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                at = start + rest.find('>').map_or(rest.len(), |end| end + 1);
                continue;
            }
            let (is_end, name_at) = match rest.strip_prefix("</") {
                Some(_) => (true, 2),
                None => (false, 1),
            };
            if !rest[name_at..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                at = start + 1;
                continue;
            }
            let name_length = rest[name_at..]
                .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                .unwrap_or(rest.len() - name_at);
            let name = rest[name_at..name_at + name_length].to_ascii_lowercase();
            at = start + name_at + name_length + tag_end(&rest[name_at + name_length..]);
            if is_end {
                self.end_html(&name);
            } else {
                self.start_html(&name);
                if self.excess().is_some() {
                    return Some(start);
                }
            }
        }
        None
    }
}

/// Bytes up to and including the end of a comment (`-->` or `--!>`), if `text` holds it.
fn comment_end(text: &str) -> Option<usize> {
    let plain = text.find("-->").map(|i| i + 3);
    let bang = text.find("--!>").map(|i| i + 4);
    match (plain, bang) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Bytes of a tag after its name, through its `>` (attribute values may hold `>`); all of
/// `text` if it never ends.
fn tag_end(text: &str) -> usize {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if text[..i].trim_end().ends_with('=') => quote = Some(c),
            (None, '>') => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// Whether a Markdown start counts as a level: the parts that exist once per enclosing
/// structure (a list's items, a table's rows and cells, a paragraph) do not, nor does an HTML
/// block (its elements count, and stay open after it).
fn counts(tag: &Tag<'_>) -> bool {
    !matches!(
        tag,
        Tag::Item
            | Tag::Paragraph
            | Tag::TableHead
            | Tag::TableRow
            | Tag::TableCell
            | Tag::HtmlBlock
    )
}

/// For a counted Markdown end: whether it closes a block container (see
/// [`Depth::end_markdown`]); `None` for one that does not count.
fn ends_block(tag: &TagEnd) -> Option<bool> {
    match tag {
        TagEnd::Item
        | TagEnd::Paragraph
        | TagEnd::TableHead
        | TagEnd::TableRow
        | TagEnd::TableCell
        | TagEnd::HtmlBlock => None,
        TagEnd::Emphasis
        | TagEnd::Strong
        | TagEnd::Strikethrough
        | TagEnd::Link
        | TagEnd::Image
        | TagEnd::Superscript
        | TagEnd::Subscript => Some(false),
        _ => Some(true),
    }
}

/// Follows the events of one body as they are parsed and says where it first nests deeper
/// than [`MAX_DEPTH`] (or holds more than [`MAX_FORMATTING`] formatting elements open). Time
/// is linear in the length of the body.
pub struct Checker<'a> {
    markdown: &'a str,
    depth: Depth,
}

impl<'a> Checker<'a> {
    pub fn new(markdown: &'a str) -> Checker<'a> {
        Checker {
            markdown,
            depth: Depth::default(),
        }
    }

    /// Takes the next event of `markdown` and where it is in the source.
    pub fn feed(&mut self, event: &Event<'_>, range: &Range<usize>) -> Result<(), TooDeep> {
        let depth = &mut self.depth;
        let past = match event {
            Event::Start(tag) if counts(tag) => {
                depth.start_markdown();
                depth.excess().map(|_| range.start)
            }
            Event::End(tag) => {
                if let Some(is_block) = ends_block(tag) {
                    depth.end_markdown(is_block);
                }
                None
            }
            Event::Html(html) | Event::InlineHtml(html) => depth.html(html).map(|offset| {
                // The event's text drops container prefixes (`> `), so count its lines.
                let lines = line_ends(&html[..offset]).count();
                line_start(self.markdown, range.start, lines)
            }),
            _ => None,
        };
        match (past, depth.excess()) {
            (Some(offset), Some(excess)) => Err(TooDeep {
                line: line_ends(&self.markdown[..offset.min(self.markdown.len())]).count() + 1,
                excess,
            }),
            _ => Ok(()),
        }
    }
}

/// Where an HTML body (imported, not written in Markdown) first nests deeper than
/// [`MAX_DEPTH`] or holds more than [`MAX_FORMATTING`] formatting elements open.
pub fn check_html(html: &str) -> Result<(), TooDeep> {
    let whole = Event::Html(pulldown_cmark::CowStr::Borrowed(html));
    Checker::new(html).feed(&whole, &(0..html.len()))
}

/// The byte offset of the line `lines` lines after the one holding `offset`.
fn line_start(markdown: &str, offset: usize, lines: usize) -> usize {
    if lines == 0 {
        return offset;
    }
    line_ends(&markdown[offset..])
        .nth(lines - 1)
        .map_or(markdown.len(), |end| offset + end)
}

/// The byte offset just past each line ending of `text`: `\n`, `\r\n` or a lone `\r`, as
/// CommonMark reads them.
fn line_ends(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().filter_map(move |(i, &b)| match b {
        b'\n' => Some(i + 1),
        b'\r' if bytes.get(i + 1) != Some(&b'\n') => Some(i + 1),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::Parser;

    fn depth_error(markdown: &str) -> Option<TooDeep> {
        let mut checker = Checker::new(markdown);
        Parser::new_ext(markdown, crate::render::markdown::options())
            .into_offset_iter()
            .find_map(|(event, range)| checker.feed(&event, &range).err())
    }

    #[test]
    fn ordinary_articles_pass() {
        let body = "# Head\n\n> a quote with *emphasis* and [a link](https://x.example/)\n\n\
                    - one\n  - two\n    > quoted\n\n<div><p>raw <b>html</b><br></div>\n";
        assert_eq!(depth_error(body), None);
    }

    #[test]
    fn deep_markdown_is_found_on_its_line() {
        let lists = format!("intro\n\n{}x\n", "- ".repeat(MAX_DEPTH + 1));
        assert_eq!(
            depth_error(&lists),
            Some(TooDeep {
                line: 3,
                excess: Excess::Depth(MAX_DEPTH + 1)
            })
        );
        assert_eq!(depth_error(&format!("{}x\n", "- ".repeat(MAX_DEPTH))), None);
        let quotes = format!("a\n\nb\n\n{}x\n", "> ".repeat(MAX_DEPTH + 1));
        assert_eq!(depth_error(&quotes).map(|e| e.line), Some(5));
        for ending in ["\r\n", "\r"] {
            let other = quotes.replace('\n', ending);
            assert_eq!(depth_error(&other).map(|e| e.line), Some(5), "{ending:?}");
        }
        assert_eq!(depth_error(&format!("{}x\n", ">".repeat(MAX_DEPTH))), None);
    }

    #[test]
    fn deep_raw_html_is_found_on_its_line() {
        for tag in ["<ul>", "<div>", "<b>", "<b><i>"] {
            let count = MAX_DEPTH + 1;
            let deep = format!("a\n\nb\n\n{}\n", tag.repeat(count));
            let found = depth_error(&deep).unwrap_or_else(|| panic!("{tag} passed"));
            assert_eq!(found.line, 5, "{tag}");
            let at_limit = format!("a\n\n{}\n", "<div>".repeat(MAX_DEPTH));
            assert_eq!(depth_error(&at_limit), None);
        }
        // A tag on a later line of an HTML block, inside a block quote.
        let lines = format!("> <div>\n> {}\n", "<div>".repeat(MAX_DEPTH));
        assert_eq!(depth_error(&lines).map(|e| e.line), Some(2));
    }

    #[test]
    fn an_end_tag_closes_nothing_across_an_element_it_cannot_close() {
        // The tree builder ignores `</span>` inside a `<div>`: both stay open.
        let crossed = format!("{}\n", "<span><div></span>".repeat(MAX_DEPTH / 2 + 1));
        assert!(depth_error(&crossed).is_some());
        // `</div>` closes the `<span>` inside it; `</td>` does not reach past its table.
        let closing = "<div><span></div>\n\n".repeat(1000);
        assert_eq!(depth_error(&closing), None);
        let tables = format!("{}\n", "<td><table></td>".repeat(MAX_DEPTH / 2 + 1));
        assert!(depth_error(&tables).is_some());
    }

    #[test]
    fn closed_elements_do_not_add_up() {
        let siblings = "<div><div><ul><li>a<li>b</ul></div></div>\n\n".repeat(1000);
        assert_eq!(depth_error(&siblings), None);
        let paragraphs = "<p>a<p>b<p>c\n".repeat(100);
        assert_eq!(depth_error(&paragraphs), None);
        let formatting = "<b>a</b> <i>b</i> *c* **d**\n".repeat(1000);
        assert_eq!(depth_error(&formatting), None);
    }

    #[test]
    fn formatting_left_open_counts_after_its_container_closes() {
        let body = "<div><span><b class=\"a\"></span></div>\n\n".repeat(MAX_FORMATTING + 1);
        assert_eq!(
            depth_error(&body),
            Some(TooDeep {
                line: 2 * MAX_FORMATTING + 1,
                excess: Excess::Formatting(MAX_FORMATTING + 1)
            })
        );
        let at_limit = format!("<p>{}</p>\n\nx\n", "<b><i>".repeat(MAX_FORMATTING / 2));
        assert_eq!(depth_error(&at_limit), None);
    }

    #[test]
    fn comments_and_attributes_hide_no_tags_and_invent_none() {
        let hidden = format!("<!-- {} -->\n", "<div>".repeat(MAX_DEPTH + 1));
        assert_eq!(depth_error(&hidden), None);
        let after_empty = format!("<!--> {}\n", "<div>".repeat(MAX_DEPTH + 1));
        assert!(depth_error(&after_empty).is_some());
        let quoted = format!("<div title=\"{}\">x</div>\n", "<div>".repeat(MAX_DEPTH + 1));
        assert_eq!(depth_error(&quoted), None);
    }
}
