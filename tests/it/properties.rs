//! Property tests over arbitrary articles: what is accepted round-trips through every feed;
//! what is refused changes nothing.
