//! Server-rendered pages (askama) and static assets. HTML errors are kept apart from the
//! JSON API's: a browser gets a page, an API client gets `{error, details, code}`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::HtmlPage;
use crate::security_headers::{self, Policy};

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    version: &'static str,
    public_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(static_file))
        .layer(security_headers::layer(Policy::SitePage))
}

/// Static assets, compiled into the binary so that one file is the whole deployment.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../static/app.css"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../static/dashboard.css"),
    ),
    (
        "portal.css",
        "text/css; charset=utf-8",
        include_str!("../static/portal.css"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_str!("../static/portal.js"),
    ),
];

/// Static assets
#[utoipa::path(
    get,
    path = "/static/{file}",
    tag = "pages",
    params(("file" = String, Path)),
    responses(
        (
            status = 200,
            description = "The asset",
            content(("text/css"), ("text/javascript")),
        ),
        (status = 404, response = HtmlPage),
    ),
)]
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>, uri: Uri) -> Response {
    match STATIC_FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            *body,
        )
            .into_response(),
        None => not_found(uri).await,
    }
}

/// Landing page
#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, response = HtmlPage)))]
async fn index(State(state): State<AppState>) -> impl IntoResponse {
    IndexPage {
        version: env!("CARGO_PKG_VERSION"),
        public_url: state.settings.public_url.to_string(),
    }
}

/// A plain error page for browsers, with the page security headers.
pub fn error_page(status: StatusCode, title: &'static str, message: &'static str) -> Response {
    Policy::SitePage.with((status, ErrorPage { title, message }).into_response())
}

/// Unknown paths: JSON under `/api/`, a page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        return ApiError::RouteNotFound.into_response();
    }
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address. Check the link you were given.",
    )
}
