//! Arbitrary bytes as a file given to `feedsvc import`: format detection, then every reader
//! (Blogger, WordPress, RSS/Atom, JSON Feed) over them whatever `detect` says, once through an
//! ordinary buffer and once through a tiny one, so that multi-byte characters, CDATA sections
//! and entities split across buffer boundaries are exercised. A reader may refuse the input
//! with an error; a panic anywhere is a bug, and so is an entry with an empty id. The readers
//! run on a thread with the default 2 MiB stack, as in `feedsvc import`, so that deep
//! recursion fails here as it would there.
#![no_main]

use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;

use feedsvc::import::{self, blogger, feed, jsonfeed, wordpress, Item};
use libfuzzer_sys::fuzz_target;

/// Checks what a reader promises of each item, and asks for the next.
fn inspect(item: Item) -> ControlFlow<()> {
    if let Item::Entry(entry) = &item {
        assert!(!entry.id.is_empty(), "an entry with an empty id: {entry:?}");
        assert!(entry.position.item > 0, "an entry at item 0: {entry:?}");
    }
    ControlFlow::Continue(())
}

/// Runs every reader over the input that `input` makes, a fresh one per reader.
fn read_all<R: BufRead>(input: impl Fn() -> R) {
    let _ = blogger::read(input(), "fuzz.xml", &mut inspect);
    let _ = wordpress::read(input(), "fuzz.xml", &mut inspect);
    let _ = feed::read(input(), "fuzz.xml", None, &mut inspect);
    let _ = feed::read(
        input(),
        "fuzz.xml",
        Some("https://example.org/feed/"),
        &mut inspect,
    );
    let _ = jsonfeed::read(input(), "fuzz.json", None, &mut inspect);
}

/// The stack of the importer's reading thread (Rust's default for a spawned thread).
const READER_STACK: usize = 2 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = import::detect(data);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(READER_STACK)
            .spawn_scoped(scope, || {
                read_all(|| data);
                if let Some(&first) = data.first() {
                    let capacity = 1 + usize::from(first % 7);
                    read_all(|| BufReader::with_capacity(capacity, data));
                }
            })
            .expect("a thread starts")
            .join()
            .expect("the readers do not panic");
    });
});
