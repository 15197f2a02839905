//! Pure HTTP decisions, unit tested without a socket: content-coding negotiation, conditional
//! requests (RFC 9110 §13: `If-None-Match` beats `If-Modified-Since`), HTTP dates, and the
//! response for one stored representation.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

pub use crate::compress::Coding;

/// Every field line named `name` of a request, combined into one comma-separated value (RFC 9110
/// §5.3: a recipient may do so for a list-valued field, and must not act on one line alone), or
/// `None` when the request has none. A line that is not visible ASCII names nothing we could
/// match and is left out; the field is still present.
fn list_field<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, str>> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next()?.to_str().unwrap_or("");
    let Some(second) = lines.next() else {
        // The usual case, one line: no copy.
        return Some(Cow::Borrowed(first));
    };
    let mut combined = first.to_string();
    for line in std::iter::once(second).chain(lines) {
        if let Ok(text) = line.to_str() {
            combined.push_str(", ");
            combined.push_str(text);
        }
    }
    Some(Cow::Owned(combined))
}

/// The q-value the `Accept-Encoding` header gives `coding` (RFC 9110 §12.5.3). Without the
/// header every coding is acceptable but identity is preferred, which callers handle.
fn quality(accept: &str, coding: &str) -> Option<f32> {
    let mut star = None;
    let mut exact = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for param in parts {
            let param = param.trim();
            if let Some(value) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
            }
        }
        if name.eq_ignore_ascii_case(coding)
            || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip"))
        {
            exact = Some(exact.map_or(q, |e: f32| e.max(q)));
        } else if name == "*" {
            star = Some(q);
        }
    }
    exact.or(star)
}

/// Picks the coding to send given the request's `Accept-Encoding` (all its lines, combined) and
/// the variants we have. Returns `None` when the client refuses every coding we could send
/// (answer 406).
pub fn negotiate(accept: Option<&str>, has_br: bool, has_gzip: bool) -> Option<Coding> {
    let Some(accept) = accept else {
        return Some(Coding::Identity);
    };
    let q = |name: &str| quality(accept, name);
    let mut best: Option<(Coding, f32)> = None;
    // Preference among equal q-values: br, then gzip, then identity.
    for (coding, available) in [(Coding::Brotli, has_br), (Coding::Gzip, has_gzip)] {
        if !available {
            continue;
        }
        if let Some(qv) = q(coding.token()) {
            if qv > 0.0 && best.is_none_or(|(_, b)| qv > b) {
                best = Some((coding, qv));
            }
        }
    }
    // identity is acceptable unless refused explicitly (or by `*;q=0` without its own entry).
    let identity_q = quality(accept, "identity").unwrap_or(0.001);
    match best {
        Some((coding, qv)) if qv >= identity_q => Some(coding),
        _ if identity_q > 0.0 => Some(Coding::Identity),
        Some((coding, _)) => Some(coding),
        // Identity refused and nothing acceptable named: a client that refuses identity wants
        // compression, so send gzip (understood everywhere), else brotli, rather than nothing (RFC 9110 §12.5.3
        // allows either); 406 only when there is no compressed variant.
        None if has_gzip && !matches!(q("gzip"), Some(q) if q <= 0.0) => Some(Coding::Gzip),
        None if has_br && !matches!(q("br"), Some(q) if q <= 0.0) => Some(Coding::Brotli),
        None => None,
    }
}

/// True when the client's cached copy is current, so the answer is 304.
///
/// `If-None-Match` (weak comparison; `*`; any of a list, over all its lines) decides when
/// present; otherwise `If-Modified-Since` compared at one-second resolution, and only when the
/// resource has a `last_modified` (`None`: no `Last-Modified` was sent, so the condition cannot
/// be evaluated and is ignored, RFC 9110 §13.1.3). `etags` are every entity tag of this
/// resource's variants (their content is the same, only the coding differs).
pub fn is_not_modified(headers: &HeaderMap, etags: &[&str], last_modified: Option<i64>) -> bool {
    if let Some(inm) = list_field(headers, &header::IF_NONE_MATCH) {
        return inm.split(',').map(str::trim).any(|tag| {
            if tag == "*" {
                return true;
            }
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            etags.contains(&opaque)
        });
    }
    let Some(last_modified) = last_modified else {
        return false;
    };
    // A single date, not a list: a second line makes it invalid, and it is ignored.
    let mut lines = headers.get_all(header::IF_MODIFIED_SINCE).iter();
    match (lines.next(), lines.next()) {
        (Some(ims), None) => ims
            .to_str()
            .ok()
            .and_then(parse_http_date)
            .is_some_and(|since| last_modified <= since),
        _ => false,
    }
}

/// True when a browser navigates to a feed: the request asks for HTML and names neither feed
/// format. Browsers show `application/atom+xml` and `application/rss+xml` as plain text, so they
/// get the feed's browser view instead, an HTML page that shows the entries and explains how to
/// subscribe. Feed readers name the feed types, or send no Accept (or `*/*`), and get the feed.
/// `accept` is all the request's `Accept` lines, combined.
pub fn wants_browser_view(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let accepts = |media: &str| quality(accept, media).is_some_and(|q| q > 0.0);
    accepts("text/html") && !accepts("application/atom+xml") && !accepts("application/rss+xml")
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(epoch: i64) -> String {
    DateTime::<Utc>::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Parses the three HTTP date formats RFC 9110 requires recipients to accept.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    for format in [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc().timestamp());
        }
    }
    None
}

/// Headers and bodies of one resource, prepared once when it is loaded so that answering a
/// request is a header check and a reference-counted copy.
#[derive(Debug)]
pub struct Resource {
    /// Status of a full answer (200, 301, 404, 410).
    pub status: u16,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// `Location`, for redirects.
    pub location: Option<HeaderValue>,
    /// `Cache-Control`.
    pub cache_control: HeaderValue,
    /// `Last-Modified` as seconds, and as a header.
    pub last_modified: i64,
    /// The header form of `last_modified`; `None` when unknown (epoch 0).
    pub last_modified_header: Option<HeaderValue>,
    /// Each available variant: coding, quoted ETag, bytes.
    pub variants: Vec<(Coding, HeaderValue, Bytes)>,
    /// True for RSS and Atom feeds, whose URLs answer browsers with the feed's browser view.
    pub has_browser_view: bool,
    /// True for a browser view: the representation of a feed's URL that browsers get.
    pub is_browser_view: bool,
    /// `Link` of a subscription feed: its WebSub hub and its own URL (WebSub §4).
    pub link: Option<HeaderValue>,
    /// What the metrics count its requests as; [`crate::routes::Family::Feed`] for the
    /// subscription feeds whose pollers are counted.
    pub family: crate::routes::Family,
}

impl Resource {
    /// Approximate memory held, for the cache budget.
    pub fn size(&self) -> usize {
        256 + self.variants.iter().map(|(_, _, b)| b.len()).sum::<usize>()
    }

    fn variant(&self, coding: Coding) -> Option<&(Coding, HeaderValue, Bytes)> {
        self.variants.iter().find(|(c, _, _)| *c == coding)
    }

    /// The entity tags of every variant: their content is the same, only the coding differs
    /// (at most three: identity, brotli, gzip).
    fn etags(&self) -> EntityTags<'_> {
        let mut tags = EntityTags::default();
        for (_, etag, _) in &self.variants {
            if let (Ok(text), Some(slot)) = (etag.to_str(), tags.tags.get_mut(tags.count)) {
                *slot = text;
                tags.count += 1;
            }
        }
        tags
    }

    /// `Last-Modified` as seconds, when one is sent (without it, `If-Modified-Since` has
    /// nothing to be compared with).
    fn last_modified(&self) -> Option<i64> {
        self.last_modified_header
            .as_ref()
            .map(|_| self.last_modified)
    }

    /// True when more than one coding is available, so answers depend on `Accept-Encoding`.
    pub fn is_negotiated(&self) -> bool {
        self.variants.len() > 1
    }

    /// True when the answer at this resource's URL depends on `Accept`: an RSS or Atom feed,
    /// or the browser view a browser gets in its place.
    pub fn varies_on_accept(&self) -> bool {
        self.has_browser_view || self.is_browser_view
    }

    /// True when `request` comes from a browser navigating to the URL (it asks for HTML rather
    /// than a feed), whether or not this resource has a browser view.
    pub fn asks_for_html(request: &HeaderMap) -> bool {
        wants_browser_view(list_field(request, &header::ACCEPT).as_deref())
    }

    /// True when a request should get this feed's browser view rather than the feed, given
    /// whether it [asks for HTML](Resource::asks_for_html).
    pub fn gives_browser_view(&self, asks_for_html: bool) -> bool {
        self.has_browser_view && asks_for_html
    }
}

/// The entity tags of a resource's variants, without an allocation.
#[derive(Default)]
struct EntityTags<'a> {
    tags: [&'a str; 3],
    count: usize,
}

impl<'a> std::ops::Deref for EntityTags<'a> {
    type Target = [&'a str];
    fn deref(&self) -> &[&'a str] {
        &self.tags[..self.count]
    }
}

/// What to send for a GET or HEAD of `resource`.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (empty for 304 and HEAD).
    pub body: Bytes,
}

/// Decides the answer to a GET (or HEAD, when `is_head`) with `request` headers, from the
/// representation the caller chose: the resource at the URL, or, where
/// [`Resource::gives_browser_view`] says so, the feed's browser view.
pub fn answer(resource: &Resource, request: &HeaderMap, is_head: bool) -> Answer {
    // Room for every header a response carries, security headers included: no regrowth.
    let mut headers = HeaderMap::with_capacity(16);
    let accept = list_field(request, &header::ACCEPT_ENCODING);
    let coding = negotiate(
        accept.as_deref(),
        resource.variant(Coding::Brotli).is_some(),
        resource.variant(Coding::Gzip).is_some(),
    );
    // A feed and its browser view share a URL; caches must keep them apart by `Accept`.
    if resource.varies_on_accept() {
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, Accept"),
        );
    } else if resource.is_negotiated() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    let Some(coding) = coding else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let body =
            Bytes::from_static(b"None of the content-codings this resource has is acceptable.\n");
        // Set here, not left to hyper: a HEAD must carry the length its GET would, and the
        // access log reads the length from these headers.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        return Answer {
            status: 406,
            headers,
            body: if is_head { Bytes::new() } else { body },
        };
    };
    let Some((coding, etag, bytes)) = resource
        .variant(coding)
        .or_else(|| resource.variant(Coding::Identity))
    else {
        // Every resource has an identity variant; this is unreachable in practice.
        return Answer {
            status: 500,
            headers,
            body: Bytes::new(),
        };
    };
    // Conditional requests apply to 2xx answers only (RFC 9110 §13.2.1): a redirect, 404 or
    // 410 ignores them, so it carries no validator that would invite them.
    let has_validators = resource.status == 200;
    if has_validators {
        headers.insert(header::ETAG, etag.clone());
    }
    headers.insert(header::CACHE_CONTROL, resource.cache_control.clone());
    // WebSub discovery: a subscriber that polls conditionally learns the hub from a 304 too.
    if let Some(link) = &resource.link {
        headers.insert(header::LINK, link.clone());
    }
    let not_modified =
        has_validators && is_not_modified(request, &resource.etags(), resource.last_modified());
    // Last-Modified with every 200. On a 304 (RFC 9110 §15.4.5: what a 200 would carry of
    // Cache-Control, ETag and Vary, set above, and Date, hyper's; other metadata only to guide
    // caches) only for a client that validates by date: one that sends If-None-Match does not
    // need it.
    if has_validators && !(not_modified && request.contains_key(header::IF_NONE_MATCH)) {
        if let Some(lm) = &resource.last_modified_header {
            headers.insert(header::LAST_MODIFIED, lm.clone());
        }
    }
    if not_modified {
        return Answer {
            status: 304,
            headers,
            body: Bytes::new(),
        };
    }
    if let Some(location) = &resource.location {
        headers.insert(header::LOCATION, location.clone());
    }
    headers.insert(header::CONTENT_TYPE, resource.content_type.clone());
    if *coding != Coding::Identity {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Answer {
        status: resource.status,
        headers,
        body: if is_head { Bytes::new() } else { bytes.clone() },
    }
}

/// Adds the headers every response carries, and on HTML a policy that allows no script at all.
pub fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        for (name, value) in &HTML_HEADERS {
            headers.insert(name, value.clone());
        }
    }
}

/// [`crate::routes::HTML_SECURITY_HEADERS`] as header names and values, built at compile time
/// so that answering a page parses none of them.
const HTML_HEADERS: [(HeaderName, HeaderValue); 3] =
    [html_header(0), html_header(1), html_header(2)];

const fn html_header(i: usize) -> (HeaderName, HeaderValue) {
    let (name, value) = crate::routes::HTML_SECURITY_HEADERS[i];
    (
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Option<Coding>)] = &[
            (None, Some(Coding::Identity)),
            (Some(""), Some(Coding::Identity)),
            (Some("gzip"), Some(Coding::Gzip)),
            (Some("gzip, deflate, br"), Some(Coding::Brotli)),
            (Some("br;q=0, gzip"), Some(Coding::Gzip)),
            (Some("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip)),
            (Some("gzip;q=0"), Some(Coding::Identity)),
            (Some("*"), Some(Coding::Brotli)),
            (Some("*;q=0"), None),
            (Some("identity;q=0"), Some(Coding::Gzip)),
            (Some("identity;q=0, gzip;q=0"), Some(Coding::Brotli)),
            (Some("identity;q=0, br;q=0, gzip;q=0"), None),
            (Some("identity;q=0, gzip"), Some(Coding::Gzip)),
            (Some("identity"), Some(Coding::Identity)),
            (Some("deflate"), Some(Coding::Identity)),
            (Some("x-gzip"), Some(Coding::Gzip)),
            (Some("GZIP;Q=0.9"), Some(Coding::Gzip)),
            (Some("gzip;q=0.5, identity;q=1"), Some(Coding::Identity)),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                negotiate(*accept, true, true),
                *expected,
                "Accept-Encoding: {accept:?}"
            );
        }
        assert_eq!(negotiate(Some("br"), false, true), Some(Coding::Identity));
        assert_eq!(negotiate(Some("br, identity;q=0"), false, false), None);
        assert_eq!(
            negotiate(Some("identity;q=0"), false, true),
            Some(Coding::Gzip)
        );
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), hv(value));
        }
        map
    }

    #[test]
    fn conditional_table() {
        let etags = ["\"abc\"", "\"abc-gz\""];
        let lm = 1_000_000;
        let date = http_date(lm);
        let earlier = http_date(lm - 1);
        let cases: Vec<(HeaderMap, bool)> = vec![
            (headers(&[]), false),
            (headers(&[(header::IF_NONE_MATCH, "\"abc\"")]), true),
            (headers(&[(header::IF_NONE_MATCH, "W/\"abc\"")]), true),
            (
                headers(&[(header::IF_NONE_MATCH, "\"x\", \"abc-gz\"")]),
                true,
            ),
            (headers(&[(header::IF_NONE_MATCH, "*")]), true),
            (headers(&[(header::IF_NONE_MATCH, "\"x\"")]), false),
            // Another resource's tag, even one built from this one's (a view of a feed).
            (headers(&[(header::IF_NONE_MATCH, "\"abc-x\"")]), false),
            (headers(&[(header::IF_NONE_MATCH, "\"ab\"")]), false),
            (headers(&[(header::IF_MODIFIED_SINCE, &date)]), true),
            (headers(&[(header::IF_MODIFIED_SINCE, &earlier)]), false),
            (headers(&[(header::IF_MODIFIED_SINCE, "garbage")]), false),
            // If-None-Match wins over If-Modified-Since, both ways.
            (
                headers(&[
                    (header::IF_NONE_MATCH, "\"x\""),
                    (header::IF_MODIFIED_SINCE, &date),
                ]),
                false,
            ),
            (
                headers(&[
                    (header::IF_NONE_MATCH, "\"abc\""),
                    (header::IF_MODIFIED_SINCE, &earlier),
                ]),
                true,
            ),
            // Field lines of one name are one list (RFC 9110 §5.3): the tag may be on any.
            (
                headers(&[
                    (header::IF_NONE_MATCH, "\"x\""),
                    (header::IF_NONE_MATCH, "\"abc\""),
                ]),
                true,
            ),
            (
                headers(&[
                    (header::IF_NONE_MATCH, "\"x\""),
                    (header::IF_NONE_MATCH, "\"y\""),
                    (header::IF_MODIFIED_SINCE, &date),
                ]),
                false,
            ),
            // Two dates are no valid date (RFC 9110 §13.1.3): ignored.
            (
                headers(&[
                    (header::IF_MODIFIED_SINCE, &date),
                    (header::IF_MODIFIED_SINCE, &date),
                ]),
                false,
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(
                is_not_modified(&request, &etags, Some(lm)),
                expected,
                "{request:?}"
            );
        }
        // No Last-Modified was sent: If-Modified-Since cannot be evaluated, and is ignored;
        // If-None-Match still decides.
        let ims = headers(&[(header::IF_MODIFIED_SINCE, &date)]);
        assert!(!is_not_modified(&ims, &etags, None));
        let inm = headers(&[(header::IF_NONE_MATCH, "\"abc\"")]);
        assert!(is_not_modified(&inm, &etags, None));
    }

    /// `Accept-Encoding` and `Accept` sent on several lines are read as one list.
    #[test]
    fn list_fields_combine_their_lines() {
        let split = headers(&[
            (header::ACCEPT_ENCODING, "gzip;q=0.5"),
            (header::ACCEPT_ENCODING, "br"),
        ]);
        let a = answer(&resource(), &split, false);
        assert_eq!(a.headers[header::CONTENT_ENCODING], "gzip", "no br variant");
        let refused = headers(&[
            (header::ACCEPT_ENCODING, "gzip;q=0"),
            (header::ACCEPT_ENCODING, "identity;q=0"),
        ]);
        assert_eq!(answer(&resource(), &refused, false).status, 406);
        let browser = headers(&[
            (header::ACCEPT, "text/html"),
            (header::ACCEPT, "application/atom+xml"),
        ]);
        assert!(
            !resource().gives_browser_view(Resource::asks_for_html(&browser)),
            "a reader names a feed type"
        );
        let one = headers(&[(header::ACCEPT, "text/html")]);
        assert!(resource().gives_browser_view(Resource::asks_for_html(&one)));
        assert_eq!(
            list_field(&split, &header::ACCEPT_ENCODING).as_deref(),
            Some("gzip;q=0.5, br")
        );
        assert_eq!(list_field(&split, &header::ACCEPT), None);
    }

    /// A resource without `Last-Modified` answers `If-Modified-Since` in full.
    #[test]
    fn if_modified_since_needs_a_last_modified() {
        let unknown = Resource {
            last_modified: 0,
            last_modified_header: None,
            ..page(&[Coding::Identity])
        };
        let since = headers(&[(header::IF_MODIFIED_SINCE, &http_date(2_000_000_000))]);
        let a = answer(&unknown, &since, false);
        assert_eq!(a.status, 200);
        assert!(!a.headers.contains_key(header::LAST_MODIFIED));
        assert_eq!(answer(&resource(), &since, false).status, 304);
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    fn resource() -> Resource {
        Resource {
            status: 200,
            content_type: hv("application/atom+xml; charset=utf-8"),
            location: None,
            cache_control: hv("max-age=300"),
            last_modified: 1_000_000,
            last_modified_header: Some(hv(&http_date(1_000_000))),
            variants: vec![
                (
                    Coding::Identity,
                    hv("\"h\""),
                    Bytes::from_static(b"identity"),
                ),
                (Coding::Gzip, hv("\"h-gz\""), Bytes::from_static(b"gz")),
            ],
            has_browser_view: true,
            is_browser_view: false,
            link: None,
            family: crate::routes::Family::Page,
        }
    }

    /// The browser view of [`resource`]: HTML, its own tags, the feed's Last-Modified.
    fn view() -> Resource {
        Resource {
            content_type: hv("text/html; charset=utf-8"),
            variants: vec![
                (
                    Coding::Identity,
                    hv("\"v\""),
                    Bytes::from_static(b"<p>view"),
                ),
                (Coding::Gzip, hv("\"v-gz\""), Bytes::from_static(b"vgz")),
            ],
            has_browser_view: false,
            is_browser_view: true,
            link: None,
            ..resource()
        }
    }

    #[test]
    fn browsers_get_the_view_and_readers_the_feed() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        let feedparser = "application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1";
        for (accept, browser) in [
            (Some(chrome), true),
            (Some(feedparser), false),
            (Some("*/*"), false),
            (None, false),
            (Some("text/html;q=0"), false),
            (Some("text/html, application/rss+xml"), false),
        ] {
            assert_eq!(wants_browser_view(accept), browser, "{accept:?}");
            let request = headers(
                &accept
                    .map(|a| (header::ACCEPT, a))
                    .into_iter()
                    .collect::<Vec<_>>(),
            );
            assert_eq!(
                resource().gives_browser_view(Resource::asks_for_html(&request)),
                browser,
                "{accept:?}"
            );
            // Only a feed has a view: not the view itself, nor a page or a JSON feed.
            assert!(
                !view().gives_browser_view(Resource::asks_for_html(&request)),
                "{accept:?}"
            );
            assert!(
                !page(&[Coding::Identity]).gives_browser_view(Resource::asks_for_html(&request)),
                "{accept:?}"
            );
        }

        let browser = headers(&[(header::ACCEPT, chrome), (header::ACCEPT_ENCODING, "gzip")]);
        let reader = headers(&[
            (header::ACCEPT, feedparser),
            (header::ACCEPT_ENCODING, "gzip"),
        ]);
        let (feed, view) = (resource(), view());
        let a = answer(&view, &browser, false);
        assert_eq!(a.status, 200);
        assert_eq!(a.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(a.headers[header::ETAG], "\"v-gz\"");
        assert_eq!(a.headers[header::VARY], "Accept-Encoding, Accept");
        assert_eq!(a.headers[header::LAST_MODIFIED], http_date(1_000_000));
        assert_eq!(a.body, "vgz");
        let r = answer(&feed, &reader, false);
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(r.headers[header::ETAG], "\"h-gz\"");
        assert_eq!(r.headers[header::VARY], "Accept-Encoding, Accept");
        assert_eq!(r.body, "gz");

        // Each revalidates with its own tags only.
        let with_tag = |base: &HeaderMap, tag: &str| {
            let mut h = base.clone();
            h.insert(header::IF_NONE_MATCH, hv(tag));
            h
        };
        for tag in ["\"v\"", "\"v-gz\""] {
            assert_eq!(
                answer(&view, &with_tag(&browser, tag), false).status,
                304,
                "{tag}"
            );
            assert_eq!(
                answer(&feed, &with_tag(&reader, tag), false).status,
                200,
                "{tag}"
            );
        }
        for tag in ["\"h\"", "\"h-gz\""] {
            assert_eq!(
                answer(&feed, &with_tag(&reader, tag), false).status,
                304,
                "{tag}"
            );
            assert_eq!(
                answer(&view, &with_tag(&browser, tag), false).status,
                200,
                "{tag}"
            );
        }
        let not_modified = answer(&view, &with_tag(&browser, "\"v-gz\""), false);
        assert_eq!(
            not_modified.headers[header::VARY],
            "Accept-Encoding, Accept"
        );
        assert_eq!(not_modified.headers[header::ETAG], "\"v-gz\"");

        let head = answer(&view, &browser, true);
        assert!(head.body.is_empty());
        assert_eq!(head.headers[header::CONTENT_LENGTH], "3");
        assert_eq!(
            head.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn answers() {
        let r = resource();
        let a = answer(&r, &headers(&[(header::ACCEPT_ENCODING, "gzip")]), false);
        assert_eq!(a.status, 200);
        assert_eq!(a.body, "gz");
        assert_eq!(a.headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(a.headers[header::ETAG], "\"h-gz\"");
        assert_eq!(a.headers[header::VARY], "Accept-Encoding, Accept");

        let a = answer(&r, &headers(&[]), true);
        assert_eq!(a.status, 200);
        assert!(a.body.is_empty());
        assert_eq!(a.headers[header::CONTENT_LENGTH], "8");
        assert!(a.headers.get(header::CONTENT_ENCODING).is_none());

        let a = answer(&r, &headers(&[(header::IF_NONE_MATCH, "\"h\"")]), false);
        assert_eq!(a.status, 304);
        assert!(a.body.is_empty());
        for h in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            assert!(a.headers.contains_key(&h), "304 lacks {h}");
        }
        // Validated by entity tag: the date would guide no cache.
        for h in [
            header::LAST_MODIFIED,
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
        ] {
            assert!(!a.headers.contains_key(&h), "304 has {h}");
        }
        let since = http_date(r.last_modified);
        let a = answer(
            &r,
            &headers(&[(header::IF_MODIFIED_SINCE, since.as_str())]),
            false,
        );
        assert_eq!(a.status, 304);
        assert_eq!(a.headers[header::LAST_MODIFIED], since.as_str());

        let refuse = headers(&[(header::ACCEPT_ENCODING, "*;q=0")]);
        let get = answer(&r, &refuse, false);
        let head = answer(&r, &refuse, true);
        assert_eq!((get.status, head.status), (406, 406));
        assert!(head.body.is_empty());
        assert_eq!(
            head.headers[header::CONTENT_LENGTH],
            get.body.len().to_string()
        );
    }

    /// An HTML page: not a feed, so no browser view and no `Accept` in `Vary`.
    fn page(codings: &[Coding]) -> Resource {
        Resource {
            content_type: hv("text/html; charset=utf-8"),
            has_browser_view: false,
            is_browser_view: false,
            link: None,
            variants: codings
                .iter()
                .map(|&c| (c, hv("\"p\""), Bytes::from_static(b"<p>page</p>")))
                .collect(),
            ..resource()
        }
    }

    #[test]
    fn vary_only_when_more_than_one_coding_exists() {
        let single = page(&[Coding::Identity]);
        assert!(!single.is_negotiated());
        let a = answer(
            &single,
            &headers(&[(header::ACCEPT_ENCODING, "gzip")]),
            false,
        );
        assert_eq!(a.status, 200);
        assert!(!a.headers.contains_key(header::VARY), "{:?}", a.headers);
        for codings in [
            &[Coding::Identity, Coding::Gzip][..],
            &[Coding::Identity, Coding::Gzip, Coding::Brotli][..],
        ] {
            let negotiated = page(codings);
            assert!(negotiated.is_negotiated());
            let a = answer(&negotiated, &headers(&[]), false);
            assert_eq!(a.headers[header::VARY], "Accept-Encoding");
        }
    }

    #[test]
    fn size_counts_every_variant() {
        // 256 bytes of headers and bookkeeping, plus "identity" and "gz".
        assert_eq!(resource().size(), 256 + 8 + 2);
        assert_eq!(page(&[]).size(), 256);
    }

    #[test]
    fn security_headers_forbid_script_on_html_only() {
        let mut html = headers(&[(header::CONTENT_TYPE, "text/html; charset=utf-8")]);
        add_security_headers(&mut html);
        assert_eq!(html[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = html[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none';"), "{policy}");
        assert!(!policy.contains("script-src"), "{policy}");
        assert_eq!(
            html[header::REFERRER_POLICY],
            "strict-origin-when-cross-origin"
        );
        assert_eq!(html[header::X_FRAME_OPTIONS], "DENY");

        let mut feed = headers(&[(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")]);
        add_security_headers(&mut feed);
        assert_eq!(feed[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        for absent in [
            header::CONTENT_SECURITY_POLICY,
            header::REFERRER_POLICY,
            header::X_FRAME_OPTIONS,
        ] {
            assert!(!feed.contains_key(&absent), "a feed carries {absent}");
        }
    }
}
