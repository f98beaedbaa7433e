//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
//! `GET /openapi.json` is served by [`crate::openapi`].

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
struct Alive {
    #[schema(schema_with = ok)]
    status: &'static str,
}

/// Fields in alphabetical order, as the answer has always had them.
#[derive(Serialize, ToSchema)]
struct Ready {
    /// `postgres` or `sqlite`
    database: &'static str,
    #[schema(schema_with = ready)]
    status: &'static str,
}

fn ok() -> utoipa::openapi::Object {
    crate::openapi::constant("ok")
}

fn ready() -> utoipa::openapi::Object {
    crate::openapi::constant("ready")
}

/// The process answers
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "OK", body = inline(Alive))),
)]
async fn healthz() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

/// The database answers too
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = inline(Ready)),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Ready {
        status: "ready",
        database: state.store.kind(),
    }))
}
