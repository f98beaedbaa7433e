//! Reading the machine-readable zone of generated document photos, and finding documents
//! that fill the whole frame (scans).

use v2client::document::{MrzOutcome, read_mrz};
use v2client::domain::DocumentType;
use v2client::imaging::{self, ImagingConfig};
use v2client_testkit::card::{FaceLayout, document_face_for};
use v2client_testkit::mrz::Holder;
use v2client_testkit::synth::{Variant, photo};

fn crop_of(doc: DocumentType, seed: u64) -> image::RgbImage {
    let scene = photo(doc, 1600, 1200, Variant::Clean, seed);
    imaging::analyse_pixels(
        scene.image,
        imaging::Format::Png,
        doc,
        &ImagingConfig::default(),
    )
    .crop
    .expect("the generated document is found")
}

#[test]
fn the_zone_of_a_passport_and_an_id_card_reads_exactly() {
    for doc in [DocumentType::Passport, DocumentType::IdCard] {
        let crop = crop_of(doc, 7);
        let reading = read_mrz(&crop);
        let holder = Holder::for_document(doc);
        assert_eq!(reading.lines, holder.zone(doc), "{doc:?}");
        assert_eq!(reading.outcome, MrzOutcome::Read, "{doc:?}");
        let mrz = reading.mrz.unwrap();
        assert!(mrz.valid);
        assert_eq!(mrz.surname, holder.surname);
        assert_eq!(mrz.document_number, holder.document_number);
    }
}

#[test]
fn zones_read_at_an_angle_and_through_jpeg() {
    use v2client_testkit::synth::{Rng, photo_at, random_corners};
    let mut misread = Vec::new();
    for seed in 0..8u64 {
        for doc in [DocumentType::Passport, DocumentType::IdCard] {
            let mut rng = Rng::new(seed);
            let aspect = imaging::layout(doc).aspect();
            let corners = random_corners(1600, 1200, aspect, 12.0, &mut rng);
            let scene = photo_at(doc, 1600, 1200, &corners, Variant::Clean, seed);
            let jpeg = imaging::encode_jpeg(&scene.image, 70).unwrap();
            let analysis =
                imaging::analyse_document(&jpeg, doc, &ImagingConfig::default()).unwrap();
            let Some(crop) = analysis.crop else {
                misread.push(format!("{doc:?} seed {seed}: no crop"));
                continue;
            };
            let reading = read_mrz(&crop);
            if reading.lines != Holder::for_document(doc).zone(doc) {
                misread.push(format!(
                    "{doc:?} seed {seed}: {:?} {:?}",
                    reading.outcome, reading.lines
                ));
            }
        }
    }
    assert!(misread.is_empty(), "{misread:#?}");
}

#[test]
fn an_upside_down_zone_reads_from_the_turned_crop() {
    for doc in [DocumentType::Passport, DocumentType::IdCard] {
        let crop = image::imageops::rotate180(&crop_of(doc, 5));
        let reading = read_mrz(&crop);
        assert_eq!(reading.outcome, MrzOutcome::Read, "{doc:?}");
        assert_eq!(
            reading.lines,
            Holder::for_document(doc).zone(doc),
            "{doc:?}"
        );
        // The zone's box is mapped back onto the crop as given: at its top.
        assert!(reading.zone.unwrap().y < 0.3, "{doc:?}");
    }
}

/// A `doc` printed for its holder and cut to its own edges, as a scanner or a close photo
/// leaves it: nothing around it but the scanner's lid in its rounded corners.
fn scan_of(doc: DocumentType, width: u32) -> image::RgbImage {
    let printed = document_face_for(
        doc,
        width,
        9,
        &Holder::for_document(doc),
        &FaceLayout::template(doc),
    );
    let mut img = printed.image;
    for p in img.pixels_mut() {
        if p.0 == [255, 0, 255] {
            p.0 = [245, 245, 245];
        }
    }
    img
}

fn analyse_jpeg(img: &image::RgbImage, doc: DocumentType) -> imaging::DocumentAnalysis {
    let jpeg = imaging::encode_jpeg(img, 90).unwrap();
    imaging::analyse_document(&jpeg, doc, &ImagingConfig::default()).unwrap()
}

#[test]
fn a_document_filling_the_frame_is_taken_whole_and_read() {
    // A card back as scanned (500 × 315, the size of a real scan that was not found
    // before), a larger one, and a passport's data page.
    for (doc, width) in [
        (DocumentType::IdCard, 500),
        (DocumentType::IdCard, 1000),
        (DocumentType::Passport, 1100),
    ] {
        let img = scan_of(doc, width);
        // No outline of the document's own: it touches every side of the frame. (The
        // portrait, a rectangle on a plain backdrop, may be found instead.)
        let grey = imaging::AnalysisImage::new(&img, imaging::ANALYSIS_LONG_SIDE).grey;
        if let Some(d) = imaging::detect_document(&grey, &imaging::DetectionConfig::default()) {
            let share = d.quad.area() / f64::from(grey.width() * grey.height());
            assert!(
                share < 0.5,
                "{doc:?} {width}: an outline of {share:.2} of the frame"
            );
        }
        let a = analyse_jpeg(&img, doc);
        assert_eq!(a.outline, Some(imaging::Outline::Frame), "{doc:?} {width}");
        assert!(
            !a.reasons.contains(&imaging::Reason::DocumentNotFound),
            "{doc:?} {width}: {:?}",
            a.reasons
        );
        let (w, h) = (f64::from(img.width()), f64::from(img.height()));
        let corners = a.corners.expect("the frame's corners");
        let frame = imaging::Quad([
            imaging::Point::new(0.0, 0.0),
            imaging::Point::new(w, 0.0),
            imaging::Point::new(w, h),
            imaging::Point::new(0.0, h),
        ]);
        assert!(corners.max_corner_distance(&frame) < 1e-9, "{corners:?}");
        // Measured on the document, as an outlined one is.
        assert_eq!(a.metrics.measured_on, imaging::MeasuredOn::Document);
        let reading = read_mrz(&a.crop.expect("a crop"));
        assert_eq!(reading.outcome, MrzOutcome::Read, "{doc:?} {width}");
        assert_eq!(reading.lines, Holder::for_document(doc).zone(doc));
    }
}

#[test]
fn a_passport_open_on_a_table_of_its_own_colour_is_placed_from_its_zone() {
    // The data page at the bottom of a 4:3 photo, on paper of the page's own colour, the
    // facing page above it running off the top: no outline, not the frame's shape.
    let page = scan_of(DocumentType::Passport, 1100);
    let stock = *page.get_pixel(3, page.height() / 2);
    let mut img = image::RgbImage::from_pixel(1600, 1200, stock);
    image::imageops::overlay(&mut img, &page, 250, 1200 - 80 - i64::from(page.height()));
    let a = analyse_jpeg(&img, DocumentType::Passport);
    assert_eq!(a.outline, Some(imaging::Outline::Zone), "{:?}", a.reasons);
    assert!(
        !a.reasons.contains(&imaging::Reason::DocumentNotFound),
        "{:?}",
        a.reasons
    );
    // Placed where the page lies, within a few millimetres (a page is 1100 px = 125 mm).
    let corners = a.corners.expect("the page's corners");
    let (top, left) = (f64::from(1200 - 80 - page.height()), 250.0);
    let truth = imaging::Quad([
        imaging::Point::new(left, top),
        imaging::Point::new(left + 1100.0, top),
        imaging::Point::new(left + 1100.0, 1120.0),
        imaging::Point::new(left, 1120.0),
    ]);
    assert!(corners.max_corner_distance(&truth) < 45.0, "{corners:?}");
    let reading = read_mrz(&a.crop.expect("a crop"));
    assert_eq!(reading.outcome, MrzOutcome::Read);
    assert_eq!(
        reading.lines,
        Holder::for_document(DocumentType::Passport).zone(DocumentType::Passport)
    );
    // An identity card's zone does not place a passport, nor the reverse.
    let a = analyse_jpeg(&img, DocumentType::IdCard);
    assert_ne!(a.outline, Some(imaging::Outline::Zone));
}

#[test]
fn a_document_standing_on_its_short_side_is_turned_upright() {
    let img = image::imageops::rotate90(&scan_of(DocumentType::IdCard, 800));
    let a = analyse_jpeg(&img, DocumentType::IdCard);
    assert_eq!(a.outline, Some(imaging::Outline::Frame));
    let crop = a.crop.unwrap();
    assert!(crop.width() > crop.height());
    let reading = read_mrz(&crop);
    assert_eq!(reading.outcome, MrzOutcome::Read);
}

#[test]
fn frames_that_are_not_a_document_are_still_not_found() {
    let refused = |img: &image::RgbImage, doc: DocumentType, what: &str| {
        let a = analyse_jpeg(img, doc);
        assert!(
            a.reasons.contains(&imaging::Reason::DocumentNotFound),
            "{what} ({doc:?}) was taken for a document: {:?}",
            a.outline
        );
        assert!(a.corners.is_none() && a.crop.is_none() && a.outline.is_none());
    };
    for doc in [DocumentType::IdCard, DocumentType::Passport] {
        let card = scan_of(doc, 1000);
        let (w, h) = (card.width(), card.height());
        // A square cut of the document, zone included: not its shape.
        let square = image::imageops::crop_imm(&card, w - h, 0, h, h).to_image();
        refused(&square, doc, "a square cut of a document");
        // At the document's own aspect ratio: a face, a blank page, noise.
        let face = crate::faces::astronaut()
            .resize_exact(w, h, image::imageops::FilterType::Triangle)
            .to_rgb8();
        refused(&face, doc, "a face photo");
        refused(
            &image::RgbImage::from_pixel(w, h, image::Rgb([230, 228, 220])),
            doc,
            "a blank page",
        );
        let mut rng = v2client_testkit::synth::Rng::new(4);
        let noise = image::RgbImage::from_fn(w, h, |_, _| {
            let v = (rng.next_u64() % 256) as u8;
            image::Rgb([v, v, v])
        });
        refused(&noise, doc, "noise");
    }
    // Not taken whole either (the detector may still take their portrait, a rectangle on a
    // plain backdrop, for an outline): a driving licence, which carries no zone to confirm
    // it, and an identity card's scan sent as a passport, whose aspect ratio is 12 % off.
    for (doc, sent_as) in [
        (DocumentType::DrivingLicence, DocumentType::DrivingLicence),
        (DocumentType::IdCard, DocumentType::Passport),
    ] {
        let a = analyse_jpeg(&scan_of(doc, 1000), sent_as);
        assert_ne!(
            a.outline,
            Some(imaging::Outline::Frame),
            "{doc:?} as {sent_as:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_accepts_a_scanned_card_back_and_says_how_it_was_found() {
    use v2client::backend::{LocalBackend, Side, Verdict, VerificationBackend};
    let backend = LocalBackend::new(
        ImagingConfig::default(),
        v2client::faces::FacesConfig::default(),
        1,
    )
    .expect("the embedded face models load");
    let jpeg = imaging::encode_jpeg(&scan_of(DocumentType::IdCard, 1000), 90).unwrap();
    let r = backend
        .check_document(DocumentType::IdCard, Side::Back, jpeg.into())
        .await
        .unwrap();
    assert_eq!(
        r.verdict,
        Verdict::Accepted,
        "{:?} {}",
        r.reasons,
        r.metrics
    );
    assert_eq!(r.metrics["outline"], "frame", "{}", r.metrics);
    assert!(r.cropped_jpeg.is_some());
    let mrz = r.mrz.expect("the zone was read");
    assert_eq!(mrz.outcome, MrzOutcome::Read);
    // A photo with the document's outline in it says so too.
    let scene = photo(DocumentType::IdCard, 1600, 1200, Variant::Clean, 3);
    let r = backend
        .check_document(
            DocumentType::IdCard,
            Side::Back,
            imaging::encode_jpeg(&scene.image, 90).unwrap().into(),
        )
        .await
        .unwrap();
    assert_eq!(r.metrics["outline"], "edges", "{}", r.metrics);
}
