//! An open-loop load generator for `scripts/bench-api.sh`: requests are due at a fixed
//! rate whatever the server does, so a slow answer delays the requests behind it and that
//! delay is counted (wrk, which sends the next request only when the last one is answered,
//! cannot say what latency a given rate gets).
//!
//! Request *i* is due at `start + i / rate`. Each connection takes the next due request,
//! waits for its time if it is early, sends it and waits for the whole answer. Latency is
//! counted from the due time when the request had to wait for a free connection (the
//! server was behind), and from the moment it was sent otherwise (so the generator's own
//! timer granularity is not charged to the server).
//!
//! ```text
//! v2client-load --url http://127.0.0.1:18099/api/get-verification-details/ --ids ids.txt \
//!   --header "X-SDK-Key: $KEY" --rate 3000 --duration 20 --connections 32
//! ```
//! prints one line: `sent rate_achieved p50_ms p90_ms p99_ms p999_ms max_ms non_2xx errors`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "Open-loop HTTP/1.1 load at a fixed rate; prints latency percentiles")]
struct Args {
    /// The URL; with --ids, each request appends the next id to it
    #[arg(long)]
    url: String,
    /// HTTP method
    #[arg(long, default_value = "GET")]
    method: String,
    /// A request header, `Name: value` (repeatable)
    #[arg(long = "header")]
    headers: Vec<String>,
    /// A request body (sent with Content-Type: application/json)
    #[arg(long)]
    body: Option<String>,
    /// A file of path suffixes, one per line, appended to the URL in turn
    #[arg(long)]
    ids: Option<std::path::PathBuf>,
    /// Requests per second
    #[arg(long)]
    rate: f64,
    /// Seconds of load
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Connections kept open
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Runtime worker threads
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

struct Plan {
    host: String,
    authority: String,
    path: String,
    method: hyper::Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    suffixes: Vec<String>,
    interval: Duration,
    total: u64,
    next: AtomicU64,
}

#[derive(Default)]
struct Tally {
    /// Microseconds, one per answered request.
    latencies: Vec<u32>,
    non_2xx: u64,
    errors: u64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if !(args.rate > 0.0 && args.duration > 0.0 && args.connections > 0) {
        return Err("--rate, --duration and --connections must be positive".into());
    }
    let rest = args
        .url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("bad header {h:?}"))?;
        headers.push((
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?,
            HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?,
        ));
    }
    let suffixes = match &args.ids {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let plan = Arc::new(Plan {
        host: authority.to_owned(),
        authority: authority.to_owned(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        method: args.method.parse().map_err(|_| "bad method")?,
        headers,
        body: Bytes::from(args.body.clone().unwrap_or_default()),
        suffixes,
        interval: Duration::from_secs_f64(1.0 / args.rate),
        total: (args.rate * args.duration).round() as u64,
        next: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (tally, elapsed) = runtime.block_on(async {
        let start = Instant::now() + Duration::from_millis(50);
        let workers: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(worker(plan.clone(), start)))
            .collect();
        let mut all = Tally::default();
        for w in workers {
            let t = w.await.map_err(|e| e.to_string())?;
            all.latencies.extend(t.latencies);
            all.non_2xx += t.non_2xx;
            all.errors += t.errors;
        }
        Ok::<_, String>((all, start.elapsed()))
    })?;
    let mut l = tally.latencies;
    l.sort_unstable();
    let pct = |p: f64| -> f64 {
        if l.is_empty() {
            return f64::NAN;
        }
        let i = ((p * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1;
        f64::from(l[i]) / 1000.0
    };
    println!(
        "{} {:.0} {:.2} {:.2} {:.2} {:.2} {:.2} {} {}",
        l.len(),
        l.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        tally.non_2xx,
        tally.errors,
    );
    Ok(())
}

async fn worker(plan: Arc<Plan>, start: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.total {
            return tally;
        }
        let due = start + plan.interval.mul_f64(i as f64);
        let began = if Instant::now() >= due {
            due
        } else {
            tokio::time::sleep_until(due).await;
            Instant::now()
        };
        if sender.is_none() {
            sender = connect(&plan.host).await;
        }
        let Some(s) = sender.as_mut() else {
            tally.errors += 1;
            continue;
        };
        let path = match plan.suffixes.len() {
            0 => plan.path.clone(),
            n => format!("{}{}", plan.path, plan.suffixes[i as usize % n]),
        };
        let mut request = Request::builder()
            .method(plan.method.clone())
            .uri(path)
            .header(hyper::header::HOST, &plan.authority);
        for (name, value) in &plan.headers {
            request = request.header(name, value);
        }
        if !plan.body.is_empty() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(plan.body.clone()))
            .expect("a request from valid parts");
        match send(s, request).await {
            Some(status) => {
                let micros = began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies.push(micros);
                if !status.is_success() {
                    tally.non_2xx += 1;
                }
            }
            None => {
                tally.errors += 1;
                sender = None;
            }
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(host: &str) -> Option<Sender> {
    let stream = TcpStream::connect(host).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// Sends and reads the whole answer; `None` when the connection failed.
async fn send(s: &mut Sender, request: Request<Full<Bytes>>) -> Option<hyper::StatusCode> {
    s.ready().await.ok()?;
    let response = s.send_request(request).await.ok()?;
    let status = response.status();
    response.into_body().collect().await.ok()?;
    Some(status)
}
