vcl 4.1;

# Varnish (7.1, Debian's `varnish`) as a cache in front of `feedsvc serve`:
#
#   varnishd -a :6081 -f /etc/varnish/feedsvc.vcl -s malloc,256m
#
# (or Debian's varnish.service with its -f pointing here), behind the TLS terminator. Keep
# feedsvc's [server] listen on the loopback (the backend below) and set its [site] base_url to
# the address readers use.
#
# What feedsvc sends, and what this file does with it:
# - `Cache-Control: max-age=N, stale-while-revalidate=M` (feeds: feed_max_age and twice that;
#   pages: page_max_age and five times the larger of it and 60 s). Varnish reads both itself:
#   max-age is the TTL, stale-while-revalidate the grace (varnishlog's `TTL RFC` record shows
#   them). So nothing here sets ttl or grace: for M seconds after expiry a request gets the
#   cached copy at once while one background fetch refreshes it.
# - Strong ETags (one per content-coding) and Last-Modified. Varnish revalidates an expired copy
#   with If-None-Match and If-Modified-Since, which feedsvc answers 304 without a body
#   (beresp.keep below keeps expired copies for that), and answers its own clients'
#   conditional requests from the cache with 304.
# - gzip and brotli bodies it compressed once, with `Vary: Accept-Encoding`, plus `Vary: Accept`
#   on RSS and Atom feeds, whose URL gives browsers an HTML view. vcl_recv reduces both request
#   headers to the values feedsvc tells apart, so a URL has at most three codings times two
#   views in the cache, whatever the clients send.
# - No cookies: vcl_recv drops the ones browsers send.

backend feedsvc {
    .host = "127.0.0.1";
    .port = "8080";
    # On the loopback a stopped feedsvc refuses the connection at once. These bound a hung one:
    # every document is ready in feedsvc's memory or rendered in milliseconds.
    .connect_timeout = 1s;
    .first_byte_timeout = 10s;
}

sub vcl_recv {
    # Varnish's own rules from builtin.vcl: a Host is required (and lower-cased); methods other
    # than GET and HEAD are passed (the WebSub hub's POST /websub, and the 405s feedsvc gives
    # the rest), unknown ones piped; a request with Authorization is passed.
    call vcl_req_host;
    call vcl_req_method;
    call vcl_req_authorization;
    # builtin.vcl's last rule passes every request with a Cookie. feedsvc neither sets nor reads
    # one; a browser sending the domain's other cookies (analytics) would never be served from
    # the cache, so they are dropped instead.
    unset req.http.Cookie;
    # feedsvc ignores query parameters but the few that name a page of an imported archive
    # (WordPress's p, page_id, cat and feed; Blogger's alt). Others (utm_source, a random
    # string) are dropped here, so they neither miss the cache nor fill it with copies.
    if (req.url ~ "\?" && req.url !~ "[?&](p|page_id|cat|feed|alt)=") {
        set req.url = regsub(req.url, "\?.*$", "");
    }

    # Accept-Encoding -> br, gzip or nothing (identity): the variants feedsvc keeps. A client
    # that accepts br gets br even when it ranks gzip higher (feedsvc would pick gzip): it
    # accepts both, and br is smaller. A coding given q=0 is refused. X-Feedsvc-Coding keeps the
    # choice for vcl_hash and vcl_backend_fetch.
    if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*br\s*(,|$|;(?!\s*q=0(\.0*)?\s*(,|$)))") {
        set req.http.Accept-Encoding = "br";
        set req.http.X-Feedsvc-Coding = "br";
    } elsif (req.http.Accept-Encoding ~ "(?i)(^|,)\s*(x-)?gzip\s*(,|$|;(?!\s*q=0(\.0*)?\s*(,|$)))") {
        set req.http.Accept-Encoding = "gzip";
        set req.http.X-Feedsvc-Coding = "gzip";
    } else {
        unset req.http.Accept-Encoding;
        set req.http.X-Feedsvc-Coding = "identity";
    }
    # Accept -> "text/html" or nothing, by feedsvc's rule for a browser navigating to a feed
    # (which gets the feed's HTML view): it accepts text/html and neither application/atom+xml
    # nor application/rss+xml. Nothing else feedsvc serves depends on Accept.
    if (req.http.Accept ~ "(?i)(^|,)\s*text/html\s*(,|$|;(?!\s*q=0(\.0*)?\s*(,|$)))" &&
        req.http.Accept !~ "(?i)(^|,)\s*application/(atom|rss)\+xml\s*(,|$|;(?!\s*q=0(\.0*)?\s*(,|$)))") {
        set req.http.Accept = "text/html";
    } else {
        unset req.http.Accept;
    }
    return (hash);
}

sub vcl_hash {
    # The coding is part of the cache key. `Vary:
    # Accept-Encoding` alone would not keep the codings apart: with http_gzip_support on
    # (Varnish's default) Varnish ignores it when matching, and after vcl_recv it rewrites the
    # request's Accept-Encoding to "gzip" or removes it, so br, gzip and identity requests would
    # be given each other's variant (gzip unpacked by Varnish, its ETag weakened). A document
    # feedsvc sends uncompressed to everyone (under 256 bytes, or not made smaller by
    # compressing) is therefore cached once per coding asked for: at most three copies.
    hash_data(req.http.X-Feedsvc-Coding);
    # The key is the URL and the coding, not the Host (builtin.vcl's next step): feedsvc
    # answers every Host alike, so requests with made-up Host headers would only evict the
    # copies everyone uses.
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_fetch {
    # Ask feedsvc for the coding chosen in vcl_recv (with http_gzip_support on, Varnish has set
    # a cache fetch's Accept-Encoding to "gzip"). Passed requests kept their own headers.
    if (bereq.http.X-Feedsvc-Coding == "identity") {
        unset bereq.http.Accept-Encoding;
    } elsif (bereq.http.X-Feedsvc-Coding) {
        set bereq.http.Accept-Encoding = bereq.http.X-Feedsvc-Coding;
    }
    unset bereq.http.X-Feedsvc-Coding;
}

sub vcl_backend_response {
    # Varnish never caches a 5xx (whatever its Cache-Control; builtin.vcl makes it a
    # hit-for-miss, so the next request tries feedsvc again). But one answering a background
    # refresh would still replace the stale copy: abandon it, and the stale copy is served for
    # the rest of its grace. (When feedsvc cannot be reached at all, Varnish keeps the stale
    # copy by itself.)
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);
    }
    # feedsvc compresses each document once and sends the variant asked for: Varnish must not
    # compress or unpack bodies (which would also weaken the ETags). Both are off by default;
    # stated here so that nobody turns them on for feedsvc.
    set beresp.do_gzip = false;
    set beresp.do_gunzip = false;
    # builtin.vcl's rules: no-store, private, Set-Cookie or `Vary: *` are not cached (it returns
    # from here for those).
    call vcl_builtin_backend_response;
    # A cached copy stays a day after its grace, so that the next request for it is a
    # conditional fetch answered 304 (headers only) rather than a full one. Storage that runs
    # full evicts the least recently used objects first, these included.
    set beresp.keep = 1d;
    return (deliver);
}
