//! The image pipeline end to end on generated photos: acceptance and corner accuracy,
//! every rejection reason, hostile files, EXIF orientation and metadata, redaction.

use image::{Rgb, RgbImage};
use v2client::domain::{DocumentType, RedactionTarget};
use v2client::imaging::geometry::inside_convex;
use v2client::imaging::{
    self, DecodeLimits, DocumentAnalysis, DocumentCheck, FILL, FoundFields, ImagingConfig, Point,
    Quad, Reason, RelRect,
};
use v2client_testkit::synth::{self, Variant};

const W: u32 = 1280;
const H: u32 = 960;

fn jpeg(img: &RgbImage) -> Vec<u8> {
    imaging::encode_jpeg(img, 92).unwrap()
}

fn check(img: &RgbImage, doc: DocumentType) -> DocumentCheck {
    imaging::check_document(&jpeg(img), doc, &ImagingConfig::default()).unwrap()
}

fn analyse(img: &RgbImage, doc: DocumentType) -> DocumentAnalysis {
    imaging::analyse_document(&jpeg(img), doc, &ImagingConfig::default()).unwrap()
}

/// Largest corner error as a share of the document's diagonal.
fn corner_error(found: &Quad, truth: &Quad) -> f64 {
    found.max_corner_distance(truth) / truth.diagonal()
}

fn assert_accepted_and_accurate(doc: DocumentType, seed: u64) {
    let scene = synth::photo(doc, W, H, Variant::Clean, seed);
    let c = check(&scene.image, doc);
    assert!(
        c.accepted(),
        "{doc:?} rejected: {:?} {:?}",
        c.reasons,
        c.metrics
    );
    let found = c.corners.expect("corners");
    let err = corner_error(&found, &scene.corners.unwrap());
    assert!(err < 0.02, "{doc:?} corner error {err:.4}: {found:?}");
    let crop = image::load_from_memory(c.crop_jpeg.as_ref().expect("crop")).unwrap();
    let aspect = f64::from(crop.width()) / f64::from(crop.height());
    let want = imaging::layout(doc).aspect();
    assert!(
        (aspect / want - 1.0).abs() < 0.03,
        "{doc:?} aspect {aspect} want {want}"
    );
    assert!(crop.width() >= 600, "crop keeps the document's resolution");
}

#[test]
fn angled_id_card_is_accepted_with_true_corners_and_aspect() {
    assert_accepted_and_accurate(DocumentType::IdCard, 1);
}

#[test]
fn angled_passport_page_is_accepted_with_true_corners_and_aspect() {
    assert_accepted_and_accurate(DocumentType::Passport, 2);
}

#[test]
fn driving_licence_is_accepted() {
    assert_accepted_and_accurate(DocumentType::DrivingLicence, 3);
}

#[test]
fn corners_are_found_across_angles_and_positions() {
    let mut rng = synth::Rng::new(42);
    for i in 0..8 {
        let doc = if i % 2 == 0 {
            DocumentType::IdCard
        } else {
            DocumentType::Passport
        };
        let truth = synth::random_corners(W, H, imaging::layout(doc).aspect(), 25.0, &mut rng);
        let scene = synth::photo_at(doc, W, H, &truth, Variant::Clean, 100 + i);
        let a = analyse(&scene.image, doc);
        let found = a.corners.unwrap_or_else(|| panic!("case {i}: not found"));
        let err = corner_error(&found, &truth);
        assert!(err < 0.02, "case {i}: corner error {err:.4}");
    }
}

#[test]
fn blurred_photo_is_blurry() {
    let scene = synth::photo(DocumentType::IdCard, W, H, Variant::Blurred, 4);
    let c = check(&scene.image, DocumentType::IdCard);
    assert_eq!(c.reasons, vec![Reason::ImageBlurry], "{:?}", c.metrics);
}

#[test]
fn dark_photo_is_too_dark() {
    let scene = synth::photo(DocumentType::IdCard, W, H, Variant::Dark, 5);
    let c = check(&scene.image, DocumentType::IdCard);
    assert_eq!(c.reasons, vec![Reason::ImageTooDark], "{:?}", c.metrics);
}

#[test]
fn overexposed_photo_is_too_bright() {
    let mut img = synth::photo(DocumentType::IdCard, W, H, Variant::Clean, 5).image;
    for p in img.pixels_mut() {
        p.0 = p.0.map(|v| (f32::from(v) * 1.5 + 60.0).min(255.0) as u8);
    }
    let c = check(&img, DocumentType::IdCard);
    // Overexposure that washes the document out also saturates it: both are named.
    assert!(
        c.reasons.contains(&Reason::ImageTooBright),
        "{:?} {:?}",
        c.reasons,
        c.metrics
    );
    assert!(
        c.reasons.contains(&Reason::ImageGlare),
        "{:?} {:?}",
        c.reasons,
        c.metrics
    );
    assert!(!c.reasons.contains(&Reason::DocumentNotFound));
}

#[test]
fn glare_is_detected_inside_the_document() {
    let scene = synth::photo(DocumentType::IdCard, W, H, Variant::Glare, 6);
    let c = check(&scene.image, DocumentType::IdCard);
    assert_eq!(c.reasons, vec![Reason::ImageGlare], "{:?}", c.metrics);
}

#[test]
fn small_photo_is_too_small() {
    let scene = synth::photo(DocumentType::IdCard, 400, 300, Variant::Clean, 7);
    let c = check(&scene.image, DocumentType::IdCard);
    assert!(
        c.reasons.contains(&Reason::ImageTooSmall),
        "{:?}",
        c.reasons
    );
    assert_eq!(c.metrics.width, 400);
}

#[test]
fn photo_without_a_document_is_refused() {
    let scene = synth::photo(DocumentType::IdCard, W, H, Variant::NoCard, 8);
    let c = check(&scene.image, DocumentType::IdCard);
    // Only the missing document is named: a frame has no document to call blurry.
    assert_eq!(c.reasons, vec![Reason::DocumentNotFound], "{:?}", c.metrics);
    assert!(c.corners.is_none() && c.crop_jpeg.is_none());
}

#[test]
fn a_dark_document_on_a_light_table_is_found() {
    let scene = synth::photo(DocumentType::Passport, W, H, Variant::Clean, 12);
    let mut img = scene.image;
    for p in img.pixels_mut() {
        p.0 = p.0.map(|v| 255 - v);
    }
    let a = analyse(&img, DocumentType::Passport);
    let found = a.corners.expect("found by the dark polarity");
    let err = corner_error(&found, &scene.corners.unwrap());
    assert!(err < 0.02, "corner error {err:.4}");
}

#[test]
fn a_document_cut_off_by_the_frame_is_not_found() {
    let corners = Quad([
        Point::new(-80.0, 200.0),
        Point::new(700.0, 180.0),
        Point::new(720.0, 700.0),
        Point::new(-60.0, 690.0),
    ]);
    let scene = synth::photo_at(DocumentType::IdCard, W, H, &corners, Variant::Clean, 13);
    let c = check(&scene.image, DocumentType::IdCard);
    assert_eq!(c.reasons, vec![Reason::DocumentNotFound]);
}

#[test]
fn every_failed_check_is_listed() {
    let mut img = synth::photo(DocumentType::IdCard, W, H, Variant::Blurred, 9).image;
    for p in img.pixels_mut() {
        p.0 = p.0.map(|v| (f32::from(v) * 0.22) as u8);
    }
    let c = check(&img, DocumentType::IdCard);
    assert!(
        c.reasons.contains(&Reason::ImageBlurry),
        "{:?} {:?}",
        c.reasons,
        c.metrics
    );
    assert!(
        c.reasons.contains(&Reason::ImageTooDark),
        "{:?} {:?}",
        c.reasons,
        c.metrics
    );
}

#[test]
fn decompression_bomb_is_refused_from_its_header() {
    let bomb = synth::bomb_png(100_000, 100_000);
    assert!(bomb.len() < 200, "the bomb is a tiny file");
    let err = imaging::decode(&bomb, &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE");
    // Within width and height limits but over the area limit.
    let wide = synth::bomb_png(7000, 7000);
    let err = imaging::decode(&wide, &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE");
    let err = imaging::check_document(&bomb, DocumentType::IdCard, &ImagingConfig::default())
        .unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE");
}

#[test]
fn non_images_gif_and_bmp_are_unsupported() {
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0u8; 60]);
    for bytes in [
        &b"%PDF-1.7 not an image"[..],
        b"",
        gif,
        &bmp,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ] {
        let err = imaging::decode(bytes, &DecodeLimits::default()).unwrap_err();
        assert_eq!(err.code(), "UNSUPPORTED_FORMAT");
    }
}

#[test]
fn png_and_webp_decode() {
    let img = synth::orientation_marker(64, 48);
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .unwrap();
    for (bytes, format) in [(png, imaging::Format::Png), (webp, imaging::Format::WebP)] {
        let d = imaging::decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(d.format, format);
        assert_eq!(d.image, img);
    }
}

#[test]
fn truncated_jpeg_is_corrupt_not_a_panic() {
    let bytes = jpeg(&synth::orientation_marker(200, 100));
    for cut in [3, 20, 200, bytes.len() / 2] {
        match imaging::decode(&bytes[..cut], &DecodeLimits::default()) {
            Err(e) => assert_eq!(e.code(), "IMAGE_CORRUPT", "cut at {cut}"),
            // A decoder may pad a truncated scan; then the size must still be right.
            Ok(d) => assert_eq!(d.image.dimensions(), (200, 100)),
        }
    }
}

fn near(p: &Rgb<u8>, want: [u8; 3]) -> bool {
    p.0.iter().zip(want).all(|(&a, b)| a.abs_diff(b) < 40)
}

#[test]
fn all_eight_orientations_come_out_upright_without_metadata() {
    let upright = synth::orientation_marker(160, 96);
    for o in 1..=8u8 {
        let bytes = synth::jpeg_with_orientation(&upright, o, true);
        for needle in [&b"Exif\0\0"[..], b"http://ns.adobe.com/xap", b"ICC_PROFILE"] {
            assert!(contains(&bytes, needle), "input {o} lacks {needle:?}");
        }
        let d = imaging::decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(d.exif_orientation, o);
        assert_eq!(d.image.dimensions(), (160, 96), "orientation {o}");
        assert!(
            near(d.image.get_pixel(8, 8), [230, 20, 20]),
            "orientation {o}: red not top-left"
        );
        assert!(
            near(d.image.get_pixel(152, 8), [20, 200, 20]),
            "orientation {o}: green not top-right"
        );
        assert!(
            near(d.image.get_pixel(8, 88), [128, 128, 128]),
            "orientation {o}"
        );
        assert!(
            near(d.image.get_pixel(152, 88), [128, 128, 128]),
            "orientation {o}"
        );
        let out = imaging::encode_jpeg(&d.image, 90).unwrap();
        for needle in [&b"Exif\0\0"[..], b"http://ns.adobe.com/xap", b"ICC_PROFILE"] {
            assert!(!contains(&out, needle), "output {o} keeps {needle:?}");
        }
    }
}

#[test]
fn the_pipeline_output_carries_no_metadata() {
    let scene = synth::photo(DocumentType::IdCard, W, H, Variant::Clean, 10);
    let bytes = synth::jpeg_with_orientation(&scene.image, 6, true);
    let c =
        imaging::check_document(&bytes, DocumentType::IdCard, &ImagingConfig::default()).unwrap();
    assert!(c.accepted(), "{:?}", c.reasons);
    for out in [&c.original_jpeg, c.crop_jpeg.as_ref().unwrap()] {
        for needle in [&b"Exif\0\0"[..], b"http://ns.adobe.com/xap", b"ICC_PROFILE"] {
            assert!(!contains(out, needle));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn redaction_fills_the_fields_solid_on_crop_and_original() {
    let doc = DocumentType::IdCard;
    let scene = synth::photo(doc, W, H, Variant::Clean, 11);
    let a = analyse(&scene.image, doc);
    let corners = a.corners.unwrap();
    let targets = RedactionTarget::ALL;
    let boxes = imaging::regions(imaging::layout(doc), &targets, &FoundFields::default());
    assert_eq!(boxes.len(), 3);

    let mut crop = a.crop.clone().unwrap();
    imaging::redact_crop(&mut crop, &boxes);
    let (cw, ch) = (f64::from(crop.width()), f64::from(crop.height()));
    for b in &boxes {
        let (x0, y0) = ((b.x * cw).ceil() as u32, (b.y * ch).ceil() as u32);
        let (x1, y1) = (((b.x + b.w) * cw) as u32, ((b.y + b.h) * ch) as u32);
        for y in y0..y1.min(crop.height()) {
            for x in x0..x1.min(crop.width()) {
                assert_eq!(*crop.get_pixel(x, y), FILL, "crop pixel {x},{y} in {b:?}");
            }
        }
    }
    // Outside the boxes the crop is untouched: the header band's middle is not black.
    assert_ne!(*crop.get_pixel(crop.width() / 2, 4), FILL);

    let before = a.original.clone();
    let mut original = a.original;
    let polys = imaging::redact_original(&mut original, &corners, &boxes);
    assert_eq!(polys.len(), 3);
    for (x, y, p) in original.enumerate_pixels() {
        let c = Point::new(f64::from(x) + 0.5, f64::from(y) + 0.5);
        if polys.iter().any(|poly| inside_convex(poly, c, 0.0)) {
            assert_eq!(*p, FILL, "original pixel {x},{y}");
        } else if !polys.iter().any(|poly| inside_convex(poly, c, 2.0)) {
            assert_eq!(
                p,
                before.get_pixel(x, y),
                "pixel {x},{y} outside was changed"
            );
        }
    }
    // The fill lands where the MRZ really is in the photo (mapped with the true corners),
    // not just where the detector thought it was.
    let truth = scene.corners.unwrap();
    let h = imaging::Homography::unit_square_to(&truth).unwrap();
    let mrz = imaging::layout(doc).mrz.unwrap();
    for (u, v) in [(0.05, 0.1), (0.5, 0.5), (0.95, 0.9)] {
        let p = h.apply(Point::new(mrz.x + u * mrz.w, mrz.y + v * mrz.h));
        assert_eq!(
            *original.get_pixel(p.x as u32, p.y as u32),
            FILL,
            "true MRZ at {u},{v}"
        );
    }
}

#[test]
fn a_detected_face_is_widened_to_the_whole_portrait() {
    let lay = imaging::layout(DocumentType::Passport);
    let face = RelRect::from_pixels(100.0, 150.0, 200.0, 250.0, 1000, 704);
    let found = FoundFields {
        faces: vec![face],
        ..FoundFields::default()
    };
    let boxes = imaging::regions(lay, &[RedactionTarget::Portrait], &found);
    // The portrait around the face, and the layout's portrait box it overlaps.
    assert!(boxes.contains(&imaging::portrait_around(face).clipped().unwrap()));
    assert!(boxes.contains(&lay.portrait.clipped().unwrap()));
    let mut crop = RgbImage::from_pixel(1000, 704, Rgb([200, 200, 200]));
    imaging::redact_crop(&mut crop, &boxes);
    // Hair above the face box, shoulders below it, cheeks beside it: all covered.
    for (x, y) in [(200, 60), (200, 560), (40, 300), (330, 300), (150, 200)] {
        assert_eq!(*crop.get_pixel(x, y), FILL, "{x},{y}");
    }
    // Far from the portrait nothing is touched.
    assert_ne!(*crop.get_pixel(700, 300), FILL);
    // A second, smaller face (a ghost portrait) is covered too.
    let ghost = RelRect::from_pixels(800.0, 400.0, 60.0, 75.0, 1000, 704);
    let found = FoundFields {
        faces: vec![face, ghost],
        ..FoundFields::default()
    };
    let boxes = imaging::regions(lay, &[RedactionTarget::Portrait], &found);
    assert!(boxes.contains(&imaging::portrait_around(ghost).clipped().unwrap()));
    // Driving licences have no MRZ: asking for it hides nothing rather than guessing.
    let none = imaging::regions(
        imaging::layout(DocumentType::DrivingLicence),
        &[RedactionTarget::Mrz],
        &FoundFields::default(),
    );
    assert!(none.is_empty());
}

#[test]
fn printed_photos_are_found_from_their_edges_on_every_layout() {
    use v2client_testkit::card::{FaceLayout, document_face_for};
    use v2client_testkit::mrz::Holder;
    for doc in [DocumentType::Passport, DocumentType::IdCard] {
        for fl in FaceLayout::all(doc) {
            let printed = document_face_for(doc, 1000, 5, &Holder::for_document(doc), &fl);
            let crop = printed.image;
            let photos = [Some(printed.fields.portrait), printed.fields.ghost];
            for p in photos.into_iter().flatten() {
                // The face a detector finds on the testkit's portrait: brows to chin of the
                // head it draws, a fifth of the photo wide.
                let face = RelRect::new(p.x + 0.37 * p.w, p.y + 0.3 * p.h, 0.26 * p.w, 0.3 * p.h);
                let found = imaging::photo_around(&crop, face)
                    .unwrap_or_else(|| panic!("{doc:?} {}: no edge of {p:?}", fl.name));
                let (fx, fy) = (found.x + found.w, found.y + found.h);
                assert!(
                    found.x <= p.x && found.y <= p.y && fx >= p.x + p.w && fy >= p.y + p.h,
                    "{doc:?} {}: {found:?} misses part of {p:?}",
                    fl.name
                );
                assert!(
                    p.x - found.x < 0.02
                        && p.y - found.y < 0.03
                        && fx - (p.x + p.w) < 0.02
                        && fy - (p.y + p.h) < 0.03,
                    "{doc:?} {}: {found:?} much larger than {p:?}",
                    fl.name
                );
                // Redaction hides the photo and the box around the face, both.
                let found_fields = FoundFields {
                    faces: vec![face],
                    photos: vec![found],
                    ..FoundFields::default()
                };
                let boxes = imaging::regions(
                    imaging::layout(doc),
                    &[RedactionTarget::Portrait],
                    &found_fields,
                );
                assert!(boxes.contains(&found));
                assert!(boxes.contains(&imaging::portrait_around(face).clipped().unwrap()));
            }
        }
    }
}

#[test]
fn a_number_found_in_the_visual_zone_replaces_the_generic_box() {
    let lay = imaging::layout(DocumentType::IdCard);
    let zone_cells = RelRect::new(0.2, 0.75, 0.3, 0.06);
    let printed = RelRect::new(0.1, 0.5, 0.3, 0.06);
    let found = FoundFields {
        document_number: vec![zone_cells, printed],
        number_in_visual_zone: true,
        ..FoundFields::default()
    };
    let boxes = imaging::regions(lay, &[RedactionTarget::DocumentNumber], &found);
    let clipped = |r: RelRect| r.clipped().unwrap();
    assert_eq!(boxes, vec![clipped(zone_cells), clipped(printed)]);
    // Not found in the visual zone: the layout's box stands in for it as well.
    let found = FoundFields {
        document_number: vec![zone_cells],
        ..FoundFields::default()
    };
    let boxes = imaging::regions(lay, &[RedactionTarget::DocumentNumber], &found);
    assert_eq!(
        boxes,
        vec![clipped(zone_cells), clipped(lay.document_number)]
    );
}

#[test]
fn config_deserialises_partially_over_defaults() {
    let cfg: ImagingConfig =
        serde_json::from_str(r#"{"quality": {"min_sharpness": 42.0}, "jpeg_quality": 80}"#)
            .unwrap();
    assert_eq!(cfg.quality.min_sharpness, 42.0);
    assert_eq!(cfg.jpeg_quality, 80);
    assert_eq!(cfg.limits, DecodeLimits::default());
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn extreme_shapes_are_judged_not_panicked_on() {
    for (w, h) in [(1, 1), (1, 3000), (3000, 1), (17, 17), (8000, 2)] {
        let img = RgbImage::from_pixel(w, h, Rgb([120, 120, 120]));
        let c =
            imaging::check_document(&png(&img), DocumentType::IdCard, &ImagingConfig::default())
                .unwrap();
        assert!(c.reasons.contains(&Reason::ImageTooSmall), "{w}×{h}");
        assert!(c.reasons.contains(&Reason::DocumentNotFound), "{w}×{h}");
    }
}

#[test]
fn damaged_files_give_typed_errors() {
    let scene = synth::photo(DocumentType::IdCard, 320, 240, Variant::Clean, 14);
    let mut rng = synth::Rng::new(14);
    for original in [jpeg(&scene.image), png(&scene.image)] {
        for _ in 0..30 {
            let mut bytes = original.clone();
            for _ in 0..8 {
                let i = 8 + (rng.next_u64() as usize) % (bytes.len() - 8);
                bytes[i] = rng.next_u64() as u8;
            }
            match imaging::check_document(&bytes, DocumentType::IdCard, &ImagingConfig::default()) {
                // Damage inside entropy-coded data often still decodes, to other pixels.
                Ok(c) => assert!(c.metrics.width > 0 && c.metrics.height > 0),
                Err(e) => assert!(
                    ["IMAGE_CORRUPT", "IMAGE_TOO_LARGE"].contains(&e.code()),
                    "{e}"
                ),
            }
        }
    }
}
