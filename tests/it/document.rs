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
        crop.save(format!("/tmp/crop-{doc:?}.png")).unwrap();
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
