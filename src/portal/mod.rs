//! The end user's side: the portal's JSON API (and its pages).

pub mod api;
pub mod entry;
