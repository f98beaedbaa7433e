//! Redaction on documents whose fields are not where the built-in template puts them: the
//! zone, the document number (in the zone and in the visual zone) and the printed
//! portraits are found on the document itself and blacked out on both stored images.

use axum::http::StatusCode;
use image::{GrayImage, RgbImage};
use v2client::domain::{DocumentType, KeySettings, Module, RedactionTarget};
use v2client::imaging::RelRect;
use v2client_testkit::card::{FaceLayout, document_face_for};
use v2client_testkit::mrz::Holder;

use crate::common::{Db, TestApp};
use crate::faces::astronaut;
use crate::portal::{jpeg, multipart, post_multipart};

both_stores!(fields_are_found_and_hidden_on_other_layouts);

/// Where the page lies on the photographed table, unscaled.
const AT: (u32, u32) = (150, 150);

/// The brightest pixel of `r` (fractions of `img`), `inset` pixels in from each edge.
fn brightest(img: &GrayImage, r: RelRect, inset: u32) -> u8 {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let (x0, y0) = ((r.x * w) as u32 + inset, (r.y * h) as u32 + inset);
    let (x1, y1) = (
        (((r.x + r.w) * w) as u32)
            .saturating_sub(inset)
            .min(img.width()),
        (((r.y + r.h) * h) as u32)
            .saturating_sub(inset)
            .min(img.height()),
    );
    let mut max = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            max = max.max(img.get_pixel(x, y).0[0]);
        }
    }
    max
}

async fn fields_are_found_and_hidden_on_other_layouts(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::Document],
            document_types: vec![DocumentType::Passport],
            redact: vec![
                RedactionTarget::DocumentNumber,
                RedactionTarget::Portrait,
                RedactionTarget::Mrz,
            ],
            ..KeySettings::default()
        })
        .await;
    let doc = DocumentType::Passport;
    for face_layout in [
        FaceLayout::portrait_right(doc),
        FaceLayout::number_top_left(doc),
    ] {
        let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
            .as_str()
            .unwrap()
            .to_owned();
        let printed = document_face_for(doc, 1100, 3, &Holder::for_document(doc), &face_layout);
        let mut page = printed.image.clone();
        let fields = printed.fields;
        // A real face in the portrait (and a smaller one in the ghost), so the detector
        // finds them where this layout put them.
        let (pw, ph) = (f64::from(page.width()), f64::from(page.height()));
        for r in [Some(fields.portrait), fields.ghost].into_iter().flatten() {
            let photo = astronaut().resize_to_fill(
                (r.w * pw) as u32,
                (r.h * ph) as u32,
                image::imageops::FilterType::Triangle,
            );
            image::imageops::overlay(
                &mut page,
                &photo.to_rgb8(),
                (r.x * pw) as i64,
                (r.y * ph) as i64,
            );
        }
        // Outside the rounded corners the face is a marker colour: the table shows there.
        for p in page.pixels_mut() {
            if p.0 == [255, 0, 255] {
                p.0 = [40, 44, 52];
            }
        }
        let mut table = RgbImage::from_pixel(1400, 1100, image::Rgb([40, 44, 52]));
        image::imageops::overlay(&mut table, &page, i64::from(AT.0), i64::from(AT.1));
        let r = post_multipart(
            &app,
            &format!("/api/portal/{id}/document/front"),
            multipart(&[("document_type", b"passport"), ("image", &jpeg(&table))]),
        )
        .await;
        assert_eq!(
            r.json()["status"],
            "accepted",
            "{}: {}",
            face_layout.name,
            r.json()
        );

        // The printed photographs are hidden to their own edges, wherever this layout put
        // them and however much backdrop they show around the face.
        let mut hidden = vec![
            ("printed number", fields.document_number),
            ("zone", fields.mrz.expect("a passport has a zone")),
            ("portrait", fields.portrait),
        ];
        hidden.extend(fields.ghost.map(|g| ("ghost portrait", g)));
        // The crop: the page itself, straightened.
        let r = app
            .get(
                &format!("/api/get-verification-image-front/{id}?image_type=cropped"),
                Some(key.expose()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let crop = image::load_from_memory(&r.body).unwrap().to_luma8();
        for (name, region) in &hidden {
            let max = brightest(&crop, *region, 4);
            assert!(
                max < 40,
                "{}: the {name} shows on the crop (brightest {max})",
                face_layout.name
            );
        }
        // The original: the same regions where the page lay on the table.
        let r = app
            .get(
                &format!("/api/get-verification-image-front/{id}?image_type=original"),
                Some(key.expose()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let original = image::load_from_memory(&r.body).unwrap().to_luma8();
        let (ow, oh) = (f64::from(original.width()), f64::from(original.height()));
        for (name, region) in &hidden {
            let on_table = RelRect::new(
                (f64::from(AT.0) + region.x * pw) / ow,
                (f64::from(AT.1) + region.y * ph) / oh,
                region.w * pw / ow,
                region.h * ph / oh,
            );
            let max = brightest(&original, on_table, 4);
            assert!(
                max < 40,
                "{}: the {name} shows on the original (brightest {max})",
                face_layout.name
            );
        }
        // And what is not to be hidden still shows: the holder's name.
        let max = brightest(&crop, fields.surname, 0);
        assert!(
            max > 150,
            "{}: the surname was blacked out too",
            face_layout.name
        );
    }
}
