//! The ordered list of schema migrations; `PRAGMA user_version` records how many have run.

/// The schema version from which tags have keys: a database upgraded from an earlier one has
/// them filled in by the store.
pub const TAG_KEYS: usize = 4;

/// Each entry moves the schema from version `index` to `index + 1`. Never edit a released entry;
/// append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: articles, tags, redirects, tombstones, rendered documents, metadata.
    r#"
    CREATE TABLE articles (
        id            INTEGER PRIMARY KEY,
        entry_id      TEXT NOT NULL UNIQUE,
        slug          TEXT NOT NULL UNIQUE,
        title         TEXT NOT NULL,
        summary       TEXT,
        excerpt       TEXT NOT NULL,
        author        TEXT,
        body_markdown TEXT NOT NULL,
        body_html     TEXT NOT NULL,
        published     TEXT NOT NULL,
        published_at  INTEGER NOT NULL,
        updated       TEXT NOT NULL,
        updated_at    INTEGER NOT NULL,
        is_pending    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX articles_by_date ON articles (is_pending, published_at DESC, id DESC);

    CREATE TABLE tags (
        id   INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL
    );

    CREATE TABLE article_tags (
        article_id   INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        tag_id       INTEGER NOT NULL REFERENCES tags (id),
        position     INTEGER NOT NULL,
        -- copies of the article's ordering keys, so a tag's newest entries come from one index
        published_at INTEGER NOT NULL,
        is_pending   INTEGER NOT NULL,
        PRIMARY KEY (article_id, tag_id)
    );
    CREATE INDEX article_tags_by_date ON article_tags (tag_id, is_pending, published_at DESC, article_id DESC);

    CREATE TABLE redirects (
        old_slug   TEXT PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE
    );

    CREATE TABLE tombstones (
        entry_id     TEXT PRIMARY KEY,
        slug         TEXT NOT NULL,
        title        TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        deleted      TEXT NOT NULL,
        deleted_at   INTEGER NOT NULL
    );
    CREATE INDEX tombstones_by_date ON tombstones (deleted_at DESC);
    CREATE INDEX tombstones_by_published ON tombstones (published_at);

    CREATE TABLE documents (
        path          TEXT PRIMARY KEY,
        status        INTEGER NOT NULL,
        content_type  TEXT NOT NULL,
        location      TEXT,
        body          BLOB NOT NULL,
        gzip          BLOB,
        br            BLOB,
        etag          TEXT NOT NULL,
        last_modified INTEGER NOT NULL,
        generation    INTEGER NOT NULL
    );
    CREATE INDEX documents_by_generation ON documents (generation);

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: documents keep identity bytes only (the server compresses on first request), and the
    // body comes last: SQLite reads a row's columns in order, so metadata read by the path
    // index (dates for the sitemap index, ETags before a rewrite) no longer walks the body's
    // overflow pages.
    r#"
    CREATE TABLE documents_v2 (
        path          TEXT PRIMARY KEY,
        status        INTEGER NOT NULL,
        content_type  TEXT NOT NULL,
        location      TEXT,
        etag          TEXT NOT NULL,
        last_modified INTEGER NOT NULL,
        generation    INTEGER NOT NULL,
        body          BLOB NOT NULL
    );
    INSERT INTO documents_v2 (path, status, content_type, location, etag, last_modified,
                              generation, body)
        SELECT path, status, content_type, location, etag, last_modified, generation, body
        FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_v2 RENAME TO documents;
    CREATE INDEX documents_by_generation ON documents (generation);
    -- The sitemap index (rendered on request) walks every publication date with its update.
    CREATE INDEX articles_by_publication ON articles (is_pending, published_at, updated_at);
    -- Archives and sitemaps are now rendered on request: forget the site's fingerprint so the
    -- next publish (or server start) renders the whole site once and drops their stored copies.
    DELETE FROM meta WHERE key = 'site_fingerprint';
    "#,
    // 3: when each list, tag and month last changed, for the documents rendered on request
    // (list pages, archives, sitemaps): their `Last-Modified` must advance whenever their bytes
    // change, also when a back-dated article or an edit leaves their newest date where it was.
    // The triggers mark a scope as changed (`pending`); the publishing transaction then stamps
    // every pending scope with its clock, once (see `Tx::stamp_changes`).
    r#"
    CREATE TABLE changes (
        scope     TEXT PRIMARY KEY,
        at        INTEGER NOT NULL DEFAULT 0,
        pending   INTEGER NOT NULL DEFAULT 0,
        -- months only: whether it held a published article when last stamped
        populated INTEGER NOT NULL DEFAULT 0
    );
    CREATE TRIGGER articles_insert_changes AFTER INSERT ON articles WHEN NEW.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('site', 1),
            ('month:' || strftime('%Y-%m', NEW.published_at, 'unixepoch'), 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    CREATE TRIGGER articles_update_changes AFTER UPDATE ON articles
        WHEN NEW.is_pending = 0 OR OLD.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('site', 1),
            ('month:' || strftime('%Y-%m', OLD.published_at, 'unixepoch'), 1),
            ('month:' || strftime('%Y-%m', NEW.published_at, 'unixepoch'), 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    CREATE TRIGGER articles_delete_changes AFTER DELETE ON articles WHEN OLD.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('site', 1),
            ('month:' || strftime('%Y-%m', OLD.published_at, 'unixepoch'), 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    CREATE TRIGGER article_tags_insert_changes AFTER INSERT ON article_tags
        WHEN NEW.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('tag:' || NEW.tag_id, 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    CREATE TRIGGER article_tags_update_changes AFTER UPDATE ON article_tags
        WHEN NEW.is_pending = 0 OR OLD.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('tag:' || NEW.tag_id, 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    CREATE TRIGGER article_tags_delete_changes AFTER DELETE ON article_tags
        WHEN OLD.is_pending = 0
    BEGIN
        INSERT INTO changes (scope, pending) VALUES ('tag:' || OLD.tag_id, 1)
            ON CONFLICT (scope) DO UPDATE SET pending = 1;
    END;
    "#,
    // 4: a tag is found by its name, not by its slug, so "C", "C++" and "C#" are three tags.
    // `key` is the name folded as `text::tag_key` does ("Rust" and "rust" are one tag); the
    // store fills it for the rows from before (`Store::migrate`), which keep their slugs. Each
    // article keeps the spelling its author used in `article_tags.name` (NULL for rows from
    // before: they show the tag's name).
    r#"
    ALTER TABLE tags ADD COLUMN key TEXT;
    CREATE INDEX tags_by_key ON tags (key);
    ALTER TABLE article_tags ADD COLUMN name TEXT;
    "#,
    // 5: imported articles. A body is Markdown or HTML (imported from another platform). An
    // old URL (the path an article, feed or tag page had on the platform an archive came from,
    // with its query when that names the page, as WordPress's `/?p=123`) answers 301 to the
    // article (`article_id`, whatever its slug becomes) or to a route (`target`, its path below
    // the site's root).
    r#"
    ALTER TABLE articles ADD COLUMN body_format TEXT NOT NULL DEFAULT 'markdown';
    CREATE TABLE old_urls (
        path       TEXT PRIMARY KEY,
        article_id INTEGER REFERENCES articles (id) ON DELETE CASCADE,
        target     TEXT,
        CHECK ((article_id IS NULL) <> (target IS NULL))
    );
    CREATE INDEX old_urls_by_article ON old_urls (article_id);
    "#,
    // 6: push delivery (WebSub). A subscription is active once verified, until `expires_at`.
    // A publish that changes a subscription feed writes, in its own transaction, a delivery for
    // each active subscriber (`key` `s:<subscription id>`) or one ping of the external hub
    // (`p:<topic>`): this table is the outbox the server works through. One row per key, so
    // publishes in a row coalesce into one delivery of the latest body; each publish that meets
    // a waiting row adds one to its `version`, so that a delivery under way with an older body
    // does not end it. Topics are feed paths (`/atom.xml`).
    r#"
    CREATE TABLE subscriptions (
        id               INTEGER PRIMARY KEY,
        topic            TEXT NOT NULL,
        callback         TEXT NOT NULL,
        callback_host    TEXT NOT NULL,
        secret           TEXT,
        lease_seconds    INTEGER NOT NULL,
        expires_at       INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        last_delivery_at INTEGER,
        last_status      INTEGER,
        failures         INTEGER NOT NULL DEFAULT 0,
        UNIQUE (topic, callback)
    );
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at);
    CREATE TABLE hub_deliveries (
        key             TEXT PRIMARY KEY,
        subscription_id INTEGER REFERENCES subscriptions (id) ON DELETE CASCADE,
        topic           TEXT NOT NULL,
        due_ms          INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        first_ms        INTEGER NOT NULL,
        version         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX hub_deliveries_by_due ON hub_deliveries (due_ms);
    CREATE INDEX hub_deliveries_by_subscription ON hub_deliveries (subscription_id);
    "#,
    // 7: who polls the feeds (see `crate::stats`). Days are UTC days since 1970-01-01. A poller
    // is a keyed hash of (client address, User-Agent) whose key changes every day and is never
    // written anywhere: no client address is stored. `kind`: 0 a reader, 1 an aggregator that
    // reports its subscribers (its count is in `stats_aggregators`); a browser viewing the feed
    // is no poller and has no row. `unconditional`: requests without If-None-Match or
    // If-Modified-Since.
    r#"
    CREATE TABLE stats_feeds (
        day          INTEGER NOT NULL,
        path         TEXT NOT NULL,
        requests     INTEGER NOT NULL DEFAULT 0,
        ok           INTEGER NOT NULL DEFAULT 0,
        not_modified INTEGER NOT NULL DEFAULT 0,
        limited      INTEGER NOT NULL DEFAULT 0,
        bytes        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, path)
    ) WITHOUT ROWID;
    CREATE TABLE stats_pollers (
        day           INTEGER NOT NULL,
        path          TEXT NOT NULL,
        poller        BLOB NOT NULL,
        kind          INTEGER NOT NULL,
        agent         TEXT NOT NULL,
        requests      INTEGER NOT NULL DEFAULT 0,
        unconditional INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, path, poller)
    ) WITHOUT ROWID;
    CREATE TABLE stats_aggregators (
        day         INTEGER NOT NULL,
        path        TEXT NOT NULL,
        name        TEXT NOT NULL,
        feed_id     TEXT NOT NULL DEFAULT '',
        subscribers INTEGER NOT NULL,
        seen_ms     INTEGER NOT NULL,
        PRIMARY KEY (day, path, name, feed_id)
    ) WITHOUT ROWID;
    "#,
];
