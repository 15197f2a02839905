//! The `feedsvc` binary: parse arguments, run, print any error on one line, exit.

use clap::Parser;

fn main() {
    let cli = feedsvc::cli::Cli::parse();
    match feedsvc::cli::run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("feedsvc: {e:#}");
            std::process::exit(1);
        }
    }
}
