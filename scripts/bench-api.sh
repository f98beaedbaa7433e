#!/usr/bin/env bash
# Load benchmark of the operator API on Postgres, beside two floors doing the same database
# work on the same database and table, in the same run:
#   - the bare service (crates/floor: axum + sqlx, no auth, no middleware) answering the
#     same routes with exactly the same SQL; v2client's rate as a fraction of its rate is
#     the number that says what v2client's own request path costs;
#   - pgbench sending the statements alone:
#     generate-verification  vs  one INSERT INTO verifications (same columns)
#     get-verification-details vs one SELECT of a verification by id
#     verifications (the list) vs one SELECT of the newest page
# Then each route again at half of v2client's peak rate, open loop (crates/floor's
# v2client-load: requests due at a fixed rate whatever the server does, latency counted from
# when each was due), on v2client and on the floor, for the latency at a sustainable rate.
# Everything runs on this machine over loopback; each load runs for DURATION seconds.
#
# Usage: scripts/bench-api.sh            (DURATION=20 CONNECTIONS=32 THREADS=2 to change;
#        PROFILE=1 also samples v2client with perf during each of its runs and writes the
#        40 hottest functions to target/profile-<route>.txt)
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
FLOOR_PORT=${BENCH_FLOOR_PORT:-18097}
ROWS=100000
work=$(mktemp -d)
server= floor=
trap 'kill $server $floor 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v pgbench >/dev/null || apt-get install -y -qq postgresql-client >/dev/null

cargo build --release --locked -q
cargo build --release --locked -q -p v2client-floor
load=target/release/v2client-load
bin=target/release/v2client

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
# Every client connects without TLS: on loopback it protects nothing, and the floor is built
# without a TLS stack, so with Postgres's `ssl = on` (Debian's default) and the clients'
# default `sslmode=prefer`, v2client and pgbench would encrypt every round trip and the floor
# would not. BENCH_SSLMODE=prefer measures v2client as a deployment with TLS would run it.
export DATABASE_URL="$PG/$DB?sslmode=${BENCH_SSLMODE:-disable}"
export V2CLIENT_LOG=${V2CLIENT_LOG:-warn} V2CLIENT_BIND=127.0.0.1:$PORT V2CLIENT_DATA_DIR="$work"
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
FLOOR_BIND=127.0.0.1:$FLOOR_PORT FLOOR_KEY_ID=$KEY_ID FLOOR_POOL=$V2CLIENT_DB_MAX_CONNECTIONS \
  target/release/v2client-floor &
floor=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$FLOOR_PORT/api/verifications" >/dev/null && break; sleep 0.2; done

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
cat > "$work/list.sql" <<SQL
SELECT id, key_id, status, flow::text, modules::text, progress::text, results::text,
    extra_data::text, return_url, portal::text, version, created_at, updated_at, expires_at
FROM verifications WHERE key_id IN ('$KEY_ID') ORDER BY created_at DESC, id DESC LIMIT 21;
SQL

wrk_run() { # base path script
  local out="$work/wrk.out" perf=
  if [ -n "${PROFILE:-}" ] && [ "$1" = "$PORT" ]; then
    # Sample v2client's own CPU (every thread) for the middle of the run.
    perf record -q -F 499 -g -p "$server" -o "$work/perf.data" -- sleep $((DURATION / 2)) \
      >/dev/null 2>&1 &
    perf=$!
  fi
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" \
    "http://127.0.0.1:${1}/api/${2}" > "$out"
  if [ -n "$perf" ]; then
    wait "$perf" || true
    perf report -i "$work/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null \
      | grep -v '^#' | grep '%' | head -40 > "target/profile-${2%%/*}.txt" || true
    echo "profile of ${2%%/*}: target/profile-${2%%/*}.txt" >&2
  fi
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

cat > "$work/list.lua" <<'LUA'
wrk.headers["X-SDK-Key"] = os.getenv("KEY")
local seen = false
response = function(status, headers, body)
  if status ~= 200 and not seen then seen = true; io.stderr:write(status .. " " .. body .. "\n") end
end
LUA

read -r g_rps g_p50 g_p99 g_err < <(wrk_run "$PORT" generate-verification "$work/generate.lua")
read -r fg_rps fg_p50 fg_p99 fg_err < <(wrk_run "$FLOOR_PORT" generate-verification "$work/generate.lua")
read -r d_rps d_p50 d_p99 d_err < <(wrk_run "$PORT" get-verification-details/x "$work/details.lua")
read -r fd_rps fd_p50 fd_p99 fd_err < <(wrk_run "$FLOOR_PORT" get-verification-details/x "$work/details.lua")
read -r l_rps l_p50 l_p99 l_err < <(wrk_run "$PORT" verifications "$work/list.lua")
read -r fl_rps fl_p50 fl_p99 fl_err < <(wrk_run "$FLOOR_PORT" verifications "$work/list.lua")
# Half of v2client's peak, open loop, on both services: "sent rate p50 p90 p99 p99.9 max
# non-2xx errors" (milliseconds).
half() { python3 -c "print(max(1, round(float($1) / 2)))"; }
# Each measured run follows a VACUUM ANALYZE of the table and a CHECKPOINT (the peak runs
# inserted hundreds of thousands of rows: an autovacuum, or a checkpoint forced by the WAL
# they wrote, landing in one service's run and not the other's decides its tail; both were
# seen to add 100 ms to 1 s to a p99) and a 3-second warm-up at the same rate, whose numbers
# are dropped.
load_run() { # port path rate [extra args]
  local port=$1 path=$2 rate=$3
  shift 3
  psql "$DATABASE_URL" -qc "VACUUM ANALYZE verifications" -c "CHECKPOINT" >/dev/null
  for seconds in 3 "$DURATION"; do
    "$load" --url "http://127.0.0.1:${port}/api/${path}" --header "X-SDK-Key: $KEY" \
      --rate "$rate" --duration "$seconds" --connections "$CONNECTIONS" "$@"
  done | tail -1
}
gen_args=(--method POST --body '{"extra_data":{"reference_id":"bench"}}')
g_half=$(half "$g_rps"); d_half=$(half "$d_rps"); l_half=$(half "$l_rps")
read -r _ hg_rate hg_p50 _ hg_p99 hg_p999 hg_max hg_bad hg_err \
  < <(load_run "$PORT" generate-verification "$g_half" "${gen_args[@]}")
read -r _ fhg_rate fhg_p50 _ fhg_p99 fhg_p999 fhg_max _ _ \
  < <(load_run "$FLOOR_PORT" generate-verification "$g_half" "${gen_args[@]}")
read -r _ hd_rate hd_p50 _ hd_p99 hd_p999 hd_max hd_bad hd_err \
  < <(load_run "$PORT" get-verification-details/ "$d_half" --ids "$work/ids.txt")
read -r _ fhd_rate fhd_p50 _ fhd_p99 fhd_p999 fhd_max _ _ \
  < <(load_run "$FLOOR_PORT" get-verification-details/ "$d_half" --ids "$work/ids.txt")
read -r _ hl_rate hl_p50 _ hl_p99 hl_p999 hl_max hl_bad hl_err \
  < <(load_run "$PORT" verifications "$l_half")
read -r _ fhl_rate fhl_p50 _ fhl_p99 fhl_p999 fhl_max _ _ \
  < <(load_run "$FLOOR_PORT" verifications "$l_half")

read -r i_tps i_lat < <(pgbench_run "$work/insert.sql")
read -r s_tps s_lat < <(pgbench_run "$work/select.sql")
read -r ls_tps ls_lat < <(pgbench_run "$work/list.sql")

ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
cat <<OUT
machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); Postgres $(psql "$PG/postgres" -Atc 'show server_version')
load: ${CONNECTIONS} connections, ${THREADS} threads, ${DURATION}s each; server pools ${V2CLIENT_DB_MAX_CONNECTIONS}

| route | v2client req/s | p50 | p99 | errors | floor req/s | p50 | p99 | ratio to floor | pgbench tps |
|---|---|---|---|---|---|---|---|---|---|
| create (generate) | $g_rps | $g_p50 | $g_p99 | $g_err | $fg_rps | $fg_p50 | $fg_p99 | $(ratio "$g_rps" "$fg_rps") | $i_tps |
| read (details) | $d_rps | $d_p50 | $d_p99 | $d_err | $fd_rps | $fd_p50 | $fd_p99 | $(ratio "$d_rps" "$fd_rps") | $s_tps |
| list (newest 20) | $l_rps | $l_p50 | $l_p99 | $l_err | $fl_rps | $fl_p50 | $fl_p99 | $(ratio "$l_rps" "$fl_rps") | $ls_tps |

At half of v2client's peak rate, open loop (latency from when each request was due; ms):

| route | rate asked | v2client achieved | p50 | p99 | p99.9 | max | errors | floor p50 | p99 | p99.9 | max |
|---|---|---|---|---|---|---|---|---|---|---|---|
| create (generate) | $g_half | $hg_rate | $hg_p50 | $hg_p99 | $hg_p999 | $hg_max | $((hg_bad + hg_err)) | $fhg_p50 | $fhg_p99 | $fhg_p999 | $fhg_max |
| read (details) | $d_half | $hd_rate | $hd_p50 | $hd_p99 | $hd_p999 | $hd_max | $((hd_bad + hd_err)) | $fhd_p50 | $fhd_p99 | $fhd_p999 | $fhd_max |
| list (newest 20) | $l_half | $hl_rate | $hl_p50 | $hl_p99 | $hl_p999 | $hl_max | $((hl_bad + hl_err)) | $fhl_p50 | $fhl_p99 | $fhl_p999 | $fhl_max |
OUT
if [ "$g_err$d_err$l_err" != "000" ] || [ $((hg_bad + hg_err + hd_bad + hd_err + hl_bad + hl_err)) -ne 0 ]; then
  echo "v2client answered errors; the end of its log:" >&2
  grep -v "development blob key" "$work/server.log" | tail -5 >&2
fi
