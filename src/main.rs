//! The `feedsvc` binary: parse arguments, run, print any error on one line, exit.

use clap::Parser;

fn main() {
    let cli = feedsvc::cli::Cli::parse();
    if let Err(e) = feedsvc::cli::run(cli) {
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
