//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers.
//!
//! Each handler carries a `#[utoipa::path(...)]` attribute (method, path, parameters, body,
//! answers) and names the types it reads and writes, which derive `ToSchema`. Routes are
//! registered only through [`OpenApiRouter::routes`] with `routes!(handler)`, which takes the
//! method and path from that same attribute: a route and its description come from one
//! place. A test compares the routes the assembled router serves with the paths the
//! document describes.
//!
//! Here lives what no single handler owns: the document's header, the security schemes,
//! the shared answers (the error shape, the 429 with its headers, an HTML page), the answers
//! the outer layers give on every route ([`every_route_answers`]), and the shapes of the
//! few bodies that handlers build as JSON values rather than from a type of their own.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ResponseObject, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, HeaderBuilder, KnownFormat, ObjectBuilder, Ref, RefOr, Schema, SchemaFormat, Type,
};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::domain::DocumentType;

/// The document's header and the components no handler names by itself.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "v2client",
        description = "Self-hostable identity-verification portal, wire-compatible with \
            okID's v2client. Operator routes take the API key in X-SDK-Key; portal routes are \
            keyed by the verification id and refuse cross-site browser requests. Webhook \
            payloads and signatures are described in the README."
    ),
    components(responses(ErrorResponse, RateLimited, HtmlPage), schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct Header;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_default();
        components.add_security_scheme(
            "SdkKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-SDK-Key"))),
        );
        components.add_security_scheme(
            "MetricsToken",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// An empty router that collects the descriptions of the routes added to it.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::with_openapi(Header::openapi())
}

/// Completes the document collected from the routes: what the layers around every route
/// can answer, whatever the handler (`app`'s method fallback and `observe::edge` answer
/// 405, `observe::edge` 408, both in the error shape).
pub fn every_route_answers(api: &mut utoipa::openapi::OpenApi) {
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            for status in ["405", "408"] {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(error_ref);
            }
        }
    }
}

/// The operations of a path item, whatever their method.
pub fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// What [`OpenApiRouter`] lacks of [`axum::Router`]'s methods, keeping the description.
pub trait RouterExt<S> {
    /// [`axum::Router::method_not_allowed_fallback`]: for the routes added so far, so that
    /// the layers added after it wrap the refusal too.
    fn method_not_allowed_fallback<H, T>(self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static;
}

impl<S: Clone + Send + Sync + 'static> RouterExt<S> for OpenApiRouter<S> {
    fn method_not_allowed_fallback<H, T>(self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let (routes, api) = self.split_for_parts();
        let mut out = OpenApiRouter::from(routes.method_not_allowed_fallback(handler));
        *out.get_openapi_mut() = api;
        out
    }
}

fn error_ref() -> RefOr<ResponseObject> {
    RefOr::Ref(Ref::from_response_name(ErrorResponse::response().0))
}

/// The finished document, serialised once when the router is built.
#[derive(Clone)]
pub struct Served(Bytes);

impl Served {
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        let mut doc = serde_json::to_value(api).expect("the document serialises");
        absent_is_not_null(&mut doc);
        Served(
            serde_json::to_vec(&doc)
                .expect("the document serialises")
                .into(),
        )
    }
}

/// utoipa describes an `Option<T>` as "T or null". For an optional header or request
/// body, `None` means "not sent", which OpenAPI says with `required: false` alone: a
/// header or a body cannot be JSON `null`, so the null alternative is dropped there.
fn absent_is_not_null(doc: &mut serde_json::Value) {
    let optional = |v: &serde_json::Value| v.get("required") != Some(&true.into());
    let operations = doc
        .get_mut("paths")
        .and_then(|paths| paths.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(|p| p.as_array_mut())
        {
            for parameter in parameters.iter_mut().filter(|p| optional(p)) {
                if let Some(schema) = parameter.get_mut("schema") {
                    drop_null(schema);
                }
            }
        }
        if let Some(body) = operation.get_mut("requestBody").filter(|b| optional(b)) {
            let media_types = body
                .get_mut("content")
                .and_then(|c| c.as_object_mut())
                .into_iter()
                .flat_map(|c| c.values_mut());
            for media in media_types {
                if let Some(schema) = media.get_mut("schema") {
                    drop_null(schema);
                }
            }
        }
    }
}

fn drop_null(schema: &mut serde_json::Value) {
    let null = serde_json::json!({"type": "null"});
    if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema["type"] = only;
        }
    }
    if let Some(one_of) = schema.get_mut("oneOf").and_then(|o| o.as_array_mut()) {
        one_of.retain(|s| *s != null);
        if one_of.len() == 1 {
            let only = one_of.remove(0);
            *schema = only;
        }
    }
}

/// This document
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)),
)]
pub(crate) async fn document(State(Served(json)): State<Served>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// `/openapi.json`, serving the document of `documented` and of itself. Returns the
/// routes of `documented` with that one added.
pub fn serve<S: Clone + Send + Sync + 'static>(documented: OpenApiRouter<S>) -> Router<S> {
    let (routes, mut api) = documented.split_for_parts();
    // The route of the document is described like any other, then the whole is frozen.
    let (document_route, own) = OpenApiRouter::<Served>::new()
        .routes(utoipa_axum::routes!(document))
        .split_for_parts();
    api.merge(own);
    every_route_answers(&mut api);
    routes.merge(document_route.with_state(Served::new(&api)))
}

// ---- Shared answers ------------------------------------------------------------------

/// An error in the one shape of [`crate::error::ApiError`].
pub struct ErrorResponse;

impl<'s> ToResponse<'s> for ErrorResponse {
    fn response() -> (&'s str, RefOr<ResponseObject>) {
        (
            "Error",
            ResponseBuilder::new()
                .description("An error in the documented shape")
                .content("application/json", error_content())
                .build()
                .into(),
        )
    }
}

/// What a portal step can answer besides its 200: one list for the four step routes.
pub struct StepErrors;

impl utoipa::IntoResponses for StepErrors {
    fn responses() -> BTreeMap<String, RefOr<ResponseObject>> {
        let named = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        let error = ErrorResponse::response().0;
        let limited = RateLimited::response().0;
        [400, 403, 404, 409, 410, 413, 415, 429, 500, 503]
            .into_iter()
            .map(|status| {
                let answer = if status == 429 { limited } else { error };
                (status.to_string(), named(answer))
            })
            .collect()
    }
}

/// `429 RATE_LIMITED`, with the headers that say when to come back.
pub struct RateLimited;

impl<'s> ToResponse<'s> for RateLimited {
    fn response() -> (&'s str, RefOr<ResponseObject>) {
        let integer =
            || HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::Integer)));
        (
            "RateLimited",
            ResponseBuilder::new()
                .description("Over a rate limit, in the documented error shape (code RATE_LIMITED)")
                .header(
                    "Retry-After",
                    integer()
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                )
                .header("RateLimit-Limit", integer().build())
                .header("RateLimit-Remaining", integer().build())
                .header("RateLimit-Reset", integer().build())
                .content("application/json", error_content())
                .build()
                .into(),
        )
    }
}

/// A page for a browser (`crate::web::error_page` and the portal's pages).
pub struct HtmlPage;

impl<'s> ToResponse<'s> for HtmlPage {
    fn response() -> (&'s str, RefOr<ResponseObject>) {
        (
            "Page",
            ResponseBuilder::new()
                .description("An HTML page")
                .content("text/html", Content::new(Some(String::schema())))
                .build()
                .into(),
        )
    }
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name(ErrorBody::name())))
}

/// The body of every JSON error: a short sentence, what to do about it, a stable code.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: String,
    details: String,
    #[schema(inline)]
    code: ErrorCode,
}

/// The stable codes of [`crate::error::ApiError::code`] (a test keeps them in step).
#[derive(ToSchema, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidApiKey,
    AccessDenied,
    VerificationNotFound,
    ImageNotFound,
    NotFound,
    MethodNotAllowed,
    VerificationExpired,
    InvalidStep,
    InvalidState,
    VerificationErased,
    IdempotencyConflict,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    ServerNotConfigured,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidApiKey,
        ErrorCode::AccessDenied,
        ErrorCode::VerificationNotFound,
        ErrorCode::ImageNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::VerificationExpired,
        ErrorCode::InvalidStep,
        ErrorCode::InvalidState,
        ErrorCode::VerificationErased,
        ErrorCode::IdempotencyConflict,
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::ServerNotConfigured,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];
}

/// Bytes of a file (an image), as a body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct Binary(Vec<u8>);

// ---- Parameters ------------------------------------------------------------------------

/// The verification a route is about, in its path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct VerificationPath {
    /// `ver_` and 32 lowercase hex digits, as `generate-verification` answers it
    #[param(pattern = "^ver_[0-9a-f]{32}$")]
    verification_id: String,
}

/// Which side of the document an upload is.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DocumentSide {
    Front,
    Back,
}

// ---- Bodies handlers build as JSON values -------------------------------------------------

/// The step the portal should show next; `done` once every step is in.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CurrentStep {
    Terms,
    DocumentFront,
    DocumentBack,
    Liveness,
    FormData,
    Done,
}

/// One form field the key asks for.
#[derive(ToSchema)]
#[schema(as = FormField)]
#[allow(dead_code)]
pub struct FormFieldView {
    name: String,
    /// The input's kind: text, date, country…
    #[schema(rename = "type")]
    kind: String,
    required: bool,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Challenge {
    Closer,
    Farther,
}

/// `GET /api/check-config`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CheckConfig {
    /// No problem below
    ready: bool,
    /// What stops verifications from working, each with a code of the error shape
    #[schema(value_type = Vec<Object>)]
    problems: Vec<serde_json::Value>,
    /// Version, database, public URL and verification backend
    #[schema(value_type = Object)]
    instance: serde_json::Value,
    /// The calling key's settings and rate limits
    #[schema(value_type = Object)]
    key: serde_json::Value,
}

// ---- Request bodies read by hand ------------------------------------------------------

/// `{"accepted": true}`.
pub struct TermsAccepted;

impl PartialSchema for TermsAccepted {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "accepted",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([true])),
            )
            .required("accepted")
            .into()
    }
}

impl ToSchema for TermsAccepted {}

/// One photographed side of a document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    #[schema(inline)]
    document_type: DocumentType,
    /// JPEG, PNG or WebP
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
}

/// The liveness burst.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LivenessUpload {
    /// First to last
    #[schema(schema_with = frames)]
    frames: Vec<Vec<u8>>,
}

fn frames() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
        )
        .min_items(Some(2))
        .max_items(Some(8))
        .description(Some("First to last"))
        .build()
}

/// A string that can only be `value`.
pub fn constant(value: &str) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
        .build()
}

/// The form's values by field name.
pub type FormValues = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    /// One error of each kind. The match has no wildcard: a new variant does not compile
    /// until it is listed here, and so until its code is checked against the document.
    fn one_of_each() -> Vec<ApiError> {
        let all = vec![
            ApiError::InvalidRequest(String::new()),
            ApiError::InvalidApiKey,
            ApiError::AccessDenied(""),
            ApiError::VerificationNotFound,
            ApiError::ImageNotFound(""),
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed,
            ApiError::VerificationExpired,
            ApiError::InvalidStep(String::new()),
            ApiError::InvalidState(String::new()),
            ApiError::VerificationErased,
            ApiError::IdempotencyConflict,
            ApiError::PayloadTooLarge(String::new()),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::RequestTimeout,
            ApiError::RateLimited {
                subject: "",
                retry_after_secs: 1,
                limit: 1,
                reset_secs: 1,
            },
            ApiError::ServerNotConfigured(String::new()),
            ApiError::ServiceUnavailable("".into()),
            ApiError::Internal("".into()),
        ];
        for e in &all {
            match e {
                ApiError::InvalidRequest(_)
                | ApiError::InvalidApiKey
                | ApiError::AccessDenied(_)
                | ApiError::VerificationNotFound
                | ApiError::ImageNotFound(_)
                | ApiError::RouteNotFound
                | ApiError::MethodNotAllowed
                | ApiError::VerificationExpired
                | ApiError::InvalidStep(_)
                | ApiError::InvalidState(_)
                | ApiError::VerificationErased
                | ApiError::IdempotencyConflict
                | ApiError::PayloadTooLarge(_)
                | ApiError::UnsupportedMediaType(_)
                | ApiError::RequestTimeout
                | ApiError::RateLimited { .. }
                | ApiError::ServerNotConfigured(_)
                | ApiError::ServiceUnavailable(_)
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn an_optional_header_or_body_is_absent_not_null() {
        let mut doc = serde_json::json!({"paths": {"/x": {"post": {
            "parameters": [
                {"name": "H", "in": "header", "required": false,
                 "schema": {"type": ["string", "null"], "maxLength": 9}},
                {"name": "id", "in": "path", "required": true,
                 "schema": {"type": ["string", "null"]}},
            ],
            "requestBody": {"content": {"application/json": {"schema":
                {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/B"}]}}}},
        }}}});
        absent_is_not_null(&mut doc);
        let op = &doc["paths"]["/x"]["post"];
        assert_eq!(
            op["parameters"][0]["schema"],
            serde_json::json!({"type": "string", "maxLength": 9})
        );
        // A required one is left as it is.
        assert_eq!(
            op["parameters"][1]["schema"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"],
            serde_json::json!({"$ref": "#/components/schemas/B"})
        );
    }

    #[test]
    fn documented_error_codes_are_those_of_api_error() {
        let documented: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let mut spoken: Vec<String> = one_of_each().iter().map(|e| e.code().to_owned()).collect();
        let mut sorted = documented.clone();
        sorted.sort();
        spoken.sort();
        assert_eq!(sorted, spoken);
        // The schema lists the same codes as ALL.
        let schema = serde_json::to_value(ErrorBody::schema()).unwrap();
        assert_eq!(
            schema["properties"]["code"]["enum"],
            serde_json::json!(documented)
        );
    }
}
