//! Integration tests: one binary, so the crate links once.
//!
//! Tests that need a database run against SQLite always and against Postgres when
//! `TEST_DATABASE_URL` is set (`.ci/run` always sets it; with `CI=true` a missing or
//! unreachable Postgres fails the run instead of skipping).

#[macro_use]
mod common;

mod abuse;
mod accounts;
mod api;
mod backend;
mod blobs;
mod bodies;
mod browser;
mod cli;
mod concurrency;
mod dashboard;
mod dashboard_browser;
mod dashboard_cli;
mod dashboard_review;
mod decoding;
mod document;
mod faces;
mod forms;
mod fuzz;
mod headers;
mod imaging;
mod metrics;
mod mrz_rules;
mod openapi;
mod operator;
mod outage;
mod portal;
mod portal_pages;
mod redaction;
mod server;
mod store;
mod test_mode;
mod throttle;
mod webhooks;
