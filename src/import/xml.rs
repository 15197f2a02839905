//! Reading XML as exports really are: lenient about what real files get wrong.
//!
//! Export files (Blogger, WordPress) and feeds found in the wild are often not well-formed: a
//! stray `]]>` inside CDATA, a namespace prefix never declared (`app:`, `wp:`), a bare `&`, HTML
//! entities (`&nbsp;`), control characters, an encoding declaration that does not match the
//! bytes, mismatched end tags. A strict parser refuses files that users expect to load, so this
//! module recovers what a lenient reader can, and the three XML readers share it:
//!
//! - [`Lenient`] is a [`BufRead`] adapter that turns any byte stream into valid UTF-8 without the
//!   control characters XML forbids, before the parser sees it, and counts lines;
//! - [`XmlReader`] streams simplified events (names resolved to a known [`Ns`], text already
//!   decoded) and reads one item at a time as a small [`Node`] tree, so memory stays bounded by
//!   the largest item, not the file.

use std::io::{self, BufRead};

use chrono::{DateTime, FixedOffset};
use encoding_rs::Encoding;
use quick_xml::events::Event;

use url::Url;

use super::{Item, Position, Unreadable};
use crate::article::Timestamp;

/// How many bytes of the start are read to find a byte order mark and the XML declaration.
const SNIFF_BYTES: usize = 1024;

/// How invalid bytes are decoded.
enum Decoding {
    /// Valid UTF-8 sequences are UTF-8; each byte that is not is decoded with this single-byte
    /// encoding (the declared one, or windows-1252 when UTF-8 was declared: files that say UTF-8
    /// but hold Latin-1 are the common mistake).
    Mixed(&'static Encoding),
    /// The whole stream is in a legacy multi-byte encoding (Shift_JIS, GBK…) or UTF-16.
    Whole(Box<encoding_rs::Decoder>),
}

/// A [`BufRead`] adapter giving valid UTF-8 without the control characters XML forbids
/// (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F), whatever the input holds. A byte order
/// mark is dropped. It counts the newlines the consumer has consumed, for line numbers.
pub struct Lenient<R> {
    inner: R,
    decoding: Option<Decoding>,
    out: Vec<u8>,
    pos: usize,
    /// The start of a UTF-8 sequence split across the inner reader's buffers.
    carry: Vec<u8>,
    /// Converted bytes on their way to the CDATA repair.
    staged: Vec<u8>,
    repair: CdataRepair,
    eof: bool,
    newlines: u64,
}

impl<R: BufRead> Lenient<R> {
    /// Wraps `inner`; nothing is read until the first call.
    pub fn new(inner: R) -> Lenient<R> {
        Lenient {
            inner,
            decoding: None,
            out: Vec::with_capacity(16 * 1024),
            pos: 0,
            carry: Vec::new(),
            staged: Vec::new(),
            repair: CdataRepair::default(),
            eof: false,
            newlines: 0,
        }
    }

    /// Newlines consumed so far (the line of the next byte is this plus one).
    pub fn newlines(&self) -> u64 {
        self.newlines
    }

    /// Reads the first bytes, picks the decoding from the byte order mark or the declaration,
    /// and converts them.
    fn start(&mut self) -> io::Result<()> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        while head.len() < SNIFF_BYTES {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let take = chunk.len().min(SNIFF_BYTES - head.len());
            head.extend_from_slice(&chunk[..take]);
            self.inner.consume(take);
        }
        let (mut decoding, skip) = sniff(&head);
        self.staged.clear();
        convert(
            &head[skip..],
            self.eof,
            &mut decoding,
            &mut self.staged,
            &mut self.carry,
        );
        self.repair.feed(&self.staged, self.eof, &mut self.out);
        self.decoding = Some(decoding);
        Ok(())
    }

    /// Converts the next chunk of the inner reader into `out`.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        let Some(decoding) = self.decoding.as_mut() else {
            return self.start();
        };
        self.staged.clear();
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            self.eof = true;
            convert(&[], true, decoding, &mut self.staged, &mut self.carry);
            self.repair.feed(&self.staged, true, &mut self.out);
            return Ok(());
        }
        let taken = chunk.len();
        if self.carry.is_empty() {
            convert(chunk, false, decoding, &mut self.staged, &mut self.carry);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            convert(&joined, false, decoding, &mut self.staged, &mut self.carry);
        }
        self.inner.consume(taken);
        self.repair.feed(&self.staged, false, &mut self.out);
        Ok(())
    }
}

impl<R: BufRead> io::Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lenient<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        // A chunk may convert to nothing (all control characters, or a carried partial
        // sequence), so loop until there is output or the input ends.
        while self.pos >= self.out.len() && !(self.eof && self.decoding.is_some()) {
            self.refill()?;
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        let end = (self.pos + amount).min(self.out.len());
        self.newlines += count_newlines(&self.out[self.pos..end]);
        self.pos = end;
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Picks the decoding from the first bytes; returns it with the length of a byte order mark.
fn sniff(head: &[u8]) -> (Decoding, usize) {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return (Decoding::Mixed(encoding_rs::WINDOWS_1252), 3);
    }
    if head.starts_with(b"\xFF\xFE") {
        let decoder = encoding_rs::UTF_16LE.new_decoder_without_bom_handling();
        return (Decoding::Whole(Box::new(decoder)), 2);
    }
    if head.starts_with(b"\xFE\xFF") {
        let decoder = encoding_rs::UTF_16BE.new_decoder_without_bom_handling();
        return (Decoding::Whole(Box::new(decoder)), 2);
    }
    let declared = declared_encoding(head).and_then(Encoding::for_label);
    let decoding = match declared {
        Some(encoding) if encoding.is_single_byte() => Decoding::Mixed(encoding),
        // A UTF-16 declaration without a byte order mark over ASCII-looking bytes is wrong.
        // A multi-byte declaration over bytes that read as UTF-8 is believed only when the
        // start is plain ASCII (nothing to tell them apart by).
        Some(encoding)
            if encoding != encoding_rs::UTF_8
                && encoding != encoding_rs::UTF_16LE
                && encoding != encoding_rs::UTF_16BE
                && !looks_like_utf8(head) =>
        {
            Decoding::Whole(Box::new(encoding.new_decoder_without_bom_handling()))
        }
        _ => Decoding::Mixed(encoding_rs::WINDOWS_1252),
    };
    (decoding, 0)
}

/// True when `head` holds non-ASCII bytes that are all valid UTF-8 (a sequence cut by the end
/// of `head` allowed).
fn looks_like_utf8(head: &[u8]) -> bool {
    if head.is_ascii() {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && !head[..error.valid_up_to()].is_ascii(),
    }
}

/// The `encoding` of an XML declaration at the start of `head`, if any.
fn declared_encoding(head: &[u8]) -> Option<&[u8]> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let declaration = &head[..end];
    let at = declaration.windows(8).position(|w| w == b"encoding")?;
    let rest = &declaration[at + 8..];
    let quote_at = rest.iter().position(|&b| b == b'"' || b == b'\'')?;
    let quote = rest[quote_at];
    let value = &rest[quote_at + 1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(&value[..close])
}

/// Converts `input` to UTF-8 into `out`, keeping an incomplete trailing sequence in `carry`
/// unless `at_end`.
fn convert(
    input: &[u8],
    at_end: bool,
    decoding: &mut Decoding,
    out: &mut Vec<u8>,
    carry: &mut Vec<u8>,
) {
    match decoding {
        Decoding::Mixed(fallback) => {
            let fallback = *fallback;
            if at_end && input.is_empty() {
                for byte in std::mem::take(carry) {
                    push_single_byte(fallback, byte, out);
                }
                return;
            }
            let mut rest = input;
            loop {
                match std::str::from_utf8(rest) {
                    Ok(valid) => {
                        push_allowed(valid.as_bytes(), out);
                        break;
                    }
                    Err(error) => {
                        let valid = error.valid_up_to();
                        push_allowed(&rest[..valid], out);
                        match error.error_len() {
                            Some(bad) => {
                                for &byte in &rest[valid..valid + bad] {
                                    push_single_byte(fallback, byte, out);
                                }
                                rest = &rest[valid + bad..];
                            }
                            None if at_end => {
                                for &byte in &rest[valid..] {
                                    push_single_byte(fallback, byte, out);
                                }
                                break;
                            }
                            None => {
                                carry.extend_from_slice(&rest[valid..]);
                                break;
                            }
                        }
                    }
                }
            }
        }
        Decoding::Whole(decoder) => {
            let mut text = String::with_capacity(
                decoder
                    .max_utf8_buffer_length(input.len())
                    .unwrap_or(input.len() * 3 + 16),
            );
            let _ = decoder.decode_to_string(input, &mut text, at_end);
            push_allowed(text.as_bytes(), out);
        }
    }
}

/// Appends `bytes` (valid UTF-8) without the control characters XML forbids.
fn push_allowed(bytes: &[u8], out: &mut Vec<u8>) {
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| is_forbidden_control(b)) {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

fn is_forbidden_control(byte: u8) -> bool {
    byte < 0x20 && byte != b'\t' && byte != b'\n' && byte != b'\r'
}

fn push_single_byte(encoding: &'static Encoding, byte: u8, out: &mut Vec<u8>) {
    let bytes = [byte];
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    push_allowed(text.as_bytes(), out);
}

/// Repairs CDATA sections ended early by a stray `]]>` in their content (a code sample, a
/// nested array index `a[b[1]]>`), before the parser sees them.
///
/// A real end of a section is followed (after white space) by the end tag of the element
/// holding it, or by another section (`]]]]><![CDATA[>` is how exporters write `]]>`). A `]]>`
/// followed by anything else is taken as content and rewritten as `]]]]><![CDATA[>`, which the
/// parser reads back as `]]>` inside the section. Mixed content (`<a><![CDATA[x]]> y</a>`)
/// would be misread as one section, but exports and feeds do not write it.
#[derive(Default)]
struct CdataRepair {
    in_cdata: bool,
    /// The name of the last start tag: the element holding a section.
    element: Vec<u8>,
    /// Bytes not yet decided: a token cut by the end of a buffer.
    held: Vec<u8>,
}

/// The longest start-tag name kept while waiting for the rest of it.
const MAX_HELD_NAME: usize = 256;
const CDATA_START: &[u8] = b"<![CDATA[";
/// The longest run of white space after a `]]>` kept while waiting for what follows it; a
/// `]]>` followed by more is taken as the real end of its section.
const MAX_HELD_SPACE: usize = 1024;

/// What follows a `]]>`.
enum CdataEnd {
    Real,
    Stray,
    NeedMore,
}

impl CdataRepair {
    fn feed(&mut self, input: &[u8], at_end: bool, out: &mut Vec<u8>) {
        let joined;
        let data: &[u8] = if self.held.is_empty() {
            input
        } else {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(input);
            joined = held;
            &joined
        };
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if !self.in_cdata {
                let Some(open) = rest.iter().position(|&b| b == b'<') else {
                    out.extend_from_slice(rest);
                    return;
                };
                out.extend_from_slice(&rest[..open]);
                let tag = &rest[open..];
                if tag.starts_with(CDATA_START) {
                    out.extend_from_slice(CDATA_START);
                    self.in_cdata = true;
                    at += open + CDATA_START.len();
                    continue;
                }
                if !at_end && tag.len() < CDATA_START.len() && CDATA_START.starts_with(tag) {
                    self.held = tag.to_vec();
                    return;
                }
                if tag.len() > 1
                    && (tag[1].is_ascii_alphabetic() || tag[1] == b'_' || tag[1] >= 0x80)
                {
                    let name_end = tag[1..]
                        .iter()
                        .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/');
                    match name_end {
                        Some(end) => {
                            self.element = tag[1..1 + end].to_vec();
                            out.extend_from_slice(&tag[..1 + end]);
                            at += open + 1 + end;
                            continue;
                        }
                        None if !at_end && tag.len() < MAX_HELD_NAME => {
                            self.held = tag.to_vec();
                            return;
                        }
                        None => {}
                    }
                }
                if !at_end && tag.len() == 1 {
                    self.held = tag.to_vec();
                    return;
                }
                out.push(b'<');
                at += open + 1;
            } else {
                let Some(close) = rest.windows(3).position(|w| w == b"]]>") else {
                    // Keep a possible `]]` cut by the buffer's end.
                    let keep = if at_end { 0 } else { rest.len().min(2) };
                    out.extend_from_slice(&rest[..rest.len() - keep]);
                    self.held = rest[rest.len() - keep..].to_vec();
                    return;
                };
                out.extend_from_slice(&rest[..close]);
                match self.classify(&rest[close + 3..], at_end) {
                    CdataEnd::Real => {
                        out.extend_from_slice(b"]]>");
                        self.in_cdata = false;
                    }
                    CdataEnd::Stray => out.extend_from_slice(b"]]]]><![CDATA[>"),
                    CdataEnd::NeedMore => {
                        self.held = rest[close..].to_vec();
                        return;
                    }
                }
                at += close + 3;
            }
        }
    }

    fn classify(&self, after: &[u8], at_end: bool) -> CdataEnd {
        let Some(start) = after.iter().position(|b| !b.is_ascii_whitespace()) else {
            // Every buffer joins what is held to what comes next: holding an unbounded run
            // of white space made reading quadratic in its length.
            return if at_end || after.len() > MAX_HELD_SPACE {
                CdataEnd::Real
            } else {
                CdataEnd::NeedMore
            };
        };
        let next = &after[start..];
        if next.starts_with(CDATA_START) {
            return CdataEnd::Real;
        }
        // The holder's end tag: `</name` then `>` or white space (`</c` must not match `</code>`).
        let mut end_tag = b"</".to_vec();
        end_tag.extend_from_slice(&self.element);
        let pending = if at_end {
            CdataEnd::Real
        } else {
            CdataEnd::NeedMore
        };
        if next.len() < CDATA_START.len() && CDATA_START.starts_with(next) {
            return pending;
        }
        if next.len() <= end_tag.len() {
            return if end_tag.starts_with(next) {
                pending
            } else {
                CdataEnd::Stray
            };
        }
        let delimited = next[end_tag.len()] == b'>' || next[end_tag.len()].is_ascii_whitespace();
        if next.starts_with(&end_tag) && delimited {
            CdataEnd::Real
        } else {
            CdataEnd::Stray
        }
    }
}

/// The namespaces the readers know. A prefix declared with one of their URIs resolves to it;
/// a prefix never declared falls back to its conventional name (`wp:` is WordPress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// No namespace (RSS 2.0, and RSS 1.0's own namespace, which uses the same names).
    None,
    /// Atom 1.0, `http://www.w3.org/2005/Atom`.
    Atom,
    /// XHTML, inside Atom `type="xhtml"` constructs.
    Xhtml,
    /// RDF, for RSS 1.0's `rdf:RDF`.
    Rdf,
    /// RSS content module (`content:encoded`).
    Content,
    /// Dublin Core (`dc:creator`, `dc:date`).
    Dc,
    /// WordPress's export namespace, any version (`wp:post_type`).
    Wp,
    /// WordPress's excerpt namespace (`excerpt:encoded`).
    Excerpt,
    /// Atom Publishing Protocol, old and new (`app:draft`).
    App,
    /// Blogger's 2018 export namespace (`blogger:type`).
    Blogger,
    /// Atom threading extensions (`thr:in-reply-to`).
    Thr,
    /// Feed history, RFC 5005 (`fh:complete`).
    Fh,
    /// Any other namespace.
    Other,
}

impl Ns {
    fn from_uri(uri: &str) -> Ns {
        let uri = uri.trim();
        match uri {
            "" | "http://purl.org/rss/1.0/" => Ns::None,
            "http://www.w3.org/2005/Atom" => Ns::Atom,
            "http://www.w3.org/1999/xhtml" => Ns::Xhtml,
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Ns::Rdf,
            "http://purl.org/rss/1.0/modules/content/" => Ns::Content,
            "http://purl.org/dc/elements/1.1/" | "http://purl.org/dc/terms/" => Ns::Dc,
            "http://purl.org/atom/app#" | "http://www.w3.org/2007/app" => Ns::App,
            "http://purl.org/syndication/thread/1.0" => Ns::Thr,
            "http://purl.org/syndication/history/1.0" => Ns::Fh,
            _ if uri.starts_with("http://wordpress.org/export/")
                || uri.starts_with("https://wordpress.org/export/") =>
            {
                if uri.trim_end_matches('/').ends_with("/excerpt") {
                    Ns::Excerpt
                } else {
                    Ns::Wp
                }
            }
            _ if uri.starts_with("http://schemas.google.com/blogger/2018") => Ns::Blogger,
            _ => Ns::Other,
        }
    }

    /// What exporters mean by a prefix they forgot to declare.
    fn from_conventional_prefix(prefix: &str) -> Ns {
        match prefix {
            "atom" => Ns::Atom,
            "xhtml" => Ns::Xhtml,
            "rdf" => Ns::Rdf,
            "content" => Ns::Content,
            "dc" | "dcterms" => Ns::Dc,
            "wp" => Ns::Wp,
            "excerpt" => Ns::Excerpt,
            "app" => Ns::App,
            "blogger" => Ns::Blogger,
            "thr" => Ns::Thr,
            "fh" => Ns::Fh,
            _ => Ns::Other,
        }
    }
}

/// An element's name: its namespace and local part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The resolved namespace.
    pub ns: Ns,
    /// The local part (`post_type` of `wp:post_type`).
    pub local: String,
}

impl Name {
    /// True when the name is `local` in `ns`.
    pub fn is(&self, ns: Ns, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// True when the name is Atom's `local`, or `local` in no namespace (exports that forget
    /// Atom's declaration write its names bare).
    pub fn is_atom(&self, local: &str) -> bool {
        matches!(self.ns, Ns::Atom | Ns::None) && self.local == local
    }
}

/// A start tag.
#[derive(Debug, Clone)]
pub struct Element {
    /// The resolved name.
    pub name: Name,
    /// The name as written (`wp:post_type`), for serializing markup back.
    pub qname: String,
    /// Attributes as written (qualified names), values decoded.
    pub attrs: Vec<(String, String)>,
    /// 1-based line of the start tag.
    pub line: u64,
}

/// What [`XmlReader::next_event`] gives.
#[derive(Debug)]
pub enum XmlEvent {
    /// A start tag (an empty element gives a start and an end).
    Start(Element),
    /// An end tag, by its name as written.
    End(String),
    /// Text, CDATA and references, merged and decoded.
    Text(String),
    /// The end of the input.
    Eof,
}

/// Why reading stopped before the end: the parser met something it could not get past.
#[derive(Debug, Clone)]
pub struct XmlError {
    /// 1-based line where it happened.
    pub line: u64,
    /// In words.
    pub message: String,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not readable XML at line {}: {}",
            self.line, self.message
        )
    }
}

/// A streaming, lenient XML reader (quick-xml over [`Lenient`]).
pub struct XmlReader<R: BufRead> {
    reader: quick_xml::Reader<Lenient<R>>,
    buf: Vec<u8>,
    /// Namespace declarations in scope: prefix (`""` for the default), namespace, depth.
    scopes: Vec<(String, Ns, usize)>,
    depth: usize,
    pending: Option<XmlEvent>,
    text: TextBuilder,
    failed: bool,
}

impl<R: BufRead> XmlReader<R> {
    /// Reads `input` leniently.
    pub fn new(input: R) -> XmlReader<R> {
        let mut reader = quick_xml::Reader::from_reader(Lenient::new(input));
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.allow_dangling_amp = true;
        config.expand_empty_elements = true;
        config.check_comments = false;
        XmlReader {
            reader,
            buf: Vec::with_capacity(4096),
            scopes: Vec::new(),
            depth: 0,
            pending: None,
            text: TextBuilder::default(),
            failed: false,
        }
    }

    /// The next event. After an error, every later call gives [`XmlEvent::Eof`].
    ///
    /// Errors: the parser cannot get past something (a tag cut off by the end of the file).
    pub fn next_event(&mut self) -> Result<XmlEvent, XmlError> {
        if let Some(event) = self.pending.take() {
            return Ok(event);
        }
        if self.failed {
            return Ok(XmlEvent::Eof);
        }
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(error) => {
                    self.failed = true;
                    return Err(XmlError {
                        line: self.reader.get_ref().newlines() + 1,
                        message: error.to_string(),
                    });
                }
            };
            let markup = match event {
                Event::Text(text) => {
                    self.text.raw(&String::from_utf8_lossy(&text));
                    continue;
                }
                Event::CData(data) => {
                    self.text.cdata(&String::from_utf8_lossy(&data));
                    continue;
                }
                Event::GeneralRef(reference) => {
                    let name = String::from_utf8_lossy(&reference);
                    self.text.raw(&format!("&{name};"));
                    continue;
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
                // Empty elements arrive as a start and an end (`expand_empty_elements`).
                Event::Start(start) | Event::Empty(start) => {
                    let tag_newlines = count_newlines(&start);
                    let line = (self.reader.get_ref().newlines() + 1).saturating_sub(tag_newlines);
                    let qname = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    let mut attrs = Vec::new();
                    for attribute in start.attributes().with_checks(false) {
                        let Ok(attribute) = attribute else { break };
                        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                        let mut value = String::new();
                        decode_text(&String::from_utf8_lossy(&attribute.value), &mut value);
                        attrs.push((key, value));
                    }
                    self.depth += 1;
                    for (key, value) in &attrs {
                        if key == "xmlns" {
                            self.scopes
                                .push((String::new(), Ns::from_uri(value), self.depth));
                        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                            self.scopes
                                .push((prefix.to_string(), Ns::from_uri(value), self.depth));
                        }
                    }
                    let name = self.resolve(&qname);
                    XmlEvent::Start(Element {
                        name,
                        qname,
                        attrs,
                        line,
                    })
                }
                Event::End(end) => {
                    let qname = String::from_utf8_lossy(end.name().as_ref()).into_owned();
                    let depth = self.depth;
                    self.scopes.retain(|(_, _, at)| *at < depth);
                    self.depth = self.depth.saturating_sub(1);
                    XmlEvent::End(qname)
                }
                Event::Eof => XmlEvent::Eof,
            };
            if self.text.is_empty() {
                return Ok(markup);
            }
            self.pending = Some(markup);
            return Ok(XmlEvent::Text(self.text.finish()));
        }
    }

    fn resolve(&self, qname: &str) -> Name {
        let (prefix, local) = match qname.split_once(':') {
            Some((prefix, local)) => (prefix, local),
            None => ("", qname),
        };
        let declared = self
            .scopes
            .iter()
            .rev()
            .find(|(declared, _, _)| declared == prefix)
            .map(|(_, ns, _)| *ns);
        let ns = match declared {
            Some(ns) => ns,
            None if prefix.is_empty() => Ns::None,
            None => Ns::from_conventional_prefix(prefix),
        };
        Name {
            ns,
            local: local.to_string(),
        }
    }

    /// Reads the rest of the element `start` (just returned by [`XmlReader::next_event`]) as a tree.
    ///
    /// An end tag closes the nearest open element of its name (closing those inside it);
    /// an end tag matching no open element is ignored, so mismatched tags do not derail the
    /// items after. Errors: the input ends (or cannot be read) before the element closes; the
    /// error holds what was read and why.
    ///
    /// Elements nested deeper than [`MAX_TREE_DEPTH`] are left out of the tree (their text goes
    /// to the deepest element kept; their end tags are matched like any other).
    pub fn read_tree(&mut self, start: Element) -> Result<Node, Box<Partial>> {
        let mut open = vec![Node::new(start)];
        loop {
            let event = match self.next_event() {
                Ok(event) => event,
                Err(error) => {
                    return Err(Box::new(Partial {
                        node: close_all(open),
                        reason: error.to_string(),
                    }))
                }
            };
            match event {
                XmlEvent::Start(element) => {
                    if open.len() < MAX_TREE_DEPTH {
                        open.push(Node::new(element));
                    }
                }
                XmlEvent::Text(text) => {
                    if let Some(top) = open.last_mut() {
                        top.children.push(Child::Text(text));
                    }
                }
                XmlEvent::End(qname) => {
                    let Some(at) = open.iter().rposition(|node| node.qname == qname) else {
                        continue;
                    };
                    while open.len() > at + 1 {
                        close_one(&mut open);
                    }
                    if at == 0 {
                        return Ok(close_all(open));
                    }
                    close_one(&mut open);
                }
                XmlEvent::Eof => {
                    return Err(Box::new(Partial {
                        node: close_all(open),
                        reason: "the file ends inside this item".to_string(),
                    }))
                }
            }
        }
    }
}

/// How deep a tree read by [`XmlReader::read_tree`] may nest. Walking a [`Node`] (its text,
/// its markup, dropping it) recurses once per level, and the importer reads on a thread with
/// the default 2 MiB stack: an item of some thousands of nested elements (a crafted file, or
/// unescaped HTML with unclosed tags) overflowed it and aborted the process. Real content
/// nests a few dozen levels.
pub const MAX_TREE_DEPTH: usize = 512;

fn close_one(open: &mut Vec<Node>) {
    if let Some(node) = open.pop() {
        if let Some(parent) = open.last_mut() {
            parent.children.push(Child::Element(node));
        }
    }
}

fn close_all(mut open: Vec<Node>) -> Node {
    while open.len() > 1 {
        close_one(&mut open);
    }
    open.pop().unwrap_or_else(|| Node::new(Element::empty()))
}

impl Element {
    fn empty() -> Element {
        Element {
            name: Name {
                ns: Ns::None,
                local: String::new(),
            },
            qname: String::new(),
            attrs: Vec::new(),
            line: 0,
        }
    }
}

/// An element read whole, with what it contains.
#[derive(Debug, Clone)]
pub struct Node {
    /// The resolved name.
    pub name: Name,
    /// The name as written.
    pub qname: String,
    /// Attributes as written, values decoded.
    pub attrs: Vec<(String, String)>,
    /// 1-based line of the start tag.
    pub line: u64,
    /// Elements and text, in order.
    pub children: Vec<Child>,
}

/// What an element holds.
#[derive(Debug, Clone)]
pub enum Child {
    /// An element.
    Element(Node),
    /// Decoded text.
    Text(String),
}

/// An element cut short: what was read, and why it stopped.
#[derive(Debug)]
pub struct Partial {
    /// The element as far as it was read.
    pub node: Node,
    /// Why it stopped, in words.
    pub reason: String,
}

impl Node {
    fn new(element: Element) -> Node {
        Node {
            name: element.name,
            qname: element.qname,
            attrs: element.attrs,
            line: element.line,
            children: Vec::new(),
        }
    }

    /// True when the element is `local` in `ns`.
    pub fn is(&self, ns: Ns, local: &str) -> bool {
        self.name.is(ns, local)
    }

    /// True when the element is Atom's `local`, or `local` in no namespace (exports that forget
    /// Atom's declaration write its names bare).
    pub fn is_atom(&self, local: &str) -> bool {
        self.name.is_atom(local)
    }

    /// The child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter_map(|child| match child {
            Child::Element(node) => Some(node),
            Child::Text(_) => None,
        })
    }

    /// The first child element `local` in `ns`.
    pub fn child(&self, ns: Ns, local: &str) -> Option<&Node> {
        self.elements().find(|node| node.is(ns, local))
    }

    /// The first child element that is Atom's `local` (see [`Node::is_atom`]).
    pub fn child_atom(&self, local: &str) -> Option<&Node> {
        self.elements().find(|node| node.is_atom(local))
    }

    /// The trimmed text of the first child `local` in `ns`, when not empty.
    pub fn child_text(&self, ns: Ns, local: &str) -> Option<String> {
        self.child(ns, local).and_then(Node::trimmed_text)
    }

    /// An attribute's value, by its name as written.
    pub fn attr(&self, qname: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == qname)
            .map(|(_, value)| value.as_str())
    }

    /// All the text inside, markup left out.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.push_text(&mut out);
        out
    }

    fn push_text(&self, out: &mut String) {
        for child in &self.children {
            match child {
                Child::Text(text) => out.push_str(text),
                Child::Element(node) => node.push_text(out),
            }
        }
    }

    /// The text inside, trimmed; `None` when that is empty.
    pub fn trimmed_text(&self) -> Option<String> {
        let text = self.text();
        let trimmed = text.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }

    /// The element's content as markup: text escaped, elements written back as they were
    /// named. Used for XHTML content, and for HTML an exporter forgot to escape.
    pub fn inner_markup(&self) -> String {
        let mut out = String::new();
        for child in &self.children {
            write_markup(child, &mut out);
        }
        out
    }

    /// The content as HTML: the text when the element holds only text (escaped HTML or CDATA,
    /// as it should), else its markup (HTML an exporter wrote unescaped).
    pub fn html(&self) -> String {
        if self.elements().next().is_some() {
            self.inner_markup()
        } else {
            self.text()
        }
    }
}

fn write_markup(child: &Child, out: &mut String) {
    match child {
        Child::Text(text) => escape_into(text, false, out),
        Child::Element(node) => {
            // XHTML names are written without their prefix: the result is read as HTML.
            let name = match node.name.ns {
                Ns::Xhtml => node.name.local.as_str(),
                _ => node.qname.as_str(),
            };
            out.push('<');
            out.push_str(name);
            for (key, value) in &node.attrs {
                if key == "xmlns" || key.starts_with("xmlns:") {
                    continue;
                }
                out.push(' ');
                out.push_str(key);
                out.push_str("=\"");
                escape_into(value, true, out);
                out.push('"');
            }
            if node.children.is_empty() && is_void_element(name) {
                out.push_str(" />");
                return;
            }
            out.push('>');
            for inner in &node.children {
                write_markup(inner, out);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn is_void_element(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

fn escape_into(text: &str, in_attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// Builds one text run from text, references and CDATA sections.
///
/// A stray `]]>` inside CDATA ends the section early: the rest of the intended content then
/// reaches the parser as text ending with the real `]]>`. When text after a CDATA section
/// holds `]]>`, everything up to its last one is taken back as CDATA content, with the stray
/// `]]>` put back in.
#[derive(Default)]
struct TextBuilder {
    out: String,
    /// Raw text read since a CDATA section, not yet known to be text or lost CDATA.
    after_cdata: Option<String>,
}

impl TextBuilder {
    fn is_empty(&self) -> bool {
        self.out.is_empty() && self.after_cdata.is_none()
    }

    fn raw(&mut self, raw: &str) {
        let Some(pending) = self.after_cdata.as_mut() else {
            decode_text(raw, &mut self.out);
            return;
        };
        pending.push_str(raw);
        if let Some(end) = pending.rfind("]]>") {
            self.out.push_str("]]>");
            self.out.push_str(&pending[..end]);
            decode_text(&pending[end + 3..], &mut self.out);
            self.after_cdata = None;
        }
    }

    fn cdata(&mut self, data: &str) {
        self.settle();
        self.out.push_str(data);
        self.after_cdata = Some(String::new());
    }

    /// Text after CDATA without a `]]>` was ordinary text.
    fn settle(&mut self) {
        if let Some(pending) = self.after_cdata.take() {
            decode_text(&pending, &mut self.out);
        }
    }

    fn finish(&mut self) -> String {
        self.settle();
        std::mem::take(&mut self.out)
    }
}

/// Decodes references in `raw` into `out`: XML's five, numeric ones, and the common HTML named
/// ones. An `&` that starts no known reference (a bare `&` in `?a=1&b=2`, `&unknown;`) is kept
/// as written. References to characters XML forbids are dropped.
pub fn decode_text(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let reference = rest[1..]
            .find(';')
            .filter(|&end| end <= 32)
            .map(|end| &rest[1..1 + end]);
        match reference.and_then(resolve_reference) {
            Some(decoded) => {
                if let Some(c) = decoded {
                    out.push(c);
                }
                rest = &rest[2 + reference.map_or(0, str::len)..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// `Some(Some(c))` for a known reference, `Some(None)` for one to drop (a forbidden character),
/// `None` when it is no known reference.
fn resolve_reference(name: &str) -> Option<Option<char>> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        let c = char::from_u32(code)?;
        let forbidden =
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || code == 0xFFFE || code == 0xFFFF;
        return Some((!forbidden).then_some(c));
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "shy" => '\u{ad}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "bull" => '•',
        "middot" => '·',
        "prime" => '′',
        "Prime" => '″',
        "dagger" => '†',
        "Dagger" => '‡',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "minus" => '−',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sect" => '§',
        "para" => '¶',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "iexcl" => '¡',
        "iquest" => '¿',
        "aacute" => 'á',
        "agrave" => 'à',
        "acirc" => 'â',
        "auml" => 'ä',
        "atilde" => 'ã',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "eacute" => 'é',
        "egrave" => 'è',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "igrave" => 'ì',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "oacute" => 'ó',
        "ograve" => 'ò',
        "ocirc" => 'ô',
        "ouml" => 'ö',
        "otilde" => 'õ',
        "oslash" => 'ø',
        "uacute" => 'ú',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "yacute" => 'ý',
        "szlig" => 'ß',
        "Aacute" => 'Á',
        "Agrave" => 'À',
        "Auml" => 'Ä',
        "Ccedil" => 'Ç',
        "Eacute" => 'É',
        "Egrave" => 'È',
        "Ntilde" => 'Ñ',
        "Oacute" => 'Ó',
        "Ouml" => 'Ö',
        "Uacute" => 'Ú',
        "Uuml" => 'Ü',
        _ => return None,
    };
    Some(Some(c))
}

/// HTML as plain text: tags removed, references decoded, runs of white space made one space,
/// trimmed. A `<` that starts no tag (`a < b`) is kept. For titles and summaries.
pub fn html_to_text(html: &str) -> String {
    let mut decoded = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        decode_text(&rest[..at], &mut decoded);
        let after = &rest[at + 1..];
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        match after.find('>').filter(|_| starts_tag) {
            Some(end) => {
                decoded.push(' ');
                rest = &after[end + 1..];
            }
            None => {
                decoded.push('<');
                rest = after;
            }
        }
    }
    decode_text(rest, &mut decoded);
    collapse_spaces(&decoded)
}

/// Runs of white space (including no-break spaces) made one space, trimmed.
pub fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Reads up to the root element of the source `name`.
///
/// Errors: the source is not XML (text before any element, a parse error, or no element).
pub fn open_root<R: BufRead>(xml: &mut XmlReader<R>, name: &str) -> crate::Result<Element> {
    loop {
        match xml.next_event() {
            Ok(XmlEvent::Start(element)) => return Ok(element),
            Ok(XmlEvent::Text(text)) if !text.trim().is_empty() => {
                return Err(crate::Error::invalid(
                    name,
                    "file",
                    "not XML (text before any element)",
                ))
            }
            Ok(XmlEvent::Text(_) | XmlEvent::End(_)) => {}
            Ok(XmlEvent::Eof) => {
                return Err(crate::Error::invalid(name, "file", "not XML (no element)"))
            }
            Err(error) => return Err(crate::Error::invalid(name, "file", error.to_string())),
        }
    }
}

/// The item a reader gives for an element it could not read to its end, with its title when
/// that much was read.
pub fn unreadable_partial(partial: &Partial, item: usize, id: Option<String>) -> Item {
    Item::Unreadable(Unreadable {
        position: Position {
            item,
            line: Some(partial.node.line),
        },
        id,
        title: partial
            .node
            .child_atom("title")
            .map(|title| html_to_text(&title.html()))
            .filter(|title| !title.is_empty()),
        reason: partial.reason.clone(),
    })
}

/// The item a reader gives when the parser stops between items: what follows is lost.
pub fn unreadable_rest(error: &XmlError, item: usize) -> Item {
    Item::Unreadable(Unreadable {
        position: Position {
            item,
            line: Some(error.line),
        },
        id: None,
        title: None,
        reason: format!("{error}; the rest of the file is not read"),
    })
}

/// `href` made absolute against `base` when there is one; as written otherwise (or when it
/// cannot be joined).
pub fn resolve_url(base: Option<&Url>, href: &str) -> String {
    let href = href.trim();
    match base.and_then(|base| base.join(href).ok()) {
        Some(url) => url.to_string(),
        None => href.to_string(),
    }
}

/// `base` with an `xml:base` attribute of `node` applied, if it has one.
pub fn with_xml_base(base: Option<&Url>, node_base: Option<&str>) -> Option<Url> {
    match node_base {
        Some(href) => match base {
            Some(base) => base.join(href.trim()).ok().or_else(|| Some(base.clone())),
            None => Url::parse(href.trim()).ok(),
        },
        None => base.cloned(),
    }
}

/// Parses an RFC 3339 date (or the variants [`Timestamp::parse`] accepts), keeping its offset.
/// Returns the reason in words when it is not one.
pub fn parse_rfc3339(field: &str, text: &str) -> Result<Timestamp, String> {
    let trimmed = text.trim();
    if let Ok(at) = DateTime::<FixedOffset>::parse_from_rfc3339(trimmed) {
        return Ok(Timestamp::new(at));
    }
    Timestamp::parse(trimmed).map_err(|_| format!("{field}: \"{trimmed}\" is not a date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenient(bytes: &[u8]) -> String {
        let mut out = String::new();
        io::Read::read_to_string(&mut Lenient::new(bytes), &mut out).unwrap();
        out
    }

    /// Reads the single root element of `xml` as a tree.
    fn tree(xml: &str) -> Node {
        let mut reader = XmlReader::new(xml.as_bytes());
        loop {
            match reader.next_event().unwrap() {
                XmlEvent::Start(element) => return reader.read_tree(element).unwrap(),
                XmlEvent::Eof => panic!("no element"),
                _ => {}
            }
        }
    }

    #[test]
    fn white_space_after_a_cdata_end_is_held_back_only_so_far() {
        // `]]>` then 65,000 spaces, read through a 1-byte buffer (as the import_readers fuzz
        // target does), took 52 s: every byte rejoined all the spaces held before it.
        let mut repair = CdataRepair::default();
        let mut out = Vec::new();
        repair.feed(b"<a><![CDATA[x]]>", false, &mut out);
        for _ in 0..10_000 {
            repair.feed(b" ", false, &mut out);
            assert!(
                repair.held.len() <= MAX_HELD_SPACE + 3,
                "{} held",
                repair.held.len()
            );
        }
        repair.feed(b"</a>", true, &mut out);
        let expected = format!("<a><![CDATA[x]]>{}</a>", " ".repeat(10_000));
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn deeply_nested_elements_stop_nesting_at_the_limit_instead_of_overflowing_the_stack() {
        // 20,000 nested elements in one item (63 KB) aborted the process with a stack
        // overflow. The importer reads on a thread with the default 2 MiB stack; so does this.
        let xml = format!("<item>{}</item>", "<a>x".repeat(20_000));
        let walked = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let node = tree(&xml);
                let mut depth = 1;
                let mut deepest = &node;
                while let Some(inner) = deepest.elements().last() {
                    depth += 1;
                    deepest = inner;
                }
                (depth, node.text().len(), node.inner_markup().len())
            })
            .unwrap()
            .join()
            .unwrap();
        let (depth, text, markup) = walked;
        assert_eq!(depth, MAX_TREE_DEPTH);
        assert_eq!(text, 20_000);
        assert!(markup > 20_000);
    }

    #[test]
    fn latin1_bytes_in_a_file_declared_utf8_read_as_windows_1252() {
        let input =
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>caf\xE9 \xE2\x80\x94 \x93ok\x94</t>";
        assert_eq!(
            lenient(input),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t>café — “ok”</t>"
        );
    }

    #[test]
    fn utf8_in_a_file_declared_latin1_stays_utf8_and_stray_bytes_use_the_declaration() {
        let input = "<?xml version='1.0' encoding='ISO-8859-1'?><t>Zürich Ελλάδα</t>"
            .as_bytes()
            .to_vec();
        assert!(lenient(&input).contains("Zürich Ελλάδα"));
        let input = b"<?xml version='1.0' encoding='ISO-8859-15'?><t>\xA4</t>";
        assert!(lenient(input).contains("<t>€</t>"), "{}", lenient(input));
    }

    #[test]
    fn legacy_multibyte_declarations_decode_unless_the_bytes_are_utf8() {
        let mut shift_jis = b"<?xml version='1.0' encoding='Shift_JIS'?><t>".to_vec();
        shift_jis.extend_from_slice(&encoding_rs::SHIFT_JIS.encode("東京").0);
        shift_jis.extend_from_slice(b"</t>");
        assert!(lenient(&shift_jis).contains("<t>東京</t>"));
        let mislabelled = "<?xml version='1.0' encoding='Shift_JIS'?><t>東京</t>";
        assert!(lenient(mislabelled.as_bytes()).contains("<t>東京</t>"));
    }

    #[test]
    fn multibyte_sequences_split_across_buffers_survive() {
        let text = "<t>Ελλάδα — 東京 é</t>".repeat(50);
        // A one-byte buffer splits every sequence.
        let input = io::BufReader::with_capacity(1, text.as_bytes());
        let mut out = String::new();
        io::Read::read_to_string(&mut Lenient::new(input), &mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn forbidden_control_characters_are_dropped_and_lines_counted() {
        assert_eq!(
            lenient(b"a\x00b\x08c\x0Bd\x0C\x1Fe\tf\r\ng"),
            "abcde\tf\r\ng"
        );
        let mut reader = Lenient::new(&b"a\nb\n\nc"[..]);
        let mut out = String::new();
        io::Read::read_to_string(&mut reader, &mut out).unwrap();
        assert_eq!(reader.newlines(), 3);
    }

    #[test]
    fn a_byte_order_mark_is_dropped_and_utf16_is_decoded() {
        assert_eq!(lenient(b"\xEF\xBB\xBF<a/>"), "<a/>");
        let utf16: Vec<u8> = "\u{feff}<a>é</a>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(lenient(&utf16), "<a>é</a>");
    }

    #[test]
    fn references_decode_leniently() {
        let mut out = String::new();
        decode_text(
            "?a=1&b=2 &amp; &nbsp;&mdash;&hellip; &bogus; &#233;&#x1F600; &#1; AT&T;",
            &mut out,
        );
        assert_eq!(out, "?a=1&b=2 & \u{a0}—… &bogus; é😀  AT&T;");
    }

    #[test]
    fn a_stray_cdata_end_is_taken_back_into_the_content() {
        let node = tree("<c><![CDATA[ a[b[1]]> c ]]></c>");
        assert_eq!(node.text(), " a[b[1]]> c ");
        // Legitimate split sections (how exporters escape `]]>`) are joined.
        let node = tree("<c><![CDATA[x]]]]><![CDATA[>y]]></c>");
        assert_eq!(node.text(), "x]]>y");
    }

    #[test]
    fn text_after_a_section_holding_its_end_is_taken_back_as_content() {
        // What the parser gives when a stray `]]>` got past the repair.
        let mut text = TextBuilder::default();
        text.cdata(" a[b[1");
        text.raw(" c &amp; ]]> &amp; d");
        assert_eq!(text.finish(), " a[b[1]]> c &amp;  & d");
        text.cdata("x");
        text.raw(" &amp; y");
        assert_eq!(text.finish(), "x & y");
    }

    #[test]
    fn a_stray_cdata_end_followed_by_markup_is_repaired_before_parsing() {
        let xml = "<c><![CDATA[<p>read <code>a[b[1]]></code> ok</p>]]></c><d>after</d>";
        let node = tree(&format!("<r>{xml}</r>"));
        assert_eq!(
            node.child_text(Ns::None, "c").as_deref(),
            Some("<p>read <code>a[b[1]]></code> ok</p>")
        );
        assert_eq!(node.child_text(Ns::None, "d").as_deref(), Some("after"));
        // The same through one-byte buffers: every token is cut.
        let input = io::BufReader::with_capacity(1, xml.as_bytes());
        let mut out = String::new();
        io::Read::read_to_string(&mut Lenient::new(input), &mut out).unwrap();
        assert_eq!(
            out,
            "<c><![CDATA[<p>read <code>a[b[1]]]]><![CDATA[></code> ok</p>]]></c><d>after</d>"
        );
    }

    #[test]
    fn bare_ampersands_and_html_entities_in_text_and_attributes() {
        let node = tree("<a href=\"/?a=1&b=2&amp;c=&eacute;\">Q&A &mdash; &nbsp;x &unknown;</a>");
        assert_eq!(node.attr("href"), Some("/?a=1&b=2&c=é"));
        assert_eq!(node.text(), "Q&A — \u{a0}x &unknown;");
    }

    #[test]
    fn prefixes_resolve_by_uri_or_by_convention_when_undeclared() {
        let node = tree(
            "<rss xmlns:w=\"http://wordpress.org/export/1.2/\"><w:post_type>post</w:post_type>\
             <app:draft>yes</app:draft><content:encoded>x</content:encoded><other:x/></rss>",
        );
        assert!(node.child(Ns::Wp, "post_type").is_some());
        assert!(node.child(Ns::App, "draft").is_some());
        assert!(node.child(Ns::Content, "encoded").is_some());
        assert!(node.child(Ns::Other, "x").is_some());
    }

    #[test]
    fn default_namespace_is_scoped_to_its_element() {
        let node = tree(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><content>\
             <div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div></content><entry/></feed>",
        );
        let div = node
            .child_atom("content")
            .unwrap()
            .child(Ns::Xhtml, "div")
            .unwrap();
        assert_eq!(div.inner_markup(), "<p>x</p>");
        assert!(node.child(Ns::Atom, "entry").is_some());
    }

    #[test]
    fn mismatched_end_tags_close_the_nearest_open_element_of_their_name() {
        let node = tree("<item><a><b>x</a><c>y</c></d></item>");
        assert!(node.child(Ns::None, "a").is_some());
        assert_eq!(node.child_text(Ns::None, "c").as_deref(), Some("y"));
    }

    #[test]
    fn a_truncated_element_gives_what_was_read() {
        let mut reader = XmlReader::new("<item>\n<guid>g1</guid><title>half".as_bytes());
        let XmlEvent::Start(element) = reader.next_event().unwrap() else {
            panic!()
        };
        let partial = reader.read_tree(element).unwrap_err();
        assert_eq!(
            partial.node.child_text(Ns::None, "guid").as_deref(),
            Some("g1")
        );
        assert!(partial.reason.contains("ends inside"), "{}", partial.reason);
    }

    #[test]
    fn start_lines_are_counted() {
        let mut reader = XmlReader::new("<a>\n<b/>\n\n<c\nx='1'/></a>".as_bytes());
        let mut lines = Vec::new();
        loop {
            match reader.next_event().unwrap() {
                XmlEvent::Start(element) => lines.push((element.qname, element.line)),
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        assert_eq!(
            lines,
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("c".to_string(), 4)
            ]
        );
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(
            html_to_text("<p>Rates &amp; <em>risk</em></p>\n<p>a < b &mdash; ok</p>"),
            "Rates & risk a < b — ok"
        );
    }
}
