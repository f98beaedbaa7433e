//! Reading the machine-readable zone of generated document photos.

use v2client::document::{MrzOutcome, read_mrz};
use v2client::domain::DocumentType;
use v2client::imaging::{self, ImagingConfig};
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
