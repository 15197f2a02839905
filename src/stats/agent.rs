//! What a poller's User-Agent says about it: the aggregators that fetch a feed once for all
//! their users report how many subscribe (`Feedly/1.0 (…; 462 subscribers; )`).

/// A subscriber count an aggregator reports in its User-Agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The aggregator's name (`Feedly`, `Inoreader` …).
    pub name: String,
    /// The aggregator's id for the feed, when it gives one (`""` otherwise): one aggregator can
    /// hold one URL as several feeds, whose counts add up.
    pub feed_id: String,
    /// Its subscribers.
    pub subscribers: u64,
    /// The User-Agent with the count written `N`, so that one aggregator's polls read as one
    /// User-Agent whatever the count of the day.
    pub agent: String,
}

/// Known aggregators: a lowercase mark found in the User-Agent, and the name shown.
const KNOWN: &[(&str, &str)] = &[
    ("feedly", "Feedly"),
    ("inoreader", "Inoreader"),
    ("newsblur", "NewsBlur"),
    ("feedbin", "Feedbin"),
    ("theoldreader", "The Old Reader"),
    ("the old reader", "The Old Reader"),
    ("bazqux", "BazQux"),
    ("dreamwidth", "Dreamwidth"),
    ("livejournal", "LiveJournal"),
    ("netvibes", "Netvibes"),
    ("feedspot", "Feedspot"),
    ("feedhq", "FeedHQ"),
    ("feed wrangler", "Feed Wrangler"),
    ("superfeedr", "Superfeedr"),
    ("newsgator", "NewsGator"),
    ("bloglines", "Bloglines"),
    ("digg", "Digg Reader"),
    ("g2reader", "G2Reader"),
    ("feedpress", "FeedPress"),
    ("feedburner", "FeedBurner"),
    ("miniflux", "Miniflux"),
    ("freshrss", "FreshRSS"),
    ("tiny tiny rss", "Tiny Tiny RSS"),
    ("nextcloud-news", "Nextcloud News"),
    ("feedlybot", "Feedly"),
];

/// Longest aggregator name or feed id kept.
const MAX_FIELD: usize = 120;

/// The subscriber count `user_agent` reports, if it reports one: `N subscribers` or `N readers`
/// (`N subscriber`/`N reader` too), with the aggregator's name and its feed id
/// (`feed-id:1234`, `feed-id=…`, `feedid: …`, or NewsBlur's site URL).
pub fn reported(user_agent: &str) -> Option<Reported> {
    let (subscribers, digits) = count(user_agent)?;
    Some(Reported {
        name: name(user_agent),
        feed_id: feed_id(user_agent),
        subscribers,
        agent: format!(
            "{}N{}",
            &user_agent[..digits.start],
            &user_agent[digits.end..]
        ),
    })
}

/// The number before ` subscribers` or ` readers` (case-insensitive), and where its digits are.
fn count(user_agent: &str) -> Option<(u64, std::ops::Range<usize>)> {
    let lower = user_agent.to_ascii_lowercase();
    for word in ["subscriber", "reader"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(word).map(|i| i + from) {
            from = at + word.len();
            // The word must stand alone: `readers` or `readers;`, not `feedreaders` or `readers-club`.
            let after = lower[from..].trim_start_matches('s');
            if !(after.is_empty() || after.starts_with([' ', '\t', ';', ',', ')', ']', '.'])) {
                continue;
            }
            let before = lower[..at].trim_end_matches([' ', '\t']);
            if before.len() == lower[..at].len() {
                continue;
            }
            let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 || digits > 12 {
                continue;
            }
            let start = before.len() - digits;
            // `v2 readers`, `x123 readers`: the number must stand alone too.
            if lower[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            {
                continue;
            }
            if let Ok(n) = before[start..].parse() {
                return Some((n, start..before.len()));
            }
        }
    }
    None
}

/// The aggregator's name: a known one, else the first product token that is not `Mozilla`
/// (`FooReader/2.0 (…)` → `FooReader`; `Mozilla/5.0 (compatible; foo.com; …)` → `foo.com`).
fn name(user_agent: &str) -> String {
    let lower = user_agent.to_ascii_lowercase();
    if let Some((_, name)) = KNOWN.iter().find(|(mark, _)| lower.contains(mark)) {
        return (*name).to_string();
    }
    let token = |text: &str| -> Option<String> {
        let end = text.find(['/', ' ', ';', '(', ')']).unwrap_or(text.len());
        let token = text[..end].trim();
        (!token.is_empty() && !token.eq_ignore_ascii_case("mozilla")).then(|| token.to_string())
    };
    let trimmed = user_agent.trim();
    let found = token(trimmed).or_else(|| {
        // `Mozilla/5.0 (compatible; NAME/1.0; …)`
        let inside = trimmed.split_once('(')?.1;
        inside
            .split(';')
            .map(str::trim)
            .filter(|part| !part.eq_ignore_ascii_case("compatible") && !part.is_empty())
            .find_map(|part| token(part).filter(|t| !t.starts_with(|c: char| c.is_ascii_digit())))
    });
    clip(&found.unwrap_or_else(|| "Unnamed aggregator".to_string()))
}

/// The feed id the User-Agent gives: `feed-id:1234`, `feed-id=abc`, `feedid: 12`, or
/// NewsBlur's `https://www.newsblur.com/site/1234/…`.
fn feed_id(user_agent: &str) -> String {
    let lower = user_agent.to_ascii_lowercase();
    for mark in ["feed-id", "feedid", "feed_id"] {
        if let Some(at) = lower.find(mark) {
            let rest = user_agent[at + mark.len()..].trim_start_matches([':', '=', ' ']);
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ';' || c == ')' || c == ',')
                .unwrap_or(rest.len());
            if end > 0 {
                return clip(&rest[..end]);
            }
        }
    }
    if let Some(at) = lower.find("newsblur.com/site/") {
        let rest = &user_agent[at + "newsblur.com/site/".len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end > 0 {
            return clip(&rest[..end]);
        }
    }
    String::new()
}

fn clip(text: &str) -> String {
    super::clip(text, MAX_FIELD).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_taken_out_of_the_user_agent() {
        let said = reported("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )")
            .unwrap();
        assert_eq!(
            said.agent,
            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; N subscribers; )"
        );
    }

    fn said(ua: &str) -> Option<(String, String, u64)> {
        reported(ua).map(|r| (r.name, r.feed_id, r.subscribers))
    }

    fn r(name: &str, id: &str, n: u64) -> Option<(String, String, u64)> {
        Some((name.to_string(), id.to_string(), n))
    }

    #[test]
    fn the_known_aggregators_are_named_with_their_counts() {
        assert_eq!(
            said("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )"),
            r("Feedly", "", 462)
        );
        assert_eq!(
            said("Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)"),
            r("Inoreader", "", 114)
        );
        assert_eq!(
            said(
                "NewsBlur Feed Fetcher - 12 subscribers - https://www.newsblur.com/site/6152/the-dispatch \
                 (Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_1) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/70.0.3538.77 Safari/537.36)"
            ),
            r("NewsBlur", "6152", 12)
        );
        assert_eq!(
            said("Feedbin feed-id:1234 - 7 subscribers"),
            r("Feedbin", "1234", 7)
        );
        assert_eq!(
            said("Mozilla/5.0 (compatible; theoldreader.com; 7 subscribers; feed-id=6a1bc0ffee)"),
            r("The Old Reader", "6a1bc0ffee", 7)
        );
        assert_eq!(
            said(
                "Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 subscribers)"
            ),
            r("BazQux", "", 3)
        );
        assert_eq!(said("Dreamwidth Studios; 1 reader"), r("Dreamwidth", "", 1));
        assert_eq!(
            said("LiveJournal.com (webmaster@livejournal.com; for http://www.livejournal.com/users/x/; 5 readers)"),
            r("LiveJournal", "", 5)
        );
    }

    #[test]
    fn an_unknown_aggregator_is_named_by_its_product_token() {
        assert_eq!(
            said("FooReader/2.0 (+https://foo.example/; 5 subscribers; feed-id=77)"),
            r("FooReader", "77", 5)
        );
        assert_eq!(
            said("Mozilla/5.0 (compatible; quux.example; 9 readers)"),
            r("quux.example", "", 9)
        );
    }

    #[test]
    fn a_count_must_stand_alone() {
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            "newsboat/2.36.0 (Linux x86_64)",
            "Miniflux/2.1.0 (https://miniflux.app)",
            "FeedReader 3 readers-club",
            "Thing v2 readers",
            "Thing 1.5 subscribers",
            "Thing 99999999999999999 subscribers",
            "",
        ] {
            assert_eq!(said(ua), None, "{ua}");
        }
        // The count of a known reader without one stays unreported, but a number is taken.
        assert_eq!(said("Miniflux; 4 subscribers"), r("Miniflux", "", 4));
    }

    #[test]
    fn long_names_and_ids_are_clipped_on_a_character_boundary() {
        let ua = format!(
            "{}/1.0 (2 subscribers; feed-id={})",
            "é".repeat(100),
            "x".repeat(500)
        );
        let got = reported(&ua).unwrap();
        assert!(got.name.len() <= MAX_FIELD && got.feed_id.len() <= MAX_FIELD);
        assert_eq!(got.subscribers, 2);
    }
}
