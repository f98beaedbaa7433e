//! The domain: what a verification, a module, a key's settings are, and the rules that
//! govern them. Pure data and functions, no I/O.

pub mod duration;
pub mod form;
pub mod ids;
pub mod lifecycle;
pub mod modules;
pub mod mrz;
pub mod portal;
pub mod reasons;
pub mod results;
pub mod settings;
pub mod test_mode;
pub mod verification;

pub use ids::{ApiKeySecret, KeyHash, VerificationId};
pub use modules::Modules;
pub use portal::{PortalState, Step};
pub use results::{AttemptMetrics, Results};
pub use settings::{DocumentType, FormField, KeySettings, Module, RedactionTarget};
pub use verification::{Attempt, AttemptOutcome, Progress, ProgressState, Status, Verification};

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::str::FromStr;

    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use strum::VariantArray;

    use super::*;

    /// Every variant's name parses back to it, and serde writes and reads the same name.
    fn round_trips<T>()
    where
        T: VariantArray + Copy + Into<&'static str> + FromStr + Serialize + DeserializeOwned,
        T: PartialEq + Debug,
        T::Err: Debug,
    {
        for &v in T::VARIANTS {
            let name: &str = v.into();
            assert_eq!(name.parse::<T>().unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), name);
            assert_eq!(serde_json::from_value::<T>(name.into()).unwrap(), v);
        }
    }

    #[test]
    fn names_round_trip() {
        round_trips::<Module>();
        round_trips::<DocumentType>();
        round_trips::<FormField>();
        round_trips::<RedactionTarget>();
        round_trips::<Step>();
        round_trips::<Status>();
        round_trips::<AttemptOutcome>();
    }

    #[test]
    fn names_are_snake_case() {
        assert_eq!(Module::FormData.as_str(), "form_data");
        assert_eq!(Module::FormData.to_string(), "form_data");
        assert_eq!(DocumentType::DrivingLicence.as_str(), "driving_licence");
        assert_eq!(FormField::DateOfBirth.as_str(), "date_of_birth");
        assert_eq!(RedactionTarget::DocumentNumber.as_str(), "document_number");
        assert_eq!(Step::DocumentBack.as_str(), "document_back");
        assert_eq!(Status::NeedsManualReview.as_str(), "needs_manual_review");
        assert_eq!(AttemptOutcome::Rejected.as_str(), "rejected");
    }

    #[test]
    fn the_lists_keep_the_portal_order() {
        let modules = [
            Module::Terms,
            Module::Document,
            Module::Liveness,
            Module::FormData,
        ];
        assert_eq!(Module::ALL, modules);
        assert!(Module::ALL.is_sorted());
        assert_eq!(
            DocumentType::ALL,
            [
                DocumentType::Passport,
                DocumentType::IdCard,
                DocumentType::DrivingLicence
            ]
        );
        let fields: Vec<&str> = FormField::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            fields.join(","),
            "first_name,last_name,date_of_birth,nationality,email,phone,address_line,\
             postal_code,city,country"
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        assert_eq!(
            "selfie".parse::<Module>(),
            Err("unknown module `selfie`; choose from terms, document, liveness, form_data".into())
        );
        assert_eq!(
            "visa".parse::<DocumentType>(),
            Err(
                "unknown document type `visa`; choose from passport, id_card, driving_licence"
                    .into()
            )
        );
        assert_eq!(
            "shoe_size".parse::<FormField>(),
            Err(
                "unknown form field `shoe_size`; choose from first_name, last_name, \
                 date_of_birth, nationality, email, phone, address_line, postal_code, city, \
                 country"
                    .into()
            )
        );
        assert_eq!(
            "face".parse::<RedactionTarget>(),
            Err("unknown redaction `face`; choose from mrz, portrait, document_number".into())
        );
        assert_eq!(
            "selfie".parse::<Step>(),
            Err("unknown step `selfie`".into())
        );
        assert_eq!(
            "done".parse::<Status>(),
            Err("unknown status `done`".into())
        );
        assert_eq!(
            "maybe".parse::<AttemptOutcome>(),
            Err("unknown attempt outcome `maybe`".into())
        );
        // Names are exact; lists on the command line are trimmed by their parser.
        assert!(" terms".parse::<Module>().is_err());
        assert_eq!(
            settings::parse_flow(" liveness , terms").unwrap(),
            [Module::Terms, Module::Liveness]
        );
        assert_eq!(
            settings::parse_list::<DocumentType>("id_card, passport ").unwrap(),
            [DocumentType::Passport, DocumentType::IdCard]
        );
    }
}
