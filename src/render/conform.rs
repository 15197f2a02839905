//! Makes a sanitized HTML fragment conform to HTML's content models, so that a page carrying
//! it passes the Nu HTML Checker. What the sanitizer removes leaves structures HTML forbids: a
//! link whose `href` was dropped still carries `rel`, an image loses its `src`, a link that sat
//! inside a removed `<object>` now sits inside another link, a list item stands outside any
//! list. This pass parses the sanitized fragment as a browser would, fixes each such place by
//! dropping an attribute or unwrapping an element (its content stays), and serializes it again.
//!
//! It only removes: attributes, elements (never their text), and adds `alt=""` to images. So it
//! cannot bring back anything the sanitizer took out.

use std::collections::HashSet;

use ego_tree::{NodeId, Tree};
use html5ever::{LocalName, Namespace, QualName};
use scraper::node::{Element, Text};
use scraper::{Html, Node, StrTendril};
use url::{Position, Url};

/// Ids that the page template (`templates/base.html`) gives its own elements: a body repeating
/// one would make the page's ids collide.
pub const RESERVED_IDS: &[&str] = &["main"];

/// The only URL schemes a body's links and images may use.
pub const URL_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

/// Attributes, besides `href` and `src`, whose value a browser fetches or navigates to. The
/// sanitizer keeps none of them; should its policy ever let one through, it is dropped here
/// rather than checked, so that `href` and `src` stay the only URLs a body carries.
const OTHER_URL_ATTRIBUTES: &[&str] = &[
    "action",
    "archive",
    "background",
    "cite",
    "codebase",
    "data",
    "dynsrc",
    "formaction",
    "icon",
    "longdesc",
    "lowsrc",
    "manifest",
    "ping",
    "poster",
    "srcset",
    "usemap",
    "xlink:href",
];

/// Elements allowed where only phrasing content may stand (of those the sanitizer keeps).
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "bdi", "br", "cite", "code", "del", "dfn", "em", "i", "img", "ins", "kbd",
    "mark", "q", "ruby", "s", "samp", "small", "span", "strong", "sub", "sup", "u", "var", "wbr",
];

/// Elements whose content must be phrasing content.
const PHRASING_CONTAINERS: &[&str] = &[
    "abbr", "b", "bdi", "cite", "code", "dfn", "em", "h1", "h2", "h3", "h4", "h5", "h6", "i",
    "kbd", "mark", "p", "pre", "q", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "u", "var",
];

/// Elements whose content model is their parent's.
const TRANSPARENT: &[&str] = &["a", "del", "ins"];

/// What `dt` and `th` must not contain.
const HEADINGS_AND_SECTIONS: &[&str] = &[
    "article", "aside", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "nav",
];

/// What the ancestors of a node forbid in it.
#[derive(Clone, Copy, Default)]
struct Context {
    phrasing_only: bool,
    in_link: bool,
    in_header_or_footer: bool,
    in_term_or_header_cell: bool,
    in_caption: bool,
}

impl Context {
    fn inside(self, name: &str) -> Context {
        Context {
            phrasing_only: if PHRASING_CONTAINERS.contains(&name) {
                true
            } else {
                TRANSPARENT.contains(&name) && self.phrasing_only
            },
            in_link: self.in_link || name == "a",
            in_header_or_footer: self.in_header_or_footer || matches!(name, "header" | "footer"),
            in_term_or_header_cell: self.in_term_or_header_cell || matches!(name, "dt" | "th"),
            in_caption: self.in_caption || name == "caption",
        }
    }
}

/// Returns `html` (a fragment the sanitizer produced) with every element in a place HTML allows
/// and every attribute valid: see the module documentation.
pub fn conform(html: &str) -> String {
    let mut doc = Html::parse_fragment(html);
    // The parser puts the fragment's nodes under an `<html>` element.
    let root = doc.root_element().id();
    let tree = &mut doc.tree;
    // Iterative, not recursive: hostile input nests elements many thousands deep.
    let mut stack = vec![(root, Context::default())];
    while let Some((parent, context)) = stack.pop() {
        let parent_name = match tree.get(parent).map(|n| n.value()) {
            Some(Node::Element(e)) if parent != root => e.name().to_string(),
            _ => "div".to_string(),
        };
        let mut next = tree
            .get(parent)
            .and_then(|n| n.first_child())
            .map(|n| n.id());
        while let Some(id) = next {
            next = tree.get(id).and_then(|n| n.next_sibling()).map(|n| n.id());
            let Some(name) = element_name(tree, id) else {
                continue;
            };
            if !is_allowed(tree, id, &name, &parent_name, context) {
                // Its children take its place and are judged where they now stand.
                next = unwrap(tree, id).or(next);
                continue;
            }
            if let Some(mut node) = tree.get_mut(id) {
                if let Node::Element(element) = node.value() {
                    fix_attributes(element);
                }
            }
            if name == "img" && attribute(tree, id, "src").is_none() {
                replace_with_alt_text(tree, id);
                continue;
            }
            stack.push((id, context.inside(&name)));
        }
    }
    drop_bad_ids(tree, root);
    doc.root_element().inner_html()
}

fn element_name(tree: &Tree<Node>, id: NodeId) -> Option<String> {
    match tree.get(id)?.value() {
        Node::Element(e) => Some(e.name().to_string()),
        _ => None,
    }
}

fn attribute<'t>(tree: &'t Tree<Node>, id: NodeId, name: &str) -> Option<&'t str> {
    match tree.get(id)?.value() {
        Node::Element(e) => e
            .attrs
            .iter()
            .find(|(n, _)| &*n.local == name)
            .map(|(_, value)| &**value),
        _ => None,
    }
}

/// Whether the element may stay where it stands: its parent accepts it, its ancestors do not
/// forbid it, and its own children are what it needs.
fn is_allowed(tree: &Tree<Node>, id: NodeId, name: &str, parent: &str, context: Context) -> bool {
    let placed = match name {
        "li" => matches!(parent, "ul" | "ol"),
        "dt" | "dd" => parent == "dl",
        "rt" => parent == "ruby",
        "caption" | "tbody" | "thead" => parent == "table",
        "tr" => matches!(parent, "table" | "tbody" | "thead"),
        "td" | "th" => parent == "tr",
        "summary" => parent == "details" && !significant_before(tree, id),
        "figcaption" => {
            parent == "figure"
                && (!significant_before(tree, id) || !significant_after(tree, id))
                && !figcaption_before(tree, id)
        }
        _ => !context.phrasing_only || PHRASING.contains(&name),
    };
    placed
        && !(context.in_link && name == "a")
        && !(context.in_header_or_footer && matches!(name, "header" | "footer"))
        && !(context.in_term_or_header_cell && HEADINGS_AND_SECTIONS.contains(&name))
        && !(context.in_caption && name == "table")
        && has_required_children(tree, id, name)
}

/// Lists hold only their items, a description list groups of terms then descriptions, a
/// disclosure starts with its summary, ruby has an annotation.
fn has_required_children(tree: &Tree<Node>, id: NodeId, name: &str) -> bool {
    let children = || significant_children(tree, id);
    match name {
        "ul" | "ol" => children().all(|c| element_is(c, &["li"])),
        "dl" => {
            let items: Vec<&Node> = children().collect();
            items.iter().all(|c| element_is(c, &["dt", "dd"]))
                && items.first().is_none_or(|c| element_is(c, &["dt"]))
                && items.last().is_none_or(|c| element_is(c, &["dd"]))
        }
        "details" => children()
            .next()
            .is_some_and(|c| element_is(c, &["summary"])),
        // Each base is followed by its annotations (the sanitizer keeps no `rp`).
        "ruby" => {
            children().next().is_some_and(|c| !element_is(c, &["rt"]))
                && children().last().is_some_and(|c| element_is(c, &["rt"]))
        }
        _ => true,
    }
}

/// Child nodes other than white space.
fn significant_children(tree: &Tree<Node>, id: NodeId) -> impl Iterator<Item = &Node> {
    tree.get(id)
        .into_iter()
        .flat_map(|n| n.children())
        .map(|c| c.value())
        .filter(|n| is_significant(n))
}

fn is_significant(node: &Node) -> bool {
    match node {
        Node::Element(_) => true,
        Node::Text(t) => !t.text.trim_matches(is_html_space).is_empty(),
        _ => false,
    }
}

fn element_is(node: &Node, names: &[&str]) -> bool {
    matches!(node, Node::Element(e) if names.contains(&e.name()))
}

fn significant_before(tree: &Tree<Node>, id: NodeId) -> bool {
    tree.get(id)
        .is_some_and(|n| n.prev_siblings().any(|s| is_significant(s.value())))
}

fn significant_after(tree: &Tree<Node>, id: NodeId) -> bool {
    tree.get(id)
        .is_some_and(|n| n.next_siblings().any(|s| is_significant(s.value())))
}

fn figcaption_before(tree: &Tree<Node>, id: NodeId) -> bool {
    tree.get(id).is_some_and(|n| {
        n.prev_siblings()
            .any(|s| element_is(s.value(), &["figcaption"]))
    })
}

/// Moves the element's children to its place and removes it. Returns the first child moved.
fn unwrap(tree: &mut Tree<Node>, id: NodeId) -> Option<NodeId> {
    let children: Vec<NodeId> = tree.get(id)?.children().map(|c| c.id()).collect();
    let mut node = tree.get_mut(id)?;
    for &child in &children {
        node.insert_id_before(child);
    }
    node.detach();
    children.first().copied()
}

/// An image whose source was removed shows what a browser shows for a broken image: its text
/// alternative.
fn replace_with_alt_text(tree: &mut Tree<Node>, id: NodeId) {
    let alt = attribute(tree, id, "alt").unwrap_or_default().to_string();
    if let Some(mut node) = tree.get_mut(id) {
        if !alt.is_empty() {
            node.insert_before(Node::Text(Text {
                text: StrTendril::from_slice(&alt),
            }));
        }
        node.detach();
    }
}

/// Keeps the attributes whose values are valid; a link without a target loses the attributes
/// that only a link with one may carry; an image gets an (empty) text alternative if it has none.
fn fix_attributes(element: &mut Element) {
    let name = element.name().to_string();
    element.attrs.retain_mut(|(attr, value)| {
        let valid = match &*attr.local {
            "href" | "src" => match Url::parse(value) {
                Ok(url) if URL_SCHEMES.contains(&url.scheme()) => {
                    *value = StrTendril::from_slice(&conforming_url(&url));
                    true
                }
                _ => false,
            },
            name if OTHER_URL_ATTRIBUTES.contains(&name) || attr.prefix.is_some() => false,
            "width" | "height" => is_digits(value),
            "start" => is_digits(value.strip_prefix('-').unwrap_or(value)),
            "colspan" => {
                value.parse::<u32>().is_ok_and(|n| (1..=1000).contains(&n)) && is_digits(value)
            }
            "rowspan" => value.parse::<u32>().is_ok_and(|n| n <= 65534) && is_digits(value),
            _ => true,
        };
        valid
    });
    let has = |element: &Element, attr: &str| element.attrs.iter().any(|(n, _)| &*n.local == attr);
    if name == "a" && !has(element, "href") {
        element
            .attrs
            .retain(|(n, _)| matches!(&*n.local, "id" | "title"));
    }
    if name == "img" && !has(element, "alt") {
        element.attrs.push((
            QualName::new(None, Namespace::from(""), LocalName::from("alt")),
            StrTendril::new(),
        ));
        // scraper looks attributes up by binary search.
        element.attrs.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// One or more ASCII digits, as HTML's integers are written (and no more than fit a `u32`).
fn is_digits(value: &str) -> bool {
    (1..=9).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// The URL as the `url` crate serializes it (percent-encoded, punycode host), with the few
/// characters that crate leaves but an HTML attribute's URL must not hold escaped too: `[`, `]`,
/// `{`, `}`, `|`, `\`, `^`, `` ` `` and spaces after the host, a `%` not starting an escape, and
/// a second `#`.
fn conforming_url(url: &Url) -> String {
    let text = url.as_str();
    let (head, tail) = text.split_at(url[..Position::BeforePath].len());
    let mut out = String::with_capacity(text.len());
    out.push_str(head);
    let bytes = tail.as_bytes();
    let mut in_fragment = false;
    for (i, c) in tail.char_indices() {
        let is_escape = || {
            bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        };
        match c {
            '#' if !in_fragment => {
                in_fragment = true;
                out.push(c);
            }
            '%' if is_escape() => out.push(c),
            '#' | '%' | '[' | ']' | '{' | '}' | '|' | '\\' | '^' | '`' | '"' | '<' | '>' | ' ' => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            c if c.is_ascii_control() || !c.is_ascii() => {
                let mut buffer = [0; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// An id must be non-empty, without white space, unique in the page, and not one the page
/// template uses. The first of equal ids, in document order, keeps it.
fn drop_bad_ids(tree: &mut Tree<Node>, root: NodeId) {
    let elements: Vec<NodeId> = match tree.get(root) {
        Some(root) => root
            .descendants()
            .filter(|n| n.value().is_element())
            .map(|n| n.id())
            .collect(),
        None => return,
    };
    let mut seen: HashSet<String> = RESERVED_IDS.iter().map(|id| id.to_string()).collect();
    for id in elements {
        if let Some(mut node) = tree.get_mut(id) {
            if let Node::Element(element) = node.value() {
                element.attrs.retain(|(name, value)| {
                    &*name.local != "id"
                        || (!value.is_empty()
                            && !value.contains(is_html_space)
                            && seen.insert(value.to_string()))
                });
            }
        }
    }
}

/// HTML's ASCII white space.
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_without_target_keeps_no_link_attributes() {
        assert_eq!(
            conform("<a rel=\"noopener\" title=\"t\" id=\"x\">click</a>"),
            "<a id=\"x\" title=\"t\">click</a>"
        );
        assert_eq!(
            conform("<a href=\"https://a.example/\" rel=\"noopener\">a</a>"),
            "<a href=\"https://a.example/\" rel=\"noopener\">a</a>"
        );
    }

    #[test]
    fn urls_of_other_schemes_and_other_url_attributes_are_dropped() {
        assert_eq!(
            conform(
                "<a href=\"javascript:alert(1)\">j</a><img src=\"data:image/png,x\" alt=\"d\">\
                 <a href=\"tel:+41221234567\">t</a>"
            ),
            "<a>j</a>d<a href=\"tel:+41221234567\">t</a>"
        );
        for name in OTHER_URL_ATTRIBUTES {
            assert_eq!(
                conform(&format!("<q {name}=\"javascript:x\">q</q>")),
                "<q>q</q>",
                "{name}"
            );
        }
    }

    #[test]
    fn images_have_a_source_and_a_text_alternative() {
        assert_eq!(
            conform("<img src=\"https://a.example/x.png\">"),
            "<img alt=\"\" src=\"https://a.example/x.png\">"
        );
        assert_eq!(conform("a <img alt=\"a map\"> b"), "a a map b");
        assert_eq!(conform("a <img> b"), "a  b");
    }

    #[test]
    fn urls_are_escaped_as_html_wants() {
        let url = |s: &str| conforming_url(&Url::parse(s).unwrap());
        assert_eq!(url("https://x.example/a b"), "https://x.example/a%20b");
        assert_eq!(
            url("https://x.example/[x]|^"),
            "https://x.example/%5Bx%5D%7C%5E"
        );
        assert_eq!(
            url("https://x.example/%zz%41"),
            "https://x.example/%25zz%41"
        );
        assert_eq!(
            url("https://x.example/?q=<{}>#a#b"),
            "https://x.example/?q=%3C%7B%7D%3E#a%23b"
        );
        assert_eq!(url("https://[::1]:8080/x"), "https://[::1]:8080/x");
        assert_eq!(url("mailto:a b@x.example"), "mailto:a%20b@x.example");
        assert_eq!(
            url("https://bücher.example/ü"),
            "https://xn--bcher-kva.example/%C3%BC"
        );
        assert_eq!(
            conform("<a href=\"https:\">x</a><img src=\"http://[::1\" alt=\"y\">"),
            "<a>x</a>y"
        );
    }

    #[test]
    fn a_link_inside_a_link_is_unwrapped() {
        // The parser nests links only through a table cell; unwrapping the table (not allowed
        // inside a span) leaves the inner link directly in the outer one.
        assert_eq!(
            conform(
                "<span><a href=\"https://a.example/\">x<table><tr><td>\
                 <a href=\"https://b.example/\">y</a></td></tr></table></a></span>"
            ),
            "<span><a href=\"https://a.example/\">xy</a></span>"
        );
    }

    #[test]
    fn elements_outside_their_parent_are_unwrapped() {
        assert_eq!(conform("<li>item</li>"), "item");
        assert_eq!(conform("<dd>d</dd><dt>t</dt>"), "dt");
        assert_eq!(conform("<figcaption>f</figcaption>"), "f");
        assert_eq!(conform("<summary>s</summary><rt>r</rt>"), "sr");
        assert_eq!(conform("<h1><p>p</p></h1>"), "<h1>p</h1>");
        assert_eq!(
            conform("<header><header>h</header><footer>f</footer></header>"),
            "<header>hf</header>"
        );
        assert_eq!(
            conform("<dl><dt><h2>t</h2></dt><dd>d</dd></dl>"),
            "<dl><dt>t</dt><dd>d</dd></dl>"
        );
        assert_eq!(
            conform(
                "<figure><figcaption>a</figcaption><p>x</p><figcaption>b</figcaption></figure>"
            ),
            "<figure><figcaption>a</figcaption><p>x</p>b</figure>"
        );
    }

    #[test]
    fn containers_without_their_parts_are_unwrapped() {
        assert_eq!(conform("<ul><div>d</div><li>i</li></ul>"), "<div>d</div>i");
        assert_eq!(
            conform("<ul>\n<li>i</li>\n</ul>"),
            "<ul>\n<li>i</li>\n</ul>"
        );
        assert_eq!(conform("<dl><dd>d</dd></dl>"), "d");
        assert_eq!(conform("<details>text</details>"), "text");
        assert_eq!(
            conform("<details><summary>s</summary>x<summary>t</summary></details>"),
            "<details><summary>s</summary>xt</details>"
        );
        assert_eq!(conform("<ruby>a<rt>b</rt>c</ruby>"), "abc");
        assert_eq!(conform("<ruby><rt>b</rt></ruby>"), "b");
        assert_eq!(
            conform("<ruby>a<rt>b</rt></ruby>"),
            "<ruby>a<rt>b</rt></ruby>"
        );
    }

    #[test]
    fn invalid_attribute_values_are_dropped() {
        assert_eq!(
            conform("<ol start=\"x\"><li>a</li></ol><ol start=\"-2\"><li>b</li></ol>"),
            "<ol><li>a</li></ol><ol start=\"-2\"><li>b</li></ol>"
        );
        assert_eq!(
            conform("<table><tr><td colspan=\"0\" rowspan=\"2\">c</td></tr></table>"),
            "<table><tbody><tr><td rowspan=\"2\">c</td></tr></tbody></table>"
        );
        assert_eq!(
            conform("<img src=\"https://a.example/i.png\" alt=\"a\" width=\"10px\" height=\"5\">"),
            "<img alt=\"a\" height=\"5\" src=\"https://a.example/i.png\">"
        );
        assert_eq!(
            conform("<p id=\"\">a</p><p id=\"a b\">b</p><p id=\"x\">c</p><p id=\"x\">d</p><p id=\"main\">e</p>"),
            "<p>a</p><p>b</p><p id=\"x\">c</p><p>d</p><p>e</p>"
        );
    }

    #[test]
    fn reserved_ids_are_those_of_the_page_template() {
        let template = include_str!("../../templates/base.html");
        for part in template.split(" id=\"").skip(1) {
            let id = part.split('"').next().unwrap_or_default();
            assert!(
                RESERVED_IDS.contains(&id),
                "templates/base.html uses id {id:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let html = "<span>".repeat(100_000) + "x";
        assert!(conform(&html).contains('x'));
    }
}
