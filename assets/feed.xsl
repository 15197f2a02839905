<?xml version="1.0" encoding="utf-8"?>
<!--
  feedsvc: shows the RSS 2.0 and Atom 1.0 feeds as a readable page when opened in a browser.
  Feed readers ignore this file. Summaries are shown as text; the full (escaped HTML) content
  is never rendered. No JavaScript, no external resources.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:content="http://purl.org/rss/1.0/modules/content/"
    exclude-result-prefixes="atom dc content">

  <xsl:output method="html" encoding="utf-8" indent="yes" doctype-system="about:legacy-compat"/>

  <!-- Exactly one of the two alternatives of each union exists: RSS channel or Atom feed. -->
  <xsl:variable name="channel" select="/rss/channel"/>
  <xsl:variable name="feed" select="/atom:feed"/>
  <xsl:variable name="title" select="normalize-space($channel/title | $feed/atom:title)"/>
  <xsl:variable name="description" select="normalize-space($channel/description | $feed/atom:subtitle)"/>
  <xsl:variable name="self" select="($channel/atom:link[@rel='self'] | $feed/atom:link[@rel='self'])[1]/@href"/>
  <xsl:variable name="site" select="normalize-space(($channel/link | $feed/atom:link[@rel='alternate' or not(@rel)]/@href)[1])"/>
  <xsl:variable name="lang" select="normalize-space($channel/language | $feed/@xml:lang)"/>
  <xsl:variable name="kind">
    <xsl:choose>
      <xsl:when test="$feed">Atom</xsl:when>
      <xsl:otherwise>RSS</xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <xsl:template match="/">
    <html>
      <xsl:if test="$lang != ''">
        <xsl:attribute name="lang"><xsl:value-of select="$lang"/></xsl:attribute>
      </xsl:if>
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="$title"/> (web feed)</title>
        <style>
          :root { color-scheme: light dark; --bg: #fdfcf9; --fg: #1c1b19; --muted: #57544e;
            --link: #0b4f9c; --rule: #d9d5cc; --box: #eef3fa; --box-rule: #9db7da; --focus: #c2410c; }
          @media (prefers-color-scheme: dark) {
            :root { --bg: #161614; --fg: #e9e6df; --muted: #aaa598;
              --link: #8fbcff; --rule: #3a3833; --box: #1d2633; --box-rule: #40587a; --focus: #ffb27a; }
          }
          * { box-sizing: border-box; }
          body { margin: 0; background: var(--bg); color: var(--fg);
            font: 1.0625rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
            overflow-wrap: break-word; }
          main { max-width: calc(68ch + 2.5rem); margin: 0 auto; padding: 1.25rem; }
          a { color: var(--link); text-underline-offset: 0.15em; }
          a:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
          .about { background: var(--box); border: 1px solid var(--box-rule); border-radius: 6px;
            padding: 0.9rem 1.1rem; margin: 0 0 2rem; }
          .about p { margin: 0 0 0.5rem; }
          .about p:last-child { margin: 0; }
          .address { display: block; padding: 0.4rem 0.6rem; background: var(--bg);
            border: 1px solid var(--rule); border-radius: 4px; user-select: all;
            font: 0.9rem/1.4 ui-monospace, Menlo, Consolas, monospace; overflow-x: auto; }
          header { border-bottom: 1px solid var(--rule); padding-bottom: 1rem; margin-bottom: 0.5rem; }
          h1 { font: 700 1.9rem/1.2 Georgia, "Iowan Old Style", serif; margin: 0 0 0.4rem; }
          .description { color: var(--muted); margin: 0 0 0.5rem; }
          ol { list-style: none; margin: 0; padding: 0; }
          li { padding: 1.1rem 0; border-bottom: 1px solid var(--rule); }
          h2 { font: 700 1.25rem/1.3 Georgia, "Iowan Old Style", serif; margin: 0 0 0.3rem; }
          h2 a { color: var(--fg); text-decoration: none; }
          h2 a:hover { text-decoration: underline; }
          .meta { color: var(--muted); font-size: 0.875rem; margin: 0 0 0.4rem; }
          .summary { font-family: Georgia, "Iowan Old Style", serif; margin: 0; }
          .empty { color: var(--muted); }
          @media (max-width: 30rem) { main { padding: 1rem; } h1 { font-size: 1.6rem; } }
        </style>
      </head>
      <body>
        <main>
          <section class="about" aria-label="About this page">
            <p><strong>This is a web feed (<xsl:value-of select="$kind"/>).</strong>
              Copy this page’s address into your feed reader (NetNewsWire, Feedly, Miniflux, newsboat…) to subscribe.</p>
            <xsl:if test="$self">
              <p><a class="address" href="{$self}"><xsl:value-of select="$self"/></a></p>
            </xsl:if>
          </section>
          <header>
            <h1><xsl:value-of select="$title"/></h1>
            <xsl:if test="$description != ''">
              <p class="description"><xsl:value-of select="$description"/></p>
            </xsl:if>
            <xsl:if test="$site != ''">
              <p><a href="{$site}">Visit the website →</a></p>
            </xsl:if>
          </header>
          <xsl:variable name="entries" select="$channel/item | $feed/atom:entry"/>
          <xsl:choose>
            <xsl:when test="$entries">
              <ol>
                <xsl:apply-templates select="$entries"/>
              </ol>
            </xsl:when>
            <xsl:otherwise>
              <p class="empty">This feed has no entries yet.</p>
            </xsl:otherwise>
          </xsl:choose>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- One RSS item or Atom entry. -->
  <xsl:template match="item | atom:entry">
    <xsl:variable name="entry-title" select="normalize-space(title | atom:title)"/>
    <xsl:variable name="link">
      <xsl:choose>
        <xsl:when test="link">
          <xsl:value-of select="normalize-space(link)"/>
        </xsl:when>
        <xsl:when test="guid[not(@isPermaLink = 'false')]">
          <xsl:value-of select="normalize-space(guid)"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="(atom:link[@rel='alternate' or not(@rel)])[1]/@href"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="date">
      <xsl:choose>
        <xsl:when test="pubDate"><xsl:value-of select="normalize-space(pubDate)"/></xsl:when>
        <xsl:when test="dc:date"><xsl:value-of select="normalize-space(dc:date)"/></xsl:when>
        <xsl:when test="atom:published"><xsl:value-of select="normalize-space(atom:published)"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space(atom:updated)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="author" select="normalize-space((dc:creator | author | atom:author/atom:name)[1])"/>
    <xsl:variable name="summary" select="normalize-space(description | atom:summary)"/>
    <li>
      <article>
        <h2>
          <xsl:choose>
            <xsl:when test="$link != ''">
              <a href="{$link}"><xsl:value-of select="$entry-title"/></a>
            </xsl:when>
            <xsl:otherwise><xsl:value-of select="$entry-title"/></xsl:otherwise>
          </xsl:choose>
        </h2>
        <xsl:if test="$date != '' or $author != ''">
          <p class="meta">
            <xsl:value-of select="$date"/>
            <xsl:if test="$date != '' and $author != ''"> · </xsl:if>
            <xsl:value-of select="$author"/>
          </p>
        </xsl:if>
        <xsl:if test="$summary != ''">
          <p class="summary"><xsl:value-of select="$summary"/></p>
        </xsl:if>
      </article>
    </li>
  </xsl:template>

</xsl:stylesheet>
