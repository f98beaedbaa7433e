#!/usr/bin/env bash
# Latency of the verification list (`GET /api/verifications`) on Postgres with 100 000
# verifications for the calling key (and as many for another key), at every depth:
#   first    the newest page, 100 items
#   deep     a page starting at a random position among all 100 000 (a cursor taken at
#            that position), 100 items
#   status   a page of `status=needs_manual_review` (a tenth of the rows) at a random depth
#   range    `created_after`/`created_before` over a random month, 100 items
#   reference one `reference=…` lookup
# Each runs for DURATION seconds from CONNECTIONS connections (wrk); p50 and p99 are wrk's.
#
# Usage: scripts/bench-list.sh            (DURATION=15 CONNECTIONS=4 to change)
# Needs: wrk and psql (installed with apt-get when missing), a Postgres on 127.0.0.1:5432
# where `postgres` may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-4}
THREADS=${THREADS:-2}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=v2client_bench_list
PORT=${BENCH_PORT:-18098}
ROWS=100000
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v psql >/dev/null || apt-get install -y -qq postgresql-client >/dev/null

cargo build --release --locked -q
bin=target/release/v2client

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
export DATABASE_URL="$PG/$DB"
export V2CLIENT_LOG=warn V2CLIENT_BIND=127.0.0.1:$PORT V2CLIENT_DATA_DIR="$work"
export V2CLIENT_DB_MAX_CONNECTIONS=${V2CLIENT_DB_MAX_CONNECTIONS:-16}
$bin migrate >/dev/null
key_json=$($bin keys create --name bench --json)
KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$key_json")
KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$key_json")
OTHER_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' \
  "$($bin keys create --name other --json)")
export KEY

# Rows shaped like real ones: a year of creation times, one in ten waiting for review with
# its decision, the rest decided or expired; every one with a reference.
psql "$DATABASE_URL" -q >/dev/null <<SQL
INSERT INTO verifications (id, key_id, status, flow, modules, progress, results, extra_data,
    return_url, created_at, updated_at, expires_at, reference)
SELECT 'ver_' || md5(k || n::text), k,
       CASE WHEN n % 10 = 0 THEN 'needs_manual_review' WHEN n % 10 = 1 THEN 'expired'
            WHEN n % 10 = 2 THEN 'rejected' ELSE 'verified' END,
       '["terms","document","liveness","form_data"]', '{}',
       '{"document":"completed","liveness":"completed","form_data":"completed"}',
       CASE WHEN n % 10 = 0
            THEN '{"decision":{"status":"needs_manual_review","reasons":["FACE_MATCH_UNCERTAIN"]}}'
            ELSE '{"decision":{"status":"verified","reasons":[]}}' END::jsonb,
       jsonb_build_object('reference_id', 'ORDER-' || n, 'user_id', 'user-' || n),
       NULL, ts, ts + interval '5 minutes', ts + interval '1 day', 'ORDER-' || n
FROM (SELECT n, k, now() - (n * interval '315 seconds') AS ts
      FROM generate_series(1, $ROWS) AS n, (VALUES ('$KEY_ID'), ('$OTHER_ID')) AS keys(k)) s;
ANALYZE verifications;
SQL

# Cursors at random depths, made the way the server makes them: base64url of
# "<created_at in microseconds>.<id>".
cursors() { # extra WHERE
  psql "$DATABASE_URL" -Atc "SELECT (extract(epoch FROM created_at) * 1000000)::bigint || '.' || id
    FROM verifications WHERE key_id = '$KEY_ID' $1 ORDER BY random() LIMIT 2000" |
    python3 -c 'import base64,sys; [print(base64.urlsafe_b64encode(l.strip().encode()).decode().rstrip("=")) for l in sys.stdin]'
}
cursors "" > "$work/deep.txt"
cursors "AND status = 'needs_manual_review'" > "$work/status.txt"

$bin serve >/dev/null 2>"$work/server.log" &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

# A page at a random depth must be full and well-formed before anything is timed.
first=$(head -1 "$work/deep.txt")
curl -fs -H "X-SDK-Key: $KEY" "http://127.0.0.1:$PORT/api/verifications?limit=100&cursor=$first" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["verifications"]) > 0, d'

script() { # name, path template (%s: a line of the file), file
  cat > "$work/$1.lua" <<LUA
local lines = {}
for line in io.lines("$3") do lines[#lines + 1] = line end
if #lines == 0 then lines[1] = "" end
wrk.headers["X-SDK-Key"] = os.getenv("KEY")
request = function()
  return wrk.format("GET", string.format("$2", lines[math.random(#lines)]))
end
LUA
}
seq 1 100000 | shuf -n 2000 | sed 's/^/ORDER-/' > "$work/refs.txt"
python3 - "$work/months.txt" <<'PY'
import datetime, random, sys
now = datetime.datetime.now(datetime.timezone.utc)
with open(sys.argv[1], "w") as f:
    for _ in range(2000):
        start = now - datetime.timedelta(days=random.uniform(30, 360))
        end = start + datetime.timedelta(days=30)
        z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
        f.write(f"created_after={z(start)}&created_before={z(end)}\n")
PY
echo "" > "$work/none.txt"
script first "/api/verifications?limit=100%s" "$work/none.txt"
script deep "/api/verifications?limit=100&cursor=%s" "$work/deep.txt"
script status "/api/verifications?limit=100&status=needs_manual_review&cursor=%s" "$work/status.txt"
script range "/api/verifications?limit=100&%s" "$work/months.txt"
script reference "/api/verifications?reference=%s" "$work/refs.txt"

run() { # name
  local out="$work/wrk.out"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/$1.lua" \
    "http://127.0.0.1:$PORT/" > "$out"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  echo "| $1 | $rps | $p50 | $p99 | ${non2xx:-0} |"
}

cat <<OUT
machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); Postgres $(psql "$PG/postgres" -Atc 'show server_version')
rows: $ROWS for the calling key, $ROWS for another; load: ${CONNECTIONS} connections, ${THREADS} threads, ${DURATION}s each

| page | req/s | p50 | p99 | errors |
|---|---|---|---|---|
OUT
for name in first deep status range reference; do run "$name"; done
