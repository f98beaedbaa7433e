//! The machine-readable zone's rules, through the portal API: a zone that fails its
//! checks, an expired document, an underage holder, a form that names someone else and a
//! passport without a zone, each ending as the decision policy says; and the form offered
//! what the zone says.

use axum::http::StatusCode;
use chrono::Datelike;
use image::{Rgb, RgbImage};
use serde_json::{Value, json};
use v2client::backend::{DecisionInput, StepOutcome, Verdict};
use v2client::domain::mrz::{Mrz, MrzChecks, MrzFormat};
use v2client::domain::{DocumentType, KeySettings, Module, RedactionTarget, Status, Step};
use v2client_testkit::mrz::{Holder, ZoneGeometry, print_zone};
use v2client_testkit::synth;

use crate::backend::{Kind, backend};
use crate::common::{Db, TestApp};
use crate::portal::{jpeg, multipart, post_json, post_multipart, state};

both_stores!(
    a_zone_whose_date_of_birth_was_altered_needs_review,
    a_zone_altered_with_its_composite_recomputed_needs_review,
    an_expired_passport_is_rejected,
    an_underage_holder_is_rejected_under_a_minimum_age,
    a_form_that_disagrees_with_the_zone_needs_review,
    the_form_offers_what_the_zone_says_and_confirmed_is_verified,
    a_passport_without_a_zone_is_retaken_then_reviewed,
);

/// The holder of every generated passport.
fn holder() -> Holder {
    Holder::for_document(DocumentType::Passport)
}

/// A passport data page lying flat on a dark table, with the test face in its portrait
/// box and `zone` printed as its machine-readable zone (`None`: no zone at all).
fn passport_page(zone: Option<&[String]>) -> Vec<u8> {
    let doc = DocumentType::Passport;
    let (mut face, lay) = synth::document_face(doc, 1000, 2);
    // Blank the zone the generator printed (the default holder's), keeping the rounded
    // corners, then print ours.
    let g = ZoneGeometry::of(doc);
    let px = f64::from(face.width()) / lay.width_mm;
    let top = ((g.last_baseline_mm - g.line_pitch_mm - g.cap_mm - 1.5) * px) as u32;
    let bottom = (((g.last_baseline_mm + 1.5) * px) as u32).min(face.height());
    let left = ((g.left_mm - 1.5) * px) as u32;
    let right = face.width() - left;
    for y in top..bottom {
        for x in left..right {
            let p = face.get_pixel_mut(x, y);
            if p.0 != [255, 0, 255] {
                *p = Rgb([228, 226, 214]);
            }
        }
    }
    if let Some(lines) = zone {
        print_zone(&mut face, doc, lines);
    }
    let region = lay.region(RedactionTarget::Portrait).unwrap();
    let (w, h) = (f64::from(face.width()), f64::from(face.height()));
    let portrait = crate::faces::astronaut().resize_to_fill(
        (region.w * w) as u32,
        (region.h * h) as u32,
        image::imageops::FilterType::Triangle,
    );
    image::imageops::overlay(
        &mut face,
        &portrait.to_rgb8(),
        (region.x * w) as i64,
        (region.y * h) as i64,
    );
    let mut table = RgbImage::from_pixel(1400, 1100, Rgb([40, 44, 52]));
    image::imageops::overlay(&mut table, &face, 200, 200);
    jpeg(&table)
}

/// A verification of a new key with `settings`, taking passports only; its id and key.
async fn passport_verification(app: &TestApp, settings: KeySettings) -> (String, String) {
    let (_, key) = app
        .new_key(KeySettings {
            document_types: vec![DocumentType::Passport],
            ..settings
        })
        .await;
    let r = app.generate(Some(key.expose()), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let id = r.json()["verificationId"].as_str().unwrap().to_owned();
    (id, key.expose().to_owned())
}

fn document_only() -> KeySettings {
    KeySettings {
        flow: vec![Module::Document],
        ..KeySettings::default()
    }
}

async fn submit_passport(app: &TestApp, id: &str, page: &[u8]) -> Value {
    let r = post_multipart(
        app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[("document_type", b"passport"), ("image", page)]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    r.json()
}

async fn details(app: &TestApp, key: &str, id: &str) -> Value {
    app.get(&format!("/api/get-verification-details/{id}"), Some(key))
        .await
        .json()
}

fn reasons(d: &Value) -> Value {
    d["results"]["decision"]["reasons"].clone()
}

/// The holder's zone with 1974 turned into 1979 on the second line; the date of birth's
/// check digit still says 1974. With `recompute_composite`, the composite check digit is
/// made to agree with the altered line (a forger who knew of one digit but not the other).
fn altered_zone(recompute_composite: bool) -> Vec<String> {
    let mut lines = holder().zone(DocumentType::Passport);
    assert_eq!(&lines[1][13..19], "740812");
    lines[1].replace_range(14..15, "9");
    if recompute_composite {
        // ICAO 9303: weights 7, 3, 1 over the document number and its check digit, the
        // date of birth, the date of expiry and the personal number, each with theirs.
        let l = &lines[1];
        let covered = format!("{}{}{}", &l[0..10], &l[13..20], &l[21..43]);
        let value = |c: char| match c {
            '0'..='9' => u32::from(c) - u32::from('0'),
            'A'..='Z' => u32::from(c) - u32::from('A') + 10,
            _ => 0,
        };
        let sum: u32 = covered
            .chars()
            .zip([7, 3, 1].iter().cycle())
            .map(|(c, w)| value(c) * w)
            .sum();
        lines[1].replace_range(43..44, &(sum % 10).to_string());
    }
    lines
}

async fn altered_zone_needs_review(db: Db, recompute_composite: bool) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = passport_verification(&app, document_only()).await;
    let page = passport_page(Some(&altered_zone(recompute_composite)));
    let r = submit_passport(&app, &id, &page).await;
    // No retake: a better photo would not change what is printed.
    assert_eq!(r["status"], "accepted", "{r}");
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "needs_manual_review", "{d}");
    assert_eq!(reasons(&d), json!(["MRZ_CHECK_FAILED"]), "{d}");
    let mrz = &d["results"]["document"]["mrz"];
    assert_eq!(mrz["valid"], false, "{mrz}");
    assert_eq!(mrz["checks"]["date_of_birth"], false, "{mrz}");
    assert_eq!(mrz["checks"]["composite"], recompute_composite, "{mrz}");
    assert_eq!(mrz["checks"]["document_number"], true, "{mrz}");
    assert_eq!(mrz["date_of_birth"], "1979-08-12", "{mrz}");
    assert_eq!(
        d["attempts"][0]["metrics"]["flags"],
        json!(["MRZ_CHECK_FAILED"])
    );
}

async fn a_zone_whose_date_of_birth_was_altered_needs_review(db: Db) {
    altered_zone_needs_review(db, false).await;
}

async fn a_zone_altered_with_its_composite_recomputed_needs_review(db: Db) {
    altered_zone_needs_review(db, true).await;
}

async fn an_expired_passport_is_rejected(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = passport_verification(&app, document_only()).await;
    let expired = Holder {
        date_of_expiry: (2021, 3, 31),
        ..holder()
    };
    let page = passport_page(Some(&expired.zone(DocumentType::Passport)));
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "rejected", "{d}");
    assert_eq!(reasons(&d), json!(["DOCUMENT_EXPIRED"]), "{d}");
    assert_eq!(
        d["results"]["document"]["mrz"]["date_of_expiry"],
        "2021-03-31"
    );
    assert_eq!(d["results"]["document"]["mrz"]["valid"], true);
}

async fn an_underage_holder_is_rejected_under_a_minimum_age(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let twelve = chrono::Utc::now().date_naive().year() - 12;
    let young = Holder {
        date_of_birth: (twelve, 1, 15),
        ..holder()
    };
    let page = passport_page(Some(&young.zone(DocumentType::Passport)));
    let (id, key) = passport_verification(
        &app,
        KeySettings {
            min_age: Some(18),
            ..document_only()
        },
    )
    .await;
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "rejected", "{d}");
    assert_eq!(reasons(&d), json!(["UNDERAGE"]), "{d}");
    // The same holder passes a key without a minimum age, and the default holder (born
    // 1974) one with it.
    let (id, key) = passport_verification(&app, document_only()).await;
    submit_passport(&app, &id, &page).await;
    assert_eq!(
        details(&app, &key, &id).await["status"]["current"],
        "verified"
    );
    let (id, key) = passport_verification(
        &app,
        KeySettings {
            min_age: Some(18),
            ..document_only()
        },
    )
    .await;
    let adult = passport_page(Some(&holder().zone(DocumentType::Passport)));
    submit_passport(&app, &id, &adult).await;
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "verified", "{d}");
}

fn with_form() -> KeySettings {
    KeySettings {
        flow: vec![Module::Document, Module::FormData],
        ..KeySettings::default()
    }
}

async fn a_form_that_disagrees_with_the_zone_needs_review(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = passport_verification(&app, with_form()).await;
    let page = passport_page(Some(&holder().zone(DocumentType::Passport)));
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "Anna", "last_name": "Eriksen", "date_of_birth": "1974-08-12"}),
    )
    .await;
    // The form's own checks pass: the disagreement is for a person to weigh.
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "needs_manual_review", "{d}");
    assert_eq!(reasons(&d), json!(["DATA_MISMATCH:last_name"]), "{d}");
}

async fn the_form_offers_what_the_zone_says_and_confirmed_is_verified(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = passport_verification(&app, with_form()).await;
    assert_eq!(state(&app, &id).await["form_prefill"], json!({}));
    let page = passport_page(Some(&holder().zone(DocumentType::Passport)));
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let offered = json!({
        "first_name": "Anna Maria",
        "last_name": "Eriksson",
        "date_of_birth": "1974-08-12",
    });
    let s = state(&app, &id).await;
    assert_eq!(s["current_step"], "form_data");
    assert_eq!(s["form_prefill"], offered, "{s}");
    // The page renders them as the fields' values, editable, with a note.
    let html = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    let html = String::from_utf8_lossy(&html.body).into_owned();
    assert!(html.contains("value=\"Eriksson\""), "{html}");
    assert!(html.contains("value=\"1974-08-12\""));
    assert!(html.contains("We filled in what we read on your document"));
    assert!(!html.contains("id=\"form-prefilled\" hidden"));
    // Confirmed as offered: verified, with the zone in the results and not in the
    // attempts.
    let r = post_json(&app, &format!("/api/portal/{id}/form"), offered.clone()).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "verified", "{d}");
    let mrz = &d["results"]["document"]["mrz"];
    assert_eq!(
        (
            &mrz["format"],
            &mrz["document_code"],
            &mrz["issuing_state"],
            &mrz["document_number"],
            &mrz["nationality"],
            &mrz["sex"],
            &mrz["surname"],
            &mrz["given_names"],
            &mrz["date_of_birth"],
            &mrz["date_of_expiry"],
            &mrz["optional_data"],
            &mrz["valid"],
        ),
        (
            &json!("TD3"),
            &json!("P"),
            &json!("UTO"),
            &json!("L898902C3"),
            &json!("UTO"),
            &json!("F"),
            &json!("ERIKSSON"),
            &json!("ANNA MARIA"),
            &json!("1974-08-12"),
            &json!("2041-04-15"),
            &json!("ZE184226B"),
            &json!(true),
        ),
        "{mrz}"
    );
    assert_eq!(
        mrz["checks"],
        json!({"document_number": true, "date_of_birth": true, "date_of_expiry": true,
            "composite": true, "personal_number": true})
    );
    let attempts = d["attempts"].to_string();
    assert!(
        !attempts.contains("ERIKSSON") && !attempts.contains("L898902C3"),
        "{attempts}"
    );
    // Sent: nothing is offered any more.
    assert_eq!(state(&app, &id).await["form_prefill"], json!({}));
}

async fn a_passport_without_a_zone_is_retaken_then_reviewed(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = passport_verification(
        &app,
        KeySettings {
            max_attempts: 2,
            ..document_only()
        },
    )
    .await;
    let page = passport_page(None);
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["reasons"], json!(["MRZ_NOT_FOUND"]), "{r}");
    assert_eq!(r["attempts_left"], 1);
    assert_eq!(r["next_step"], "document_front");
    let s = state(&app, &id).await;
    assert_eq!(
        s["last_rejection"],
        json!({"step": "document_front", "reasons": ["MRZ_NOT_FOUND"]})
    );
    // The page has the words for it.
    let html = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    let html = String::from_utf8_lossy(&html.body).into_owned();
    assert!(html.contains("MRZ_NOT_FOUND"), "{html}");
    assert!(html.contains("code lines at the bottom of the document"));
    // The last attempt passes with the finding, for a person to look at.
    let r = submit_passport(&app, &id, &page).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let d = details(&app, &key, &id).await;
    assert_eq!(d["status"]["current"], "needs_manual_review", "{d}");
    assert_eq!(reasons(&d), json!(["MRZ_NOT_FOUND"]), "{d}");
    assert!(d["results"]["document"].get("mrz").is_none(), "{d}");
}

/// The zone's rules travel to a remote engine: the decision input carries the zone, the
/// form and the minimum age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_apply_the_zones_rules() {
    let zone = Mrz {
        format: MrzFormat::Td3,
        document_code: "P".into(),
        issuing_state: "UTO".into(),
        document_number: "L898902C3".into(),
        nationality: "UTO".into(),
        date_of_birth: "2015-01-15".parse().ok(),
        date_of_expiry: "2021-03-31".parse().ok(),
        sex: "F".into(),
        surname: "ERIKSSON".into(),
        given_names: "ANNA MARIA".into(),
        optional_data: None,
        checks: MrzChecks {
            document_number: true,
            date_of_birth: true,
            date_of_expiry: true,
            composite: true,
            personal_number: Some(true),
        },
        valid: true,
    };
    let input = |min_age, today: &str, form: &[(&str, &str)]| DecisionInput {
        required: vec![Step::DocumentFront, Step::FormData],
        steps: ["document_front", "form_data"]
            .map(|s| StepOutcome {
                step: s.parse().unwrap(),
                verdict: Verdict::Accepted,
                reasons: vec![],
                borderline: vec![],
                flags: vec![],
            })
            .to_vec(),
        face_match: None,
        face_match_required: false,
        strict_liveness: false,
        mrz: Some(zone.clone()),
        form_data: form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        min_age,
        today: today.parse().unwrap(),
    };
    for kind in [Kind::Local, Kind::Http] {
        let b = backend(kind).await;
        let d = b.decide(input(Some(18), "2026-01-01", &[])).await.unwrap();
        assert_eq!(d.status, Status::Rejected, "{kind:?}");
        assert_eq!(d.reasons, vec!["DOCUMENT_EXPIRED", "UNDERAGE"], "{kind:?}");
        let d = b
            .decide(input(None, "2021-03-31", &[("first_name", "Ada")]))
            .await
            .unwrap();
        assert_eq!(d.status, Status::NeedsManualReview, "{kind:?}");
        assert_eq!(d.reasons, vec!["DATA_MISMATCH:first_name"], "{kind:?}");
    }
}

/// `keys create --min-age N`: bounded, needing the document module, and shown with the
/// key's settings (the command's JSON and `GET /api/check-config`).
#[tokio::test]
async fn a_keys_minimum_age_is_set_bounded_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| {
        let mut cmd = crate::common::v2client(dir.path());
        cmd.args(["keys", "create", "--name", "Adults"]).args(args);
        async move { cmd.output().await.expect("run v2client") }
    };
    let out = run(&["--min-age", "18", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["min_age"], 18, "{v}");
    for (args, needle) in [
        (&["--min-age", "0"][..], "0"),
        (&["--min-age", "151"][..], "151"),
        (
            &["--min-age", "18", "--flow", "terms,form_data"][..],
            "document module",
        ),
    ] {
        let mut cmd = crate::common::v2client(dir.path());
        cmd.args(["keys", "create", "--name", "Bad"]).args(args);
        let out = cmd.output().await.unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            min_age: Some(21),
            ..KeySettings::default()
        })
        .await;
    let r = app.get("/api/check-config", Some(key.expose())).await;
    assert_eq!(r.json()["key"]["min_age"], 21, "{}", r.json());
    let r = app.get("/api/check-config", Some(app.key())).await;
    assert_eq!(r.json()["key"]["min_age"], Value::Null);
}
