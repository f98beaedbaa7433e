//! The floor of `scripts/bench-api.sh`: the least a service on the same stack (axum 0.8,
//! sqlx 0.9, tokio, serde_json) must do to answer v2client's operator routes. Each route
//! sends exactly the SQL v2client's route sends on Postgres, reads and writes the same
//! columns, and parses and writes JSON bodies of the same shape, and nothing else: no
//! authentication, no middleware, no logging. v2client's throughput as a fraction of this
//! one's, measured in the same run, is what its own request path costs.
//!
//! Run: `DATABASE_URL=postgres://… FLOOR_BIND=127.0.0.1:18097 FLOOR_KEY_ID=key_… v2client-floor`

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::types::Json as SqlJson;

#[derive(Clone)]
struct Floor {
    pool: PgPool,
    key_id: String,
}

const COLUMNS: &str = "v.id, v.key_id, v.status, CAST(v.flow AS TEXT) AS flow,
    CAST(v.modules AS TEXT) AS modules, CAST(v.progress AS TEXT) AS progress,
    CAST(v.results AS TEXT) AS results, CAST(v.extra_data AS TEXT) AS extra_data,
    v.return_url, CAST(v.portal AS TEXT) AS portal, v.version, v.created_at, v.updated_at,
    v.expires_at, v.test";

const ATTEMPTS: &str = "COALESCE((
    SELECT json_agg(json_build_object(
        'id', a.id, 'verification_id', a.verification_id, 'step', a.step,
        'outcome', a.outcome, 'reasons', a.reasons, 'metrics', a.metrics,
        'images', a.images, 'content_hash', a.content_hash,
        'created_at', a.created_at) ORDER BY a.created_at, a.id)
    FROM attempts a WHERE a.verification_id = v.id
), '[]')::text";

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
);

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn details(r: Row, attempts: Option<String>) -> Value {
    let mut out = json!({
        "verification_id": r.0,
        "status": {"current": r.2, "updated_at": time(r.12), "progress": parse(&r.5)},
        "results": parse(&r.6),
        "extra_data": r.7.as_deref().map(parse),
        "created_at": time(r.11),
        "expires_at": time(r.13),
        "flow": parse(&r.3),
        "return_url": r.8,
        "test": r.14,
    });
    if let Some(a) = attempts {
        out["attempts"] = parse(&a);
    }
    out
}

#[derive(Deserialize, Default)]
struct GenerateRequest {
    extra_data: Option<Value>,
    return_url: Option<String>,
}

async fn generate(
    State(f): State<Floor>,
    body: Option<Json<GenerateRequest>>,
) -> Result<Json<Value>, StatusCode> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let id = format!("ver_{}", uuid::Uuid::new_v4().simple());
    let now = Utc::now();
    let expires = now + Duration::hours(24);
    let flow = json!(["terms", "document", "liveness", "form_data"]);
    // The default key's modules, as v2client stores them (so v2client reads these rows).
    let modules = json!({
        "terms": {"enabled": true},
        "document": {
            "enabled": true,
            "max_attempts": 5,
            "document_types": ["passport", "id_card", "driving_licence"],
            "sides": {
                "id_card": ["front", "back"],
                "passport": ["front"],
                "driving_licence": ["front", "back"],
            },
        },
        "liveness": {"enabled": true, "challenges": ["closer", "farther"], "max_attempts": 5},
        "form_data": {
            "enabled": true,
            "max_attempts": 5,
            "fields": [
                {"name": "first_name", "type": "text", "required": true},
                {"name": "last_name", "type": "text", "required": true},
                {"name": "date_of_birth", "type": "date", "required": true},
            ],
        },
    });
    let progress = json!({"document": "pending", "liveness": "pending", "form_data": "pending"});
    let reference = request
        .extra_data
        .as_ref()
        .and_then(|e| e.get("reference_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    sqlx::query(
        "INSERT INTO verifications (id, key_id, status, flow, modules, progress, results,
             extra_data, return_url, created_at, updated_at, expires_at, portal, version,
             reference, test)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(&f.key_id)
    .bind("created")
    .bind(SqlJson(&flow))
    .bind(SqlJson(&modules))
    .bind(SqlJson(&progress))
    .bind(SqlJson(json!({})))
    .bind(request.extra_data.as_ref().map(SqlJson))
    .bind(request.return_url.as_deref())
    .bind(now)
    .bind(now)
    .bind(expires)
    .bind(SqlJson(json!({"liveness_challenge": "closer"})))
    .bind(0_i64)
    .bind(reference)
    .bind(false)
    .execute(&f.pool)
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(json!({
        "verificationId": id,
        "expiresAt": time(expires),
        "modules": modules,
        "flow": flow,
        "verifyUrl": format!("http://127.0.0.1/verify?verification_id={id}"),
        "test": false,
    })))
}

async fn read(State(f): State<Floor>, Path(id): Path<String>) -> Result<Json<Value>, StatusCode> {
    let sql =
        format!("SELECT {COLUMNS}, {ATTEMPTS} AS attempts FROM verifications v WHERE v.id = $1");
    let r: RowWithAttempts = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&id)
        .fetch_optional(&f.pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)?;
    if r.1 != f.key_id {
        return Err(StatusCode::FORBIDDEN);
    }
    let row = (
        r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, r.12, r.13, r.14,
    );
    Ok(Json(details(row, Some(r.15))))
}

/// [`Row`] and the attempts as one JSON text.
type RowWithAttempts = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
    String,
);

#[derive(Deserialize)]
struct ListParams {
    limit: Option<i64>,
}

async fn list(
    State(f): State<Floor>,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, StatusCode> {
    let limit = p.limit.unwrap_or(20).clamp(1, 100);
    let sql = format!(
        "SELECT {COLUMNS} FROM verifications v WHERE v.key_id IN ($1)
         ORDER BY v.created_at DESC, v.id DESC LIMIT $2"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.key_id)
        .bind(limit + 1)
        .fetch_all(&f.pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let items: Vec<Value> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| details(r, None))
        .collect();
    Ok(Json(json!({"verifications": items, "next_cursor": null})))
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let bind = std::env::var("FLOOR_BIND").unwrap_or_else(|_| "127.0.0.1:18097".into());
    let key_id = std::env::var("FLOOR_KEY_ID").expect("FLOOR_KEY_ID");
    let size = std::env::var("FLOOR_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .connect(&url)
        .await
        .expect("connect");
    let app = Router::new()
        .route("/api/generate-verification", post(generate))
        .route("/api/get-verification-details/{id}", get(read))
        .route("/api/verifications", get(list))
        .with_state(Floor { pool, key_id });
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
