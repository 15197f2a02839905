//! Integration tests: drive the real `feedsvc` binary against real SQLite files and sockets.

mod support;

mod backup;
mod check;
mod cli;
mod export;
mod feeds;
mod http;
mod http_edges;
mod import;
mod input_files;
mod nesting;
mod pages;
mod properties;
mod reliability;
mod robustness;
mod server;
mod stats;
mod websub;
mod websub_attack;
