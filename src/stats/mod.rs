//! Who polls the feeds: requests, answers, bytes and subscribers per feed and UTC day.

pub mod report;
