//! Fetching a feed's whole history by URL: timeouts, a size cap, redirects, and RFC 5005 links.
