//! The admin side of the server: pages and figures for the site's operators, served on their
//! own listener.

pub mod dashboard;
