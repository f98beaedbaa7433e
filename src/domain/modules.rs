//! The `modules` snapshot: what a key asked of the end user when a verification was
//! created, stored with the verification and answered by `generate-verification`. The
//! portal reads its steps, document types, form fields and attempt limits from here, never
//! from the key as it is now, so changing a key does not change verifications under way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::portal::Step;
use super::{DocumentType, FormField, KeySettings, Module};
use crate::faces::Challenge;

/// One entry per enabled module; a disabled module is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Modules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<TermsModule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentModule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessModule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_data: Option<FormModule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermsModule {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentModule {
    pub enabled: bool,
    pub document_types: Vec<DocumentType>,
    /// The sides each type has (`front`, `back`), for the capture UI.
    pub sides: BTreeMap<DocumentType, Vec<String>>,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessModule {
    pub enabled: bool,
    pub challenges: Vec<Challenge>,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormModule {
    pub enabled: bool,
    pub max_attempts: u32,
    pub fields: Vec<FieldSpec>,
}

/// One form field the user fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub name: FormField,
    /// The input type (`text`, `date`, …), from [`FormField::kind`].
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// Attempts a step allows when a stored snapshot does not say.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl Modules {
    /// The snapshot of `settings` as they are now.
    pub fn of(settings: &KeySettings) -> Modules {
        let mut out = Modules::default();
        let max_attempts = settings.max_attempts;
        for module in &settings.flow {
            match module {
                Module::Terms => out.terms = Some(TermsModule { enabled: true }),
                Module::Document => {
                    out.document = Some(DocumentModule {
                        enabled: true,
                        document_types: settings.document_types.clone(),
                        sides: settings
                            .document_types
                            .iter()
                            .map(|d| (*d, d.sides().iter().map(|s| (*s).to_owned()).collect()))
                            .collect(),
                        max_attempts,
                    })
                }
                Module::Liveness => {
                    out.liveness = Some(LivenessModule {
                        enabled: true,
                        challenges: Challenge::ALL.to_vec(),
                        max_attempts,
                    })
                }
                Module::FormData => {
                    out.form_data = Some(FormModule {
                        enabled: true,
                        max_attempts,
                        fields: settings
                            .form_fields
                            .iter()
                            .map(|f| FieldSpec {
                                name: *f,
                                kind: f.kind().to_owned(),
                                required: true,
                            })
                            .collect(),
                    })
                }
            }
        }
        out
    }

    /// The document types the user may choose from; every type when the snapshot has no
    /// document module.
    pub fn document_types(&self) -> Vec<DocumentType> {
        self.document
            .as_ref()
            .map_or_else(|| DocumentType::ALL.to_vec(), |d| d.document_types.clone())
    }

    /// The form's fields in order, with whether each is required.
    pub fn form_fields(&self) -> &[FieldSpec] {
        self.form_data.as_ref().map_or(&[], |f| &f.fields)
    }

    /// How many rejected submissions `step` allows before it fails the verification.
    pub fn max_attempts(&self, step: Step) -> u32 {
        let own = match step.module() {
            Module::Terms => None,
            Module::Document => self.document.as_ref().map(|m| m.max_attempts),
            Module::Liveness => self.liveness.as_ref().map(|m| m.max_attempts),
            Module::FormData => self.form_data.as_ref().map(|m| m.max_attempts),
        };
        own.unwrap_or(DEFAULT_MAX_ATTEMPTS)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_snapshot_has_the_published_shape() {
        let settings = KeySettings {
            flow: vec![Module::Terms, Module::Document, Module::FormData],
            document_types: vec![DocumentType::Passport, DocumentType::IdCard],
            form_fields: vec![FormField::FirstName, FormField::DateOfBirth],
            max_attempts: 3,
            ..KeySettings::default()
        };
        let modules = Modules::of(&settings);
        assert_eq!(
            serde_json::to_value(&modules).unwrap(),
            json!({
                "terms": {"enabled": true},
                "document": {
                    "enabled": true,
                    "document_types": ["passport", "id_card"],
                    "sides": {"passport": ["front"], "id_card": ["front", "back"]},
                    "max_attempts": 3,
                },
                "form_data": {
                    "enabled": true,
                    "max_attempts": 3,
                    "fields": [
                        {"name": "first_name", "type": "text", "required": true},
                        {"name": "date_of_birth", "type": "date", "required": true},
                    ],
                },
            })
        );
        let back: Modules =
            serde_json::from_value(serde_json::to_value(&modules).unwrap()).unwrap();
        assert_eq!(back, modules);
        assert_eq!(modules.max_attempts(Step::DocumentBack), 3);
        assert_eq!(modules.max_attempts(Step::Liveness), DEFAULT_MAX_ATTEMPTS);
    }

    #[test]
    fn an_empty_snapshot_allows_every_document_type_and_no_fields() {
        let none = Modules::default();
        assert_eq!(none.document_types(), DocumentType::ALL.to_vec());
        assert!(none.form_fields().is_empty());
    }
}
