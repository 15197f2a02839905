//! The `feedsvc` binary: parse arguments, run, print any error on one line, exit.

use clap::Parser;

/// mimalloc keeps freed memory for reuse: compressing a publish's documents allocates and frees
/// encoder tables of a few MB each, which glibc's allocator returns to the kernel and faults
/// back in every time (most of an import's time was spent zeroing pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A bug must not show a user a backtrace: one line, then exit 1 (tokio catches panics in
    // server tasks, so a request that hits one fails alone and the server keeps serving).
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("feedsvc: internal error: {message}{location} (please report this)");
    }));
    let cli = feedsvc::cli::Cli::parse();
    if let Err(e) = feedsvc::cli::run(cli) {
        // `feedsvc list | head`: the reader went away; that is not an error worth a message.
        let is_broken_pipe = e.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if is_broken_pipe {
            std::process::exit(0);
        }
        eprintln!("feedsvc: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, skipping causes the message already includes.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
