//! RSS 2.0 with `content:encoded`, `dc:creator` and `atom:link rel="self"`.

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Guid, Item};

use super::{author_of, fit_feed, FeedSpec, GENERATOR, VERSION};
use crate::Result;

/// Renders the RSS 2.0 document of `spec`.
pub fn render_rss(spec: &FeedSpec<'_>) -> Result<Vec<u8>> {
    let mut failure = None;
    let bytes = fit_feed(spec.articles.len(), |keep| match write(spec, keep) {
        Ok(bytes) => bytes,
        Err(e) => {
            failure = Some(e);
            Vec::new()
        }
    });
    match failure {
        Some(reason) => Err(crate::Error::Render {
            what: spec.url("rss.xml"),
            reason,
        }),
        None => Ok(bytes),
    }
}

fn write(spec: &FeedSpec<'_>, keep_content: usize) -> std::result::Result<Vec<u8>, String> {
    let cfg = spec.cfg;
    let mut channel = Channel::default();
    channel.set_title(spec.title.clone());
    channel.set_link(spec.page_url.clone());
    channel.set_description(if spec.description.is_empty() {
        spec.title.clone()
    } else {
        spec.description.clone()
    });
    channel.set_language(cfg.site.language.clone());
    channel.set_last_build_date(spec.updated().rfc2822());
    channel.set_generator(format!("{GENERATOR} {VERSION}"));
    channel.set_ttl((cfg.server.feed_max_age / 60).max(1).to_string());
    channel.set_docs("https://www.rssboard.org/rss-specification".to_string());
    let mut self_link = Link::default();
    self_link.set_href(spec.url("rss.xml"));
    self_link.set_rel("self");
    self_link.set_mime_type(Some("application/rss+xml".to_string()));
    let mut links = vec![self_link];
    // WebSub discovery (§4): subscription feeds name their hub; archives never change.
    if let Some(hub) = spec.hub_url() {
        let mut link = Link::default();
        link.set_href(hub);
        link.set_rel("hub");
        links.push(link);
    }
    for (rel, href) in &spec.links {
        let mut link = Link::default();
        link.set_href(format!("{href}rss.xml"));
        link.set_rel(*rel);
        link.set_mime_type(Some("application/rss+xml".to_string()));
        links.push(link);
    }
    let mut atom = AtomExtension::default();
    atom.set_links(links);
    channel.set_atom_ext(Some(atom));
    if spec.is_archive {
        let mut namespaces = std::collections::BTreeMap::new();
        namespaces.insert("fh".to_string(), super::HISTORY_NS.to_string());
        channel.set_namespaces(namespaces);
        let archive = rss::extension::Extension {
            name: "fh:archive".to_string(),
            ..Default::default()
        };
        let mut by_name = std::collections::BTreeMap::new();
        by_name.insert("archive".to_string(), vec![archive]);
        let mut extensions = rss::extension::ExtensionMap::new();
        extensions.insert("fh".to_string(), by_name);
        channel.set_extensions(extensions);
    }

    let items = spec
        .articles
        .iter()
        .enumerate()
        .map(|(index, article)| {
            let mut item = Item::default();
            item.set_title(article.title.clone());
            item.set_link(super::article_url(cfg, &article.slug));
            let mut guid = Guid::default();
            guid.set_value(article.entry_id.clone());
            guid.set_permalink(false);
            item.set_guid(guid);
            item.set_pub_date(article.published.rfc2822());
            // RSS readers treat <description> as HTML; the summary is plain text.
            item.set_description(crate::text::escape_markup(article.description()));
            if index < keep_content {
                item.set_content(article.body_html.clone());
            }
            let mut dc = DublinCoreExtension::default();
            dc.set_creators(vec![author_of(cfg, article).to_string()]);
            item.set_dublin_core_ext(dc);
            item.set_categories(
                article
                    .tags
                    .iter()
                    .map(|tag| {
                        let mut category = Category::default();
                        category.set_name(tag.name.clone());
                        category.set_domain(super::tag_url(cfg, &tag.slug));
                        category
                    })
                    .collect::<Vec<_>>(),
            );
            item
        })
        .collect::<Vec<_>>();
    channel.set_items(items);
    channel
        .pretty_write_to(Vec::new(), b' ', 2)
        .map_err(|e| e.to_string())
}
