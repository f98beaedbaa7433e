#!/usr/bin/env bash
# Load benchmark of the operator API on Postgres, beside pgbench doing the equivalent
# single-row work on the same database and table:
#   generate-verification  vs  pgbench: one INSERT INTO verifications (same columns)
#   get-verification-details vs pgbench: one SELECT of a verification by id
# Everything runs on this machine over loopback; each load runs for DURATION seconds.
#
# Usage: scripts/bench-api.sh            (DURATION=20 CONNECTIONS=32 THREADS=2 to change)
# Needs: wrk and pgbench (installed with apt-get when missing), a Postgres on
# 127.0.0.1:5432 where `postgres` may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=v2client_bench
PORT=${BENCH_PORT:-18099}
ROWS=100000
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v pgbench >/dev/null || apt-get install -y -qq postgresql-client >/dev/null

cargo build --release --locked -q
bin=target/release/v2client

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
export DATABASE_URL="$PG/$DB"
export V2CLIENT_LOG=warn V2CLIENT_BIND=127.0.0.1:$PORT V2CLIENT_DATA_DIR="$work"
export V2CLIENT_DB_MAX_CONNECTIONS=${V2CLIENT_DB_MAX_CONNECTIONS:-16}
$bin migrate >/dev/null
key_json=$($bin keys create --name bench --generate-per-minute 1000000000 --json)
KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$key_json")
KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$key_json")
export KEY

# Rows for the point reads: ids of our shape, 'ver_' + 32 hex digits, owned by the key.
psql "$DATABASE_URL" -q >/dev/null <<SQL
INSERT INTO verifications (id, key_id, status, flow, modules, progress, results, extra_data,
    return_url, created_at, updated_at, expires_at)
SELECT 'ver_' || md5(n::text), '$KEY_ID', 'created',
       '["terms","document","liveness","form_data"]', '{}',
       '{"document":"pending","liveness":"pending","form_data":"pending"}', '{}',
       '{"reference_id":"bench"}', NULL, now(), now(), now() + interval '1 day'
FROM generate_series(1, $ROWS) AS n;
ANALYZE verifications;
SQL
psql "$DATABASE_URL" -Atc "SELECT id FROM verifications ORDER BY random() LIMIT 20000" > "$work/ids.txt"

$bin serve >/dev/null 2>"$work/server.log" &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

cat > "$work/generate.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["X-SDK-Key"] = os.getenv("KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"extra_data":{"reference_id":"bench"}}'
LUA
cat > "$work/details.lua" <<LUA
local ids = {}
for line in io.lines("$work/ids.txt") do ids[#ids + 1] = line end
wrk.headers["X-SDK-Key"] = os.getenv("KEY")
request = function()
  return wrk.format("GET", "/api/get-verification-details/" .. ids[math.random(#ids)])
end
LUA

# pgbench: the same statements the server sends, from the same number of clients.
cat > "$work/insert.sql" <<SQL
INSERT INTO verifications (id, key_id, status, flow, modules, progress, results, extra_data,
    return_url, created_at, updated_at, expires_at)
VALUES ('ver_' || md5(random()::text || clock_timestamp()::text), '$KEY_ID', 'created',
    '["terms","document","liveness","form_data"]', '{}',
    '{"document":"pending","liveness":"pending","form_data":"pending"}', '{}',
    '{"reference_id":"bench"}', NULL, now(), now(), now() + interval '1 day');
SQL
cat > "$work/select.sql" <<SQL
\set n random(1, $ROWS)
SELECT id, key_id, status, flow::text, modules::text, progress::text, results::text,
    extra_data::text, return_url, created_at, updated_at, expires_at
FROM verifications WHERE id = 'ver_' || md5(:n::text);
SQL

wrk_run() { # path script
  local out="$work/wrk.out"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$2" \
    "http://127.0.0.1:$PORT/api/${1}" > "$out"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  echo "$rps $p50 $p99 ${non2xx:-0}"
}
pgbench_run() { # script
  pgbench -n -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION" -f "$1" "$DATABASE_URL" \
    2>/dev/null > "$work/pgbench.out"
  local tps lat
  tps=$(awk '/^tps/ {print $3}' "$work/pgbench.out")
  lat=$(awk '/latency average/ {print $4}' "$work/pgbench.out")
  echo "$tps ${lat}ms"
}

read -r g_rps g_p50 g_p99 g_err < <(wrk_run generate-verification "$work/generate.lua")
read -r d_rps d_p50 d_p99 d_err < <(wrk_run get-verification-details/x "$work/details.lua")
read -r i_tps i_lat < <(pgbench_run "$work/insert.sql")
read -r s_tps s_lat < <(pgbench_run "$work/select.sql")

ratio() { python3 -c "print(f'{100*float($1)/float($2):.0f}%')"; }
cat <<OUT
machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); Postgres $(psql "$PG/postgres" -Atc 'show server_version')
load: ${CONNECTIONS} connections, ${THREADS} threads, ${DURATION}s each; server pool ${V2CLIENT_DB_MAX_CONNECTIONS}

| work | v2client req/s | p50 | p99 | errors | pgbench tps | pgbench avg latency | ratio |
|---|---|---|---|---|---|---|---|
| create (generate vs INSERT) | $g_rps | $g_p50 | $g_p99 | $g_err | $i_tps | $i_lat | $(ratio "$g_rps" "$i_tps") |
| read (details vs SELECT) | $d_rps | $d_p50 | $d_p99 | $d_err | $s_tps | $s_lat | $(ratio "$d_rps" "$s_tps") |
OUT
