//! The `feedsvc` binary: parse arguments, run, print any error on one line, exit.

use clap::Parser;

/// mimalloc keeps freed memory for reuse: compressing documents allocates and frees encoder
/// tables of a few MB each, which glibc's allocator returns to the kernel and faults back in
/// every time. Without transparent huge pages (`no_thp`): a short `feedsvc add` touches a few
/// MB, and each first touch of a huge page zeroed 2 MB (a third of an add's time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    feedsvc::cli::install_panic_hook();
    let cli = feedsvc::cli::Cli::parse();
    if let Err(e) = feedsvc::cli::run(cli) {
        if let Some(line) = feedsvc::cli::error_line(&e) {
            eprintln!("feedsvc: {line}");
            std::process::exit(1);
        }
    }
}
