//! Integration tests: drive the real `feedsvc` binary against real SQLite files and sockets.

mod support;

mod check;
mod cli;
mod feeds;
mod http;
mod input_files;
mod pages;
mod properties;
mod reliability;
mod robustness;
mod server;
