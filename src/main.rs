//! The `feedsvc` binary: parse arguments, run, print any error on one line, exit.

use clap::Parser;

/// mimalloc keeps freed memory for reuse: compressing a publish's documents allocates and frees
/// encoder tables of a few MB each, which glibc's allocator returns to the kernel and faults
/// back in every time (most of an import's time was spent zeroing pages).
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
