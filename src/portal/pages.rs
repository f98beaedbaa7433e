//! `GET /verify`: the end-user page, and the embeddable SDK's assets.
//!
//! The server decides which page a link gets (not valid, expired, already complete, or the
//! flow) and renders it in the user's language; `static/portal.js` then drives the flow
//! through the portal's JSON API, so every step survives a reload.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::i18n::{self, Lang, Strings};
use crate::AppState;
use crate::domain::modules::FieldSpec;
use crate::domain::settings::parse_origin;
use crate::domain::verification::now;
use crate::domain::{Status, Verification, VerificationId};
use crate::openapi::HtmlPage;
use crate::security_headers::Policy;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // The pages that look a verification up are throttled like the portal's API; the
    // SDK's static assets are not.
    let lookups = OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(super::qr::qr_image))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::throttle::portal_pages,
        ));
    OpenApiRouter::new()
        .merge(lookups)
        .routes(routes!(sdk_js))
        .routes(routes!(sdk_css))
}

/// `?lang=`: the portal's languages.
struct Language;

impl PartialSchema for Language {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Lang::ALL.map(Lang::code)))
            .into()
    }
}

impl ToSchema for Language {}

/// `?embed=1`: opened inside the SDK's modal.
struct Embed;

impl PartialSchema for Embed {
    fn schema() -> RefOr<Schema> {
        crate::openapi::constant("1").into()
    }
}

impl ToSchema for Embed {}

/// Cache-busts the page's own assets across releases (`/static/portal.js?v=…`).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest side, in pixels, the browser scales photos down to before upload.
const DOCUMENT_MAX_SIDE: u32 = 2000;
const SELFIE_MAX_SIDE: u32 = 1024;

/// One entry of the progress indicator.
pub struct StepView {
    /// `terms`, `document`, `liveness`, `form_data` or `done`.
    pub key: &'static str,
    pub label: &'static str,
}

/// One photographed side of a document.
pub struct SideView {
    /// `front` or `back`.
    pub key: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
}

pub struct DocumentOption {
    pub value: String,
    pub label: String,
}

/// A form field as the page renders it.
pub struct FieldView {
    pub name: String,
    /// The API's type: `text`, `date`, `email`, `tel` or `country`.
    pub kind: String,
    /// The `<input type>`; `country` fields render as a `<select>` instead.
    pub input_type: &'static str,
    pub label: String,
    pub required: bool,
    pub autocomplete: &'static str,
    /// Latest allowed date (birth dates lie in the past), `YYYY-MM-DD`.
    pub max: Option<String>,
    /// What the document's zone says of this field, offered for the user to confirm.
    pub value: Option<String>,
}

/// The flow page: one document with a section per step.
#[derive(Template, WebTemplate)]
#[template(path = "portal/flow.html")]
pub struct FlowPage {
    pub t: &'static Strings,
    pub lang: &'static str,
    pub version: &'static str,
    pub verification_id: String,
    /// The verification's modules in order, comma-separated, for the script.
    pub flow: String,
    pub steps: Vec<StepView>,
    pub has_terms: bool,
    pub has_document: bool,
    pub has_liveness: bool,
    pub has_form: bool,
    pub document_types: Vec<DocumentOption>,
    pub sides: Vec<SideView>,
    pub form_fields: Vec<FieldView>,
    /// Some field shows a value read from the document.
    pub form_prefilled: bool,
    pub countries: Vec<&'static str>,
    pub document_max_side: u32,
    pub selfie_max_side: u32,
    /// Reason-code messages and script strings, JSON (see [`i18n::client_messages_json`]).
    pub messages_json: String,
    /// Opened by the SDK inside its modal (`?embed=1`).
    pub embed: bool,
    /// The one origin the page may `postMessage` to; without it, it posts nothing.
    pub parent_origin: Option<String>,
    /// A test verification: the page says so, offers placeholder images and lets the
    /// tester pick the outcome. For operators' developers, so in English only.
    pub test: bool,
}

/// A page that ends the visit: link not valid, expired, already complete, unavailable.
#[derive(Template, WebTemplate)]
#[template(path = "portal/status.html")]
pub struct StatusPage {
    pub t: &'static Strings,
    pub lang: &'static str,
    pub version: &'static str,
    /// `not_found`, `expired`, `completed`, `closed` or `unavailable`.
    pub kind: &'static str,
    pub title: &'static str,
    pub message: &'static str,
    pub verification_id: Option<String>,
    /// The verification's status, for the SDK's events.
    pub status: Option<&'static str>,
    pub embed: bool,
    pub parent_origin: Option<String>,
}

/// The parameters `/verify` understands. Parsed leniently (first value wins, unknown
/// parameters ignored) so that a decorated link still opens.
#[derive(Default)]
struct VerifyQuery {
    verification_id: Option<String>,
    lang: Option<String>,
    embed: bool,
    parent_origin: Option<String>,
}

impl VerifyQuery {
    fn parse(raw: Option<&str>) -> Self {
        let mut q = VerifyQuery::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match k.as_ref() {
                "verification_id" => &mut q.verification_id,
                "lang" => &mut q.lang,
                "parent_origin" => &mut q.parent_origin,
                "embed" => {
                    q.embed |= v == "1" || v == "true";
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }
}

/// The end-user portal
#[utoipa::path(
    get,
    path = "/verify",
    tag = "pages",
    params(
        ("verification_id" = String, Query),
        ("lang" = inline(Option<Language>), Query),
        ("embed" = inline(Option<Embed>), Query),
    ),
    responses(
        (status = 200, response = HtmlPage),
        (status = 404, response = HtmlPage),
        (status = 410, response = HtmlPage),
        (status = 429, response = HtmlPage),
        (status = 503, response = HtmlPage),
    ),
)]
async fn verify(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = VerifyQuery::parse(raw.as_deref());
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = i18n::negotiate(q.lang.as_deref(), accept);
    let t = lang.strings();
    let status_page = |kind, title, message| StatusPage {
        t,
        lang: lang.code(),
        version: VERSION,
        kind,
        title,
        message,
        verification_id: None,
        status: None,
        embed: q.embed,
        parent_origin: None,
    };
    let not_found = || {
        let page = status_page("not_found", &t.not_found_title, &t.not_found_body);
        with_page_headers((StatusCode::NOT_FOUND, page).into_response(), Vec::new())
    };

    let Some(id) = q.verification_id.as_deref().and_then(VerificationId::parse) else {
        return not_found();
    };
    let v = match state.store.get_verification(&id).await {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "verify page: lookup failed");
            let page = status_page(
                "unavailable",
                &t.page_title,
                i18n::reason_message(lang, "GENERIC"),
            );
            return with_page_headers(
                (StatusCode::SERVICE_UNAVAILABLE, page).into_response(),
                Vec::new(),
            );
        }
    };

    let (frame_ancestors, parent_origin) = if q.embed {
        embed_origins(&state, &v, q.parent_origin.as_deref()).await
    } else {
        (Vec::new(), None)
    };
    let (status, _) = v.effective_status(now());
    let res = match status {
        // Erased on the operator's request before the user finished: nothing to go on with.
        Status::Created | Status::InProgress | Status::Processing if v.results.is_erased() => {
            let mut page = status_page("closed", &t.closed_title, &t.closed_body);
            page.verification_id = Some(v.id.to_string());
            page.parent_origin = parent_origin;
            (StatusCode::GONE, page).into_response()
        }
        Status::Expired => {
            let mut page = status_page("expired", &t.expired_title, &t.expired_body);
            page.verification_id = Some(v.id.to_string());
            page.status = Some(status.as_str());
            page.parent_origin = parent_origin;
            (StatusCode::GONE, page).into_response()
        }
        Status::Verified | Status::NeedsManualReview | Status::Rejected => {
            let mut page = status_page("completed", &t.completed_title, &t.completed_body);
            page.verification_id = Some(v.id.to_string());
            page.status = Some(status.as_str());
            page.parent_origin = parent_origin;
            page.into_response()
        }
        Status::Created | Status::InProgress | Status::Processing => {
            flow_page(&v, lang, q.embed, parent_origin).into_response()
        }
    };
    with_page_headers(res, frame_ancestors)
}

/// Where an embedded page may be framed from and whom it may tell: the origins the
/// verification's key allows. The parent's origin is the one the SDK names among them, or
/// the only one. A key that allows any origin (an empty list) gets no framing at all.
async fn embed_origins(
    state: &AppState,
    v: &Verification,
    claimed_parent: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let origins = match state.store.find_key(&v.key_id).await {
        Ok(Some(key)) => key.settings.allowed_return_origins,
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "verify page: key lookup failed");
            Vec::new()
        }
    };
    let parent = match claimed_parent.and_then(|p| parse_origin(p).ok()) {
        Some(p) if origins.contains(&p) => Some(p),
        _ if origins.len() == 1 => origins.first().cloned(),
        _ => None,
    };
    (origins, parent)
}

fn flow_page(v: &Verification, lang: Lang, embed: bool, parent_origin: Option<String>) -> FlowPage {
    let t = lang.strings();
    let flow: Vec<&'static str> = v.flow.iter().map(|m| m.as_str()).collect();
    let has = |m: &str| flow.contains(&m);
    let mut steps: Vec<StepView> = flow
        .iter()
        .map(|m| StepView {
            key: m,
            label: match *m {
                "terms" => &t.step_terms,
                "document" => &t.step_document,
                "liveness" => &t.step_liveness,
                _ => &t.step_form,
            },
        })
        .collect();
    steps.push(StepView {
        key: "done",
        label: &t.step_done,
    });

    let document_types = v
        .modules
        .document
        .iter()
        .flat_map(|d| &d.document_types)
        .map(|d| DocumentOption {
            label: t
                .document_label(d.as_str())
                .unwrap_or(d.as_str())
                .to_owned(),
            value: d.as_str().to_owned(),
        })
        .collect();
    let sides = vec![
        SideView {
            key: "front",
            title: &t.front_title,
            hint: &t.front_hint,
        },
        SideView {
            key: "back",
            title: &t.back_title,
            hint: &t.back_hint,
        },
    ];
    let today = now().format("%Y-%m-%d").to_string();
    let mut prefill = super::view::form_prefill(v);
    let form_fields: Vec<FieldView> = v
        .modules
        .form_fields()
        .iter()
        .map(|f| FieldView {
            value: prefill.remove(f.name.as_str()),
            ..field_view(f, t, &today)
        })
        .collect();
    let form_prefilled = form_fields.iter().any(|f| f.value.is_some());

    FlowPage {
        t,
        lang: lang.code(),
        version: VERSION,
        verification_id: v.id.to_string(),
        flow: flow.join(","),
        has_terms: has("terms"),
        has_document: has("document"),
        has_liveness: has("liveness"),
        has_form: has("form_data"),
        steps,
        document_types,
        sides,
        form_fields,
        form_prefilled,
        countries: COUNTRIES.split_whitespace().collect(),
        document_max_side: DOCUMENT_MAX_SIDE,
        selfie_max_side: SELFIE_MAX_SIDE,
        messages_json: i18n::client_messages_json(lang),
        embed,
        parent_origin,
        test: v.test,
    }
}

fn field_view(f: &FieldSpec, t: &Strings, today: &str) -> FieldView {
    let name = f.name.as_str().to_owned();
    let kind = f.kind.clone();
    let input_type = match kind.as_str() {
        "date" => "date",
        "email" => "email",
        "tel" => "tel",
        _ => "text",
    };
    let autocomplete = match name.as_str() {
        "first_name" => "given-name",
        "last_name" => "family-name",
        "date_of_birth" => "bday",
        "email" => "email",
        "phone" => "tel",
        "address_line" => "address-line1",
        "postal_code" => "postal-code",
        "city" => "address-level2",
        "country" => "country",
        _ => "off",
    };
    FieldView {
        label: t
            .field_label(&name)
            .map_or_else(|| name.replace('_', " "), str::to_owned),
        max: (kind == "date").then(|| today.to_owned()),
        required: f.required,
        name,
        kind,
        input_type,
        autocomplete,
        value: None,
    }
}

/// A portal page, marked with its security headers: framed only from `frame_ancestors`.
fn with_page_headers(res: Response, frame_ancestors: Vec<String>) -> Response {
    Policy::PortalPage { frame_ancestors }.with(res)
}

const SDK_JS: &str = include_str!("../../static/verification-sdk.js");
const SDK_CSS: &str = include_str!("../../static/modal.css");

/// The SDK is loaded by operators' pages from other origins; a short cache lets fixes
/// reach them quickly.
fn sdk_asset(content_type: &'static str, body: &'static str) -> Response {
    Policy::SdkAsset.with(
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            body,
        )
            .into_response(),
    )
}

/// The embeddable SDK
#[utoipa::path(
    get,
    path = "/verification-sdk.js",
    tag = "pages",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String)),
)]
async fn sdk_js() -> Response {
    sdk_asset("text/javascript; charset=utf-8", SDK_JS)
}

/// The SDK modal's styles
#[utoipa::path(
    get,
    path = "/modal.css",
    tag = "pages",
    responses((status = 200, description = "CSS", content_type = "text/css", body = String)),
)]
async fn sdk_css() -> Response {
    sdk_asset("text/css; charset=utf-8", SDK_CSS)
}

/// ISO 3166-1 alpha-2 codes, the values of `country` fields. The page shows them as codes;
/// the script replaces them with names in the page's language (`Intl.DisplayNames`).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH \
    BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW \
    CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI \
    GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO \
    JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH \
    MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA \
    PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL \
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US \
    UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_parsed_leniently() {
        let q = VerifyQuery::parse(Some(
            "verification_id=ver_1&verification_id=ver_2&embed=1&lang=nl&utm=x",
        ));
        assert_eq!(q.verification_id.as_deref(), Some("ver_1"));
        assert_eq!(q.lang.as_deref(), Some("nl"));
        assert!(q.embed);
        assert!(!VerifyQuery::parse(None).embed);
    }

    #[test]
    fn countries_are_two_letter_codes() {
        let c: Vec<_> = COUNTRIES.split_whitespace().collect();
        assert_eq!(c.len(), 249);
        assert!(c.iter().all(|c| c.len() == 2));
        assert!(c.windows(2).all(|w| w[0] < w[1]));
    }
}
