//! The end-user pages: which page a link gets, in which language, with which headers; the
//! QR handoff image; the SDK's assets. The flow itself runs in a browser; here we check
//! what the server sends it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use v2client::domain::{KeySettings, Status, VerificationId};

use crate::common::{Db, Reply, TestApp};

async fn app() -> TestApp {
    TestApp::new(Db::Sqlite).await.expect("SQLite always runs")
}

fn text(r: &Reply) -> String {
    String::from_utf8(r.body.to_vec()).expect("UTF-8 body")
}

/// The headers every portal page carries.
fn assert_page_headers(r: &Reply) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("style-src 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(csp.matches("frame-ancestors").count(), 1, "{csp}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

/// No inline script or style: the CSP would block them, and they must not be needed.
fn assert_no_inline_code(html: &str) {
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').expect("tag ends")];
        assert!(tag.contains(" src=\"/static/"), "inline script: {tag}");
        assert!(
            html[i..].starts_with(&format!("{tag}></script>")),
            "script with a body"
        );
    }
    assert!(!html.contains(" style="), "style attribute");
    assert!(!html.contains("<style"), "style element");
    assert!(!html.contains(" onclick="), "inline handler");
}

async fn get_with_language(app: &TestApp, path: &str, accept: &str) -> Reply {
    let req = Request::builder()
        .uri(path)
        .header("accept-language", accept)
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

/// Undo HTML attribute escaping: named and numeric character references.
fn unescape_html(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').expect("reference ends") + i;
        let name = &rest[i + 1..end];
        let c = match name {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            _ => {
                let n = name.strip_prefix('#').expect("numeric reference");
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => n.parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A verification stored directly, in any status and with any expiry.
async fn stored_verification(app: &TestApp, status: Status, expires_in: Duration) -> String {
    app.stored_verification(status, expires_in)
        .await
        .id
        .to_string()
}

#[tokio::test]
async fn fresh_verification_renders_the_flow() {
    let app = app().await;
    let id = app.new_verification(None).await;
    let r = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_page_headers(&r);
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let html = text(&r);
    assert_no_inline_code(&html);
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains(&format!("data-verification-id=\"{id}\"")));
    assert!(html.contains("data-flow=\"terms,document,liveness,form_data\""));
    // One section per step, and the progress indicator names them in order.
    for section in [
        "step-terms",
        "step-document_type",
        "step-document_front",
        "step-document_back",
        "step-liveness",
        "step-form_data",
        "step-done",
        "step-handoff",
    ] {
        assert!(html.contains(&format!("id=\"{section}\"")), "{section}");
    }
    let order: Vec<usize> = ["terms", "document", "liveness", "form_data", "done"]
        .iter()
        .map(|s| html.find(&format!("data-step=\"{s}\"")).expect(s))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Document types and form fields come from the verification's modules.
    for doc in ["passport", "id_card", "driving_licence"] {
        assert!(html.contains(&format!("value=\"{doc}\"")), "{doc}");
    }
    assert!(html.contains("name=\"first_name\" type=\"text\""));
    assert!(html.contains("name=\"date_of_birth\" type=\"date\""));
    assert!(html.contains("autocomplete=\"bday\""));
    // Capture always has a file fallback next to the camera.
    assert!(html.contains("accept=\"image/*\" capture=\"environment\""));
    assert!(html.contains("id=\"file-liveness\" accept=\"image/*\" multiple"));
    // Messages for the script ride in an attribute, HTML-escaped, and parse back as JSON.
    let start = html.find("data-messages=\"").unwrap() + "data-messages=\"".len();
    let raw = &html[start..start + html[start..].find('"').unwrap()];
    let decoded = unescape_html(raw);
    let messages: serde_json::Value = serde_json::from_str(&decoded).expect("messages JSON");
    assert_eq!(messages["lang"], "en");
    assert!(
        messages["reasons"]["IMAGE_BLURRY"]
            .as_str()
            .unwrap()
            .contains("blurry")
    );
    assert!(
        messages["ui"]["redirect_in"]
            .as_str()
            .unwrap()
            .contains("{n}")
    );
    // Not embedded: nobody to post events to.
    assert!(html.contains("data-embed=\"0\""));
    assert!(!html.contains("data-parent-origin"));
}

#[tokio::test]
async fn unknown_malformed_and_missing_ids_get_the_not_valid_page() {
    let app = app().await;
    let unknown = VerificationId::generate();
    for path in [
        format!("/verify?verification_id={unknown}"),
        "/verify?verification_id=ver_nothex".to_owned(),
        "/verify?verification_id=%3Cscript%3E".to_owned(),
        "/verify".to_owned(),
    ] {
        let r = app.get(&path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_page_headers(&r);
        let html = text(&r);
        assert!(html.contains("This link is not valid"), "{path}");
        assert!(!html.contains("<script>"), "{path}");
        assert!(!html.contains("data-verification-id"), "{path}");
        assert_no_inline_code(&html);
    }
}

#[tokio::test]
async fn expired_verification_gets_410() {
    let app = app().await;
    let id = stored_verification(&app, Status::InProgress, -Duration::hours(1)).await;
    let r = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_page_headers(&r);
    let html = text(&r);
    assert!(html.contains("This link has expired"));
    assert!(html.contains("data-status=\"expired\""));
    assert!(!html.contains("step-terms"));
}

#[tokio::test]
async fn decided_verification_is_already_complete() {
    let app = app().await;
    // Decided before its expiry time passed: the decision stands afterwards.
    let id = stored_verification(&app, Status::Verified, -Duration::hours(1)).await;
    let r = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_page_headers(&r);
    let html = text(&r);
    assert!(html.contains("already complete"));
    assert!(html.contains("data-status=\"verified\""));
    // Still processing: the flow page, whose script waits for the decision.
    let id = stored_verification(&app, Status::Processing, Duration::hours(1)).await;
    let r = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(text(&r).contains("id=\"step-done\""));
}

#[tokio::test]
async fn pages_are_translated() {
    let app = app().await;
    let id = app.new_verification(None).await;
    let r = app
        .get(&format!("/verify?verification_id={id}&lang=nl"), None)
        .await;
    let html = text(&r);
    assert!(html.contains("<html lang=\"nl\">"));
    assert!(html.contains("Bevestig je identiteit"));
    assert!(html.contains("Geboortedatum"));
    assert!(html.contains("onscherp"), "Dutch reason messages");

    let r = get_with_language(
        &app,
        &format!("/verify?verification_id={id}"),
        "de-DE,de;q=0.9",
    )
    .await;
    let html = text(&r);
    assert!(html.contains("<html lang=\"de\">"));
    assert!(html.contains("Bestätige deine Identität"));

    // `?lang=` wins over the header; q-values pick among the header's languages.
    let r = get_with_language(&app, &format!("/verify?verification_id={id}&lang=fr"), "de").await;
    assert!(text(&r).contains("Vérifiez votre identité"));
    let r = get_with_language(
        &app,
        &format!("/verify?verification_id={id}"),
        "pt;q=1, es;q=0.8, de;q=0.5",
    )
    .await;
    assert!(text(&r).contains("Verifica tu identidad"));

    // Status pages too.
    let r = get_with_language(&app, "/verify?verification_id=nope", "es").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(text(&r).contains("Este enlace no es válido"));
}

#[tokio::test]
async fn embedding_is_allowed_only_for_the_keys_origins() {
    let app = app().await;
    // The default key allows any return origin, so it names no one to be framed by.
    let id = app.new_verification(None).await;
    let r = app
        .get(&format!("/verify?verification_id={id}&embed=1"), None)
        .await;
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .ends_with("frame-ancestors 'none'")
    );
    let html = text(&r);
    assert!(html.contains("data-embed=\"1\""));
    assert!(!html.contains("data-parent-origin"));

    let (_, key) = app
        .new_key(KeySettings {
            allowed_return_origins: vec![
                "https://app.example".into(),
                "https://shop.example".into(),
            ],
            ..KeySettings::default()
        })
        .await;
    let r = app.generate(Some(key.expose()), None).await;
    let id = r.json()["verificationId"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!(
                "/verify?verification_id={id}&embed=1&parent_origin=https%3A%2F%2Fshop.example"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.ends_with("frame-ancestors https://app.example https://shop.example"),
        "{csp}"
    );
    assert!(r.header("x-frame-options").is_none());
    assert!(text(&r).contains("data-parent-origin=\"https://shop.example\""));

    // A parent the key does not allow is never posted to.
    let r = app
        .get(
            &format!(
                "/verify?verification_id={id}&embed=1&parent_origin=https%3A%2F%2Fevil.example"
            ),
            None,
        )
        .await;
    assert!(!text(&r).contains("data-parent-origin"));
    // Without embed=1 the page cannot be framed at all.
    let r = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .ends_with("frame-ancestors 'none'")
    );
}

/// The dark modules an SVG from `qr_svg` draws, from its path's `M x y h w v h H x V y`
/// rectangles, in module units without the quiet zone.
fn svg_modules(svg: &str, width: usize) -> Vec<bool> {
    let attr = |name: &str| -> f64 {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[start..start + svg[start..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    let unit = attr("width") / (width + 8) as f64;
    let d_start = svg.find(" d=\"").expect("path") + 4;
    let d = &svg[d_start..d_start + svg[d_start..].find('"').unwrap()];
    let mut dark = vec![false; width * width];
    for rect in d.split('M').filter(|s| !s.is_empty()) {
        let n: Vec<f64> = rect
            .replace(['h', 'v', 'H', 'V'], " ")
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (x0, y0) = ((n[0] / unit) as usize - 4, (n[1] / unit) as usize - 4);
        let (w, h) = (
            (n[2] / unit).round() as usize,
            (n[3] / unit).round() as usize,
        );
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                dark[y * width + x] = true;
            }
        }
    }
    dark
}

#[tokio::test]
async fn qr_code_encodes_the_verify_link() {
    let app = app().await;
    let id = app.new_verification(None).await;
    let r = app
        .get(&format!("/verify/qr.svg?verification_id={id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let svg = text(&r);
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert_eq!(
        svg.matches("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            .count(),
        1
    );
    assert!(svg.ends_with("</svg>"));
    assert!(!svg.contains("<script"));

    let link = format!("https://verify.test/verify?verification_id={id}");
    assert_eq!(svg, v2client::portal::qr_svg(&link));
    let code =
        qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M).unwrap();
    let expected: Vec<bool> = code
        .to_colors()
        .iter()
        .map(|c| *c == qrcode::Color::Dark)
        .collect();
    assert_eq!(svg_modules(&svg, code.width()), expected);

    for bad in [
        format!(
            "/verify/qr.svg?verification_id={}",
            VerificationId::generate()
        ),
        "/verify/qr.svg?verification_id=junk".to_owned(),
        "/verify/qr.svg".to_owned(),
    ] {
        assert_eq!(
            app.get(&bad, None).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn sdk_and_page_assets_are_served() {
    let app = app().await;
    let r = app.get("/verification-sdk.js", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let js = text(&r);
    assert!(js.contains("class VerificationSDK"));
    assert!(js.contains("openWithVerificationId"));
    assert!(js.contains("event.origin !== this.origin"));

    let r = app.get("/modal.css", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert!(text(&r).contains(".v2c-overlay"));

    for (path, kind) in [
        ("/static/portal.js", "text/javascript; charset=utf-8"),
        ("/static/portal.css", "text/css; charset=utf-8"),
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some(kind), "{path}");
    }
    assert!(text(&app.get("/static/portal.js", None).await).contains("'use strict'"));
}
