//! How the text of each kind of setting is read and checked, named in the `deserialize_with`
//! of the fields that use it. Whichever layer gave the value, the same function reads it,
//! and figment adds the key and layer to its error.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderName;
use serde::de::{Deserialize, Deserializer, Error};
use url::Url;

use crate::domain::duration::parse_duration;

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// `30s`, `5m`, `24h`, `500ms`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse_duration(&text(d)?).map_err(D::Error::custom)
}

/// A duration where zero would refuse every request.
pub fn nonzero_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Some(duration(d)?)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| D::Error::custom("must be longer than zero"))
}

/// A count where zero would shut the thing off (a quota, a pool).
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Some(u32::deserialize(d)?)
        .filter(|n| *n > 0)
        .ok_or_else(|| D::Error::custom("must be at least 1"))
}

/// A bound on remembered keys: zero is read as one.
pub fn one_or_more<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(usize::deserialize(d)?.max(1))
}

pub fn address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = text(d)?;
    text.parse()
        .map_err(|_| D::Error::custom(format!("`{text}` is not an address such as 127.0.0.1:8080")))
}

fn absolute_http(raw: &str, text: &str) -> Result<Url, String> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("`{raw}` is not an absolute http(s) URL"))
}

pub fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let raw = text(d)?;
    absolute_http(&raw, &raw).map_err(D::Error::custom)
}

/// A base URL that routes are joined onto: a trailing slash keeps its path prefix.
pub fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let raw = text(d)?;
    let with_slash = if raw.ends_with('/') {
        raw.clone()
    } else {
        format!("{raw}/")
    };
    absolute_http(&raw, &with_slash)
        .map(Some)
        .map_err(D::Error::custom)
}

/// A secret or name where blank means unset.
pub fn non_blank<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(text(d)?).filter(|t| !t.trim().is_empty()))
}

/// Blank means unset; otherwise a header name, compared in lower case.
pub fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HeaderName>, D::Error> {
    let raw = text(d)?;
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map(Some)
        .map_err(|_| D::Error::custom(format!("`{raw}` is not a header name")))
}

/// `memory` (this process) or `database` (shared by every instance on it).
pub fn counted_in_database<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match text(d)?.trim() {
        "memory" => Ok(false),
        "database" => Ok(true),
        other => Err(D::Error::custom(format!(
            "`{other}` is neither `memory` nor `database`"
        ))),
    }
}
