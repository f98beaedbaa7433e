//! Generated hostile input for the parsers anonymous clients reach: the image decoders and
//! the portal's JSON and multipart step parsers. Thousands of inputs, each must end in a
//! typed answer — never a panic, a 5xx, or a decode past the pixel ceiling.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use image::{ImageFormat, Rgb, RgbImage};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use v2client::imaging::{self, DecodeLimits};

use crate::common::{Db, TestApp};

/// Small valid files of each accepted format, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let img = RgbImage::from_fn(24, 16, |x, y| Rgb([(x * 10) as u8, (y * 15) as u8, 90]));
    let mut out = Vec::new();
    for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, format).unwrap();
        out.push(buf.into_inner());
    }
    out
}

/// A seed file with bytes overwritten, a slice cut out, or a tail of garbage.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
        prop::option::of((any::<prop::sample::Index>(), 0usize..64)),
        prop::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(move |(which, writes, cut, tail)| {
            let mut bytes = seeds[which].clone();
            for (at, value) in writes {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if let Some((at, len)) = cut {
                let start = at.index(bytes.len());
                let end = (start + len).min(bytes.len());
                bytes.drain(start..end);
            }
            bytes.extend(tail);
            bytes
        })
}

fn check_decode(bytes: &[u8], limits: &DecodeLimits) -> Result<(), TestCaseError> {
    match imaging::decode(bytes, limits) {
        Ok(d) => {
            let pixels = u64::from(d.image.width()) * u64::from(d.image.height());
            prop_assert!(pixels <= limits.max_pixels);
            prop_assert!(
                d.image.width() <= limits.max_width && d.image.height() <= limits.max_height
            );
        }
        Err(e) => prop_assert!(
            ["UNSUPPORTED_FORMAT", "IMAGE_TOO_LARGE", "IMAGE_CORRUPT"].contains(&e.code()),
            "{e}"
        ),
    }
    Ok(())
}

#[test]
fn decoders_survive_mutated_files() {
    // Tight ceilings, so a mutated header that claims a large image must be refused.
    let limits = DecodeLimits {
        max_bytes: 64 * 1024,
        max_width: 64,
        max_height: 64,
        max_pixels: 2_000,
    };
    let mut runner = TestRunner::new(Config {
        cases: 3_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&mutated(), |bytes| check_decode(&bytes, &limits))
        .unwrap();
}

#[test]
fn decoders_survive_random_bytes_behind_a_real_signature() {
    let signatures: [&[u8]; 3] = [
        &[0xFF, 0xD8, 0xFF],
        b"\x89PNG\r\n\x1a\n",
        b"RIFF\0\0\0\0WEBP",
    ];
    let strategy = (0..3usize, prop::collection::vec(any::<u8>(), 0..2_048));
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(sig, rest)| {
            let mut bytes = signatures[sig].to_vec();
            bytes.extend(rest);
            check_decode(&bytes, &DecodeLimits::default())
        })
        .unwrap();
}

/// An answer of the portal API to a hostile body: a documented client error or success,
/// in the JSON error shape when it is an error.
fn check_answer(status: StatusCode, body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(
        !status.is_server_error(),
        "{status}: {}",
        String::from_utf8_lossy(body)
    );
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| TestCaseError::fail(format!("{status} without a JSON body: {e}")))?;
        prop_assert!(v["error"].is_string() && v["code"].is_string(), "{v}");
    }
    Ok(())
}

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("accepted".to_owned()),
                    Just("first_name".to_owned()),
                    Just("date_of_birth".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A multipart body with random parts: names the portal knows and others, file parts with
/// mutated images or junk, and sometimes a broken boundary.
fn multipart_body() -> impl Strategy<Value = Vec<u8>> {
    let part = (
        prop_oneof![
            Just("image"),
            Just("frames"),
            Just("document_type"),
            Just("other")
        ],
        any::<bool>(),
        prop_oneof![
            mutated(),
            prop::collection::vec(any::<u8>(), 0..256),
            Just(b"id_card".to_vec()),
            Just(b"passport".to_vec()),
        ],
    );
    (prop::collection::vec(part, 0..10), any::<bool>()).prop_map(|(parts, close)| {
        let mut out = Vec::new();
        for (name, file, data) in parts {
            out.extend_from_slice(b"--fuzzboundary\r\n");
            let disposition = if file {
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"f.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
                )
            } else {
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
            };
            out.extend_from_slice(disposition.as_bytes());
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"--fuzzboundary--\r\n");
        }
        out
    })
}

async fn send(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    (r.status, r.body.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_step_parsers_survive_generated_bodies() {
    // Quotas out of the way: this test is about parsing, and the throttles have their own.
    let quotas = [
        ("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "100000"),
        ("V2CLIENT_PORTAL_PER_VERIFICATION_PER_MINUTE", "100000"),
    ];
    let Some(app) = TestApp::with_env(Db::Sqlite, &quotas).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let json_routes = ["terms", "form"];
    let strategy = (0..2usize, json_value(), any::<bool>());
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |(route, value, garble)| {
                let mut body = serde_json::to_vec(&value).unwrap();
                if garble && !body.is_empty() {
                    body.truncate(body.len() / 2);
                }
                let path = format!("/api/portal/{id}/{}", json_routes[route]);
                let (status, bytes) = handle.block_on(send(&app, &path, "application/json", body));
                check_answer(status, &bytes)
            })
            .unwrap();
    });
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let routes = ["document/front", "document/back", "liveness"];
    let strategy = (0..3usize, multipart_body());
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |(route, body)| {
                let path = format!("/api/portal/{id}/{}", routes[route]);
                let (status, bytes) = handle.block_on(send(
                    &app,
                    &path,
                    "multipart/form-data; boundary=fuzzboundary",
                    body,
                ));
                check_answer(status, &bytes)
            })
            .unwrap();
    });
}
