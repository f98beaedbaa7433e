//! The domain: what a verification, a module, a key's settings are, and the rules that
//! govern them. Pure data and functions, no I/O.

pub mod duration;
pub mod form;
pub mod ids;
pub mod lifecycle;
pub mod modules;
pub mod portal;
pub mod reasons;
pub mod results;
pub mod settings;
pub mod verification;

pub use ids::{ApiKeySecret, KeyHash, VerificationId};
pub use modules::Modules;
pub use portal::{PortalState, Step};
pub use results::{AttemptMetrics, Results};
pub use settings::{DocumentType, FormField, KeySettings, Module, RedactionTarget};
pub use verification::{Attempt, AttemptOutcome, Progress, ProgressState, Status, Verification};
