#!/usr/bin/env bash
# Bulwark throughput/latency benchmark.
#
# Measures, on this machine and against a throwaway PostgreSQL cluster:
#   (a) nginx returning a static JSON body               (HTTP ceiling)
#   (b) bulwark GET /healthz                              (our HTTP stack)
#   (c) bulwark GET /v1/vendors/{id} with a bearer token  (auth + RLS transaction + one read)
#   (d) pgbench running the vendor SELECT alone           (DB ceiling for c)
#   (e) pgbench running token lookup, BEGIN, set_config,
#       vendor SELECT, COMMIT                             (DB work of c)
#   (f) bulwark GET /v1/assessments/{id}/score for a fully answered assessment
#       of the shipped questionnaire                      (info)
#   (g) scoring-bench: the scoring engine alone, no I/O   (target: well under 1 ms)
# and prints the ratios we hold ourselves to. pgbench connects as the role the
# server uses (bulwark_app), so row-level security applies to it too.
# See bench/README.md.
#
# Environment:
#   DURATION=10s     length of each measurement (wrk syntax: 30, 30s, 2m, 1h)
#   WARMUP=2         seconds of discarded load before each measurement (0 = none)
#   SKIP_BUILD=1     do not run `swift build -c release --product bulwark|scoring-bench`
#   STRICT=1         exit 1 when a target is missed (default: report only)
#   KEEP_BENCH_PG=1  keep the throwaway cluster directory after the run
#   BULWARK_BIN=...  server binary (default: .build/release/bulwark)
#   SCORING_BENCH_BIN=...  engine benchmark (default: .build/release/scoring-bench)
#   PG_BIN=...       PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
STATE_DIR="$ROOT/.bulwark"
RAW_DIR="$STATE_DIR/bench-raw"
REPORT="$STATE_DIR/bench-latest.md"
SERVER_LOG="$STATE_DIR/bench-server.log"
BIN=${BULWARK_BIN:-$ROOT/.build/release/bulwark}
SCORING_BENCH=${SCORING_BENCH_BIN:-$ROOT/.build/release/scoring-bench}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=bulwark_bench
CONNS=32
THREADS=2
# The role `bulwark serve` SETs on every pooled connection (created by the
# migrations, granted to the migrating user). pgbench connects as it too.
APP_ROLE=bulwark_app

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- arguments --

to_seconds() {
    local d=$1 n
    case $d in
        *h) n=${d%h}; n=$((n * 3600)) ;;
        *m) n=${d%m}; n=$((n * 60)) ;;
        *s) n=${d%s} ;;
        *) n=$d ;;
    esac
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || return 1
    echo "$n"
}
DUR_S=$(to_seconds "${DURATION:-10s}") || die "DURATION must look like 10, 10s, 2m or 1h (got '${DURATION:-}')"
WARMUP=${WARMUP:-2}
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds"

for tool in wrk nginx pgbench psql curl python3; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
if [[ ! -x $PG_BIN/initdb ]] && command -v pg_config >/dev/null; then
    PG_BIN=$(pg_config --bindir)
fi
[[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] || die "no initdb/pg_ctl in $PG_BIN (set PG_BIN)"

source "$ROOT/bench/throwaway-pg.sh"

# ------------------------------------------------------------------ cleanup --

SERVER_PID="" NGX_DIR=""

cleanup() {
    local rc=$?
    set +e
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [[ -n $NGX_DIR && -s $NGX_DIR/nginx.pid ]]; then
        local npid
        npid=$(cat "$NGX_DIR/nginx.pid")
        kill -QUIT "$npid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$npid" 2>/dev/null
    fi
    [[ -n $NGX_DIR ]] && rm -rf "$NGX_DIR"
    pg_throwaway_remove fast "$STATE_DIR/bench-postgres.log" "${KEEP_BENCH_PG:-0}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -------------------------------------------------------------------- build --

cd "$ROOT"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "swift build -c release --product bulwark"
    swift build -c release --product bulwark
    log "swift build -c release --product scoring-bench"
    swift build -c release --product scoring-bench
fi
[[ -x $BIN ]] || die "no server binary at $BIN (build it, or unset SKIP_BUILD)"
for b in "$BIN" "$SCORING_BENCH"; do
    if [[ -x $b ]] && [[ -n $(find "$ROOT/Sources" "$BENCH_DIR/scoring-bench" -type f -newer "$b" -print -quit 2>/dev/null) ]]; then
        log "warning: $b is older than the sources; it may not be what you mean to measure"
    fi
done

mkdir -p "$STATE_DIR" "$RAW_DIR"
rm -f "$RAW_DIR"/*.txt "$RAW_DIR"/*.json "$RAW_DIR"/*.sql

# ------------------------------------------- (g) scoring engine, no I/O --
# Runs first, while nothing else (PostgreSQL, server, load generators) is busy.

ENGINE_LINE="" ENGINE_US="" ENGINE_NOTE=""
if [[ -x $SCORING_BENCH ]]; then
    log "measuring: scoring engine ($SCORING_BENCH)"
    if "$SCORING_BENCH" >"$RAW_DIR/scoring-bench.txt" 2>&1; then
        ENGINE_LINE=$(grep -m1 '^scoring engine:' "$RAW_DIR/scoring-bench.txt" || true)
        ENGINE_US=$(printf '%s\n' "$ENGINE_LINE" | sed -nE 's/.*median ([0-9.]+) .*/\1/p')
        [[ -n $ENGINE_US ]] || ENGINE_NOTE="could not parse the output (see $RAW_DIR/scoring-bench.txt)"
    else
        ENGINE_NOTE="scoring-bench failed (see $RAW_DIR/scoring-bench.txt)"
    fi
else
    ENGINE_NOTE="no binary at $SCORING_BENCH (build it: swift build -c release --product scoring-bench)"
fi

# --------------------------------------------------------------- postgresql --

# Default durability on purpose (fsync, synchronous_commit, full_page_writes
# untouched): the comparison is only honest if PostgreSQL does its real work.
pg_throwaway_start "$STATE_DIR/bench-pg" bench "shared_buffers = 256MB" "max_connections = 200"

PSQL_BASE=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
"${PSQL_BASE[@]}" -d postgres -c "CREATE DATABASE $DB_NAME"
PSQL=("${PSQL_BASE[@]}" -d "$DB_NAME")

export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
export BULWARK_HOME="$ROOT"

# ------------------------------------------------------ schema, token, data --

log "bulwark migrate"
"$BIN" migrate
# seed: demo vendor, the resilience-v1 catalog and the published default
# questionnaire "Vendor Resilience Assessment" (used by measurement f).
log "bulwark seed"
"$BIN" seed >"$RAW_DIR/seed.txt" 2>&1 || { cat "$RAW_DIR/seed.txt" >&2; die "bulwark seed failed"; }

log "bulwark token create"
TOKEN_OUT=$("$BIN" token create --role admin --name bench)
# The command should print only the token; if it ever prints more, use the
# last non-empty line.
TOKEN=$(printf '%s\n' "$TOKEN_OUT" | awk 'NF { t = $0 } END { print t }' | tr -d '[:space:]')
[[ -n $TOKEN ]] || die "'bulwark token create' printed no token"

log "loading 10000 vendors"
"${PSQL[@]}" -c "INSERT INTO vendors (name, tier, status) SELECT 'Bench Vendor ' || g, (ARRAY['critical','high','medium','low'])[1 + g % 4], 'active' FROM generate_series(1, 10000) g;"
"${PSQL[@]}" -c "ANALYZE"
# A bench vendor, not the seeded demo vendor (which sorts first and has contacts).
VENDOR_ID=$("${PSQL[@]}" -Atc "SELECT id FROM vendors WHERE name LIKE 'Bench Vendor %' ORDER BY name LIMIT 1")
[[ -n $VENDOR_ID ]] || die "no vendor id"
# The admin token's id and user, for the guard statement in auth_and_vendor.sql.
TOKEN_IDS=$("${PSQL[@]}" -Atc "SELECT t.id || ' ' || t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
    WHERE u.role = 'admin' AND t.revoked_at IS NULL ORDER BY t.created_at DESC LIMIT 1" 2>"$RAW_DIR/token.err") || TOKEN_IDS=""
log "vendor id $VENDOR_ID"

# ------------------------------------------------------------------- server --

SRV_PORT=$(free_port) || die "no free TCP port for bulwark"
SRV="http://127.0.0.1:$SRV_PORT"
log "bulwark serve on 127.0.0.1:$SRV_PORT (log: $SERVER_LOG)"
# The per-token rate limit (default 50 req/s, burst 100) would turn almost every
# wrk request with the admin token into a 429; lift it for the whole run.
BULWARK_LISTEN="127.0.0.1:$SRV_PORT" BULWARK_THREADS=16 BULWARK_DB_POOL=16 BULWARK_LOG_LEVEL=warn \
    BULWARK_DB_ROLE="$APP_ROLE" BULWARK_RATE_LIMIT=1000000 BULWARK_RATE_BURST=1000000 \
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$SERVER_LOG" >&2; die "bulwark serve exited"; }
    if [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$SRV/healthz" || true) == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ $ready -eq 1 ]] || { tail -n 30 "$SERVER_LOG" >&2; die "GET /healthz did not answer 200 within 30s"; }

# -------------------------------------------------------------------- nginx --

NGX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench-nginx.XXXXXX")
NGX_PORT=$(free_port) || die "no free TCP port for nginx"
NGX_USER=""
[[ $(id -u) -eq 0 ]] && NGX_USER="user root;"
cat >"$NGX_DIR/nginx.conf" <<EOF
$NGX_USER
worker_processes 2;
pid $NGX_DIR/nginx.pid;
error_log $NGX_DIR/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX_DIR/client_body;
    proxy_temp_path $NGX_DIR/proxy;
    fastcgi_temp_path $NGX_DIR/fastcgi;
    uwsgi_temp_path $NGX_DIR/uwsgi;
    scgi_temp_path $NGX_DIR/scgi;
    default_type application/json;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # lift that so the baseline is not slowed by reconnects.
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / { return 200 '{"status":"ok"}'; }
    }
}
EOF
NGINX=(nginx -e "$NGX_DIR/error.log" -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf")
"${NGINX[@]}" -t -q || die "nginx config test failed"
"${NGINX[@]}"
ready=0
for _ in $(seq 1 50); do
    if [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$NGX_PORT/" || true) == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ $ready -eq 1 ]] || { cat "$NGX_DIR/error.log" >&2; die "nginx did not answer"; }
log "nginx on 127.0.0.1:$NGX_PORT"

# ------------------------------------------------------------- measurements --

declare -A LABEL TOOLDESC RPS AVG P99 NOTE
KEYS=()
FAILED=0

# Converts a wrk duration such as 812.34us, 1.20ms, 2.00s to milliseconds.
AWK_MS='function ms(v,  n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
    else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000;
    return sprintf("%.3f", n) }'

parse_wrk() { # key file
    local key=$1 f=$2 non2xx sockerr
    RPS[$key]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
    AVG[$key]=$(awk "$AWK_MS"' $1 == "Latency" && NF >= 5 { print ms($2) }' "$f")
    P99[$key]=$(awk "$AWK_MS"' $1 == "99%" { print ms($2) }' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    sockerr=$(awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); print }' "$f")
    if [[ -n $non2xx ]]; then
        NOTE[$key]+="$non2xx non-2xx responses; "
        FAILED=1
    fi
    [[ -n $sockerr ]] && NOTE[$key]+="socket errors: $sockerr; "
    if [[ -z ${RPS[$key]} ]]; then
        NOTE[$key]+="could not parse wrk output; "
        FAILED=1
    fi
    return 0
}

parse_pgbench() { # key file
    local key=$1 f=$2 failed
    RPS[$key]=$(awk '/^tps = .*without initial connection time/ { printf "%.0f", $3 }' "$f")
    AVG[$key]=$(awk '/^latency average = / { printf "%.3f", $4 }' "$f")
    P99[$key]=""
    failed=$(awk '/^number of failed transactions:/ { print $5 }' "$f")
    if [[ -n $failed && $failed != 0 ]]; then
        NOTE[$key]+="$failed failed transactions; "
        FAILED=1
    fi
    if [[ -z ${RPS[$key]} ]]; then
        NOTE[$key]+="could not parse pgbench output; "
        FAILED=1
    fi
    return 0
}

bench_wrk() { # key label url [wrk options...]
    local key=$1 label=$2 url=$3 out="$RAW_DIR/$1.txt"
    shift 3
    KEYS+=("$key")
    LABEL[$key]=$label
    TOOLDESC[$key]="wrk -t$THREADS -c$CONNS"
    log "measuring: $label (${DUR_S}s)"
    if ((WARMUP > 0)); then
        wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null 2>&1 || true
    fi
    # --timeout: wrk's default (2s) silently leaves slower requests out of the
    # latency figures; with 30s they count (a slow route shows a high p99).
    if ! wrk -t"$THREADS" -c"$CONNS" -d"${DUR_S}s" --timeout 30s --latency "$@" "$url" >"$out" 2>&1; then
        NOTE[$key]+="wrk failed (see $out); "
        FAILED=1
        return 0
    fi
    parse_wrk "$key" "$out"
}

bench_pgbench() { # key label script pgoptions [pgbench options...]
    local key=$1 label=$2 script=$3 pgopts=$4 out="$RAW_DIR/$1.txt"
    shift 4
    KEYS+=("$key")
    LABEL[$key]=$label
    TOOLDESC[$key]="pgbench -c$CONNS -j$THREADS as $APP_ROLE"
    log "measuring: $label (${DUR_S}s, PGOPTIONS='$pgopts')"
    # Sanity check: every SELECT must return exactly one row. pgbench does not
    # look at results, so a WHERE that matches nothing (or a row hidden by
    # row-level security) would otherwise benchmark an empty lookup. \gset
    # makes pgbench fail on 0 or >1 rows. BEGIN/COMMIT return no rows, so they
    # stay in the check file unchanged (the transaction-local scope needs them).
    local check="$RAW_DIR/$key.check.sql"
    # \gset is not allowed inside a pipeline: the check runs a pipeline as one BEGIN … COMMIT instead.
    sed -E -e '/^[[:space:]]*[Ss][Ee][Ll][Ee][Cc][Tt][[:space:]]/s/;[[:space:]]*$/ \\gset chk_/' \
        -e 's/^\\startpipeline[[:space:]]*$/BEGIN;/' -e 's/^\\endpipeline[[:space:]]*$/COMMIT;/' "$script" >"$check"
    grep -q 'gset chk_' "$check" || { NOTE[$key]+="no SELECT in $script; "; FAILED=1; return 0; }
    if ! PGOPTIONS=$pgopts pgbench -n -M prepared -c 1 -t 1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -f "$check" \
        "$@" "$DB_NAME" >"$RAW_DIR/$key.check.txt" 2>&1; then
        NOTE[$key]+="a SELECT errored or did not return exactly one row (see $RAW_DIR/$key.check.txt); "
        FAILED=1
        return 0
    fi
    local cmd=(env "PGOPTIONS=$pgopts" pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -h 127.0.0.1 -p "$PG_PORT"
        -U postgres -f "$script" "$@")
    if ((WARMUP > 0)); then
        "${cmd[@]}" -T "$WARMUP" "$DB_NAME" >/dev/null 2>&1 || true
    fi
    if ! "${cmd[@]}" -T "$DUR_S" "$DB_NAME" >"$out" 2>&1; then
        NOTE[$key]+="pgbench failed (see $out); "
        FAILED=1
        return 0
    fi
    parse_pgbench "$key" "$out"
}

AUTH_HEADER="Authorization: Bearer $TOKEN"

# api METHOD PATH [BODY-FILE]: calls the API as the admin token; the response
# body goes to $RAW_DIR/api.json, the status code to stdout.
api() {
    local args=(-s -o "$RAW_DIR/api.json" -w '%{http_code}' -m 30 -X "$1" -H "$AUTH_HEADER")
    [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data-binary "@$3")
    curl "${args[@]}" "$SRV$2" || true
}
# json_get EXPR: evaluates a Python expression over the JSON in $RAW_DIR/api.json (bound to d).
json_get() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$RAW_DIR/api.json" "$1"; }

# (f) setup: an assessment of the published default questionnaire for
# VENDOR_ID, every non-evidence question answered. Created before the
# measurements, so (c), (d) and (e) all read a vendor with one open assessment.
ASSESSMENT_ID="" SETUP_F_ERR=""
setup_score() {
    local code qid due
    code=$(api GET "/v1/questionnaires?status=published")
    [[ $code == 200 ]] || { SETUP_F_ERR="GET /v1/questionnaires?status=published answered $code"; return 1; }
    qid=$(json_get 'next((q["id"] for q in d["items"] if q.get("name") == "Vendor Resilience Assessment"), d["items"][0]["id"] if d["items"] else "")' 2>/dev/null) || qid=""
    [[ -n $qid ]] || { SETUP_F_ERR="no published questionnaire (did 'bulwark seed' publish it?)"; return 1; }

    code=$(api GET "/v1/questionnaires/$qid")
    [[ $code == 200 ]] || { SETUP_F_ERR="GET /v1/questionnaires/$qid answered $code"; return 1; }
    cp "$RAW_DIR/api.json" "$RAW_DIR/score-questionnaire.json"
    # The answers: yes_no "yes"; single_choice the best-scoring option;
    # multi_choice every option scoring > 0; number the bound of the first
    # threshold scoring 1, clamped to the range; text "bench"; date a fixed
    # date; evidence questions skipped (there is no evidence in this database).
    python3 - "$RAW_DIR/score-questionnaire.json" >"$RAW_DIR/score-answers.json" <<'PY' \
        || { SETUP_F_ERR="could not build the answers from the questionnaire"; return 1; }
import json, sys

q = json.load(open(sys.argv[1]))
content = q.get("content", q)
questions = [x for s in content.get("sections", []) for x in s.get("questions", [])] + content.get("questions", [])
answers = {}
for x in questions:
    t = x["type"]
    if t == "yes_no":
        v = "yes"
    elif t == "single_choice":
        v = max(x["options"], key=lambda o: o.get("score") or 0)["value"]
    elif t == "multi_choice":
        v = [o["value"] for o in x["options"] if (o.get("score") or 0) > 0] or [x["options"][0]["value"]]
    elif t == "number":
        thresholds = (x.get("scoring") or {}).get("thresholds") or []
        best = next((th for th in thresholds if th.get("score") == 1), thresholds[0] if thresholds else {})
        v = best.get("lte", best.get("gte", 0))
        r = x.get("range") or {}
        if r.get("min") is not None:
            v = max(v, r["min"])
        if r.get("max") is not None:
            v = min(v, r["max"])
    elif t == "text":
        v = "bench"
    elif t == "date":
        v = "2026-06-30"
    else:  # evidence: answered by evidence_ids only, and no evidence exists here
        continue
    answers[x["key"]] = {"value": v}
if not answers:
    sys.exit("no answerable questions found")
print(json.dumps({"answers": answers}))
PY

    due=$(date -u -d '+30 days' +%F)
    printf '{"vendor_id": "%s", "questionnaire_id": "%s", "due_date": "%s"}\n' "$VENDOR_ID" "$qid" "$due" \
        >"$RAW_DIR/score-create.json"
    code=$(api POST /v1/assessments "$RAW_DIR/score-create.json")
    [[ $code == 201 ]] || { SETUP_F_ERR="POST /v1/assessments answered $code: $(head -c 300 "$RAW_DIR/api.json")"; return 1; }
    ASSESSMENT_ID=$(json_get 'd["id"]')

    code=$(api PATCH "/v1/assessments/$ASSESSMENT_ID/answers" "$RAW_DIR/score-answers.json")
    [[ $code == 200 ]] || { SETUP_F_ERR="PATCH /v1/assessments/$ASSESSMENT_ID/answers answered $code: $(head -c 300 "$RAW_DIR/api.json")"; return 1; }
    SCORE_ANSWERS=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["answers"]))' "$RAW_DIR/score-answers.json")
    SCORE_QUESTIONS=$(python3 -c 'import json, sys; q = json.load(open(sys.argv[1])); c = q.get("content", q); print(sum(len(s.get("questions", [])) for s in c.get("sections", [])))' "$RAW_DIR/score-questionnaire.json")

    code=$(api GET "/v1/assessments/$ASSESSMENT_ID/score")
    [[ $code == 200 ]] || { SETUP_F_ERR="GET /v1/assessments/$ASSESSMENT_ID/score answered $code: $(head -c 300 "$RAW_DIR/api.json")"; return 1; }
    cp "$RAW_DIR/api.json" "$RAW_DIR/score-probe.json"
    return 0
}
SCORE_ANSWERS="" SCORE_QUESTIONS=""
if setup_score; then
    log "assessment $ASSESSMENT_ID: $SCORE_ANSWERS of $SCORE_QUESTIONS questions answered (evidence skipped)"
else
    log "warning: could not set up measurement (f): $SETUP_F_ERR"
fi

code=$(curl -s -o "$RAW_DIR/vendor-probe.txt" -w '%{http_code}' -H "$AUTH_HEADER" "$SRV/v1/vendors/$VENDOR_ID" || true)
if [[ $code != 200 ]]; then
    log "warning: GET /v1/vendors/$VENDOR_ID answered $code before the run: $(head -c 300 "$RAW_DIR/vendor-probe.txt")"
fi

# pgbench runs as the server's role, so row-level security applies. Before
# measuring, make sure it does: as $APP_ROLE and without a scope, no vendor is
# visible. (vendor_by_id.sql alone gets a session-wide scope instead of the
# per-transaction set_config that the server and auth_and_vendor.sql use.)
PG_APP_OPTS="-c role=$APP_ROLE"
RLS_NOTE=""
rls=$(PGOPTIONS=$PG_APP_OPTS "${PSQL[@]}" -Atc "SELECT current_user || ' ' || (SELECT count(*) FROM vendors)" \
    2>"$RAW_DIR/rls-check.err") || rls="error: $(head -c 200 "$RAW_DIR/rls-check.err" | tr '\n' ' ')"
if [[ $rls != "$APP_ROLE 0" ]]; then
    RLS_NOTE="PGOPTIONS='$PG_APP_OPTS' did not give $APP_ROLE under row-level security (got: $rls); "
    log "warning: $RLS_NOTE"
    FAILED=1
fi

bench_wrk nginx "nginx GET / (static)" "http://127.0.0.1:$NGX_PORT/"
bench_wrk healthz "bulwark GET /healthz" "$SRV/healthz"
bench_wrk vendor "bulwark GET /v1/vendors/{id} (bearer)" "$SRV/v1/vendors/$VENDOR_ID" -H "$AUTH_HEADER"
bench_pgbench pg_single "pgbench vendor_by_id.sql" "$BENCH_DIR/vendor_by_id.sql" \
    "$PG_APP_OPTS -c bulwark.scope=all" -D "id=$VENDOR_ID"
NOTE[pg_single]+=$RLS_NOTE
if [[ -n $TOKEN_IDS ]]; then
    bench_pgbench pg_auth "pgbench auth_and_vendor.sql" "$BENCH_DIR/auth_and_vendor.sql" \
        "$PG_APP_OPTS" -D "id=$VENDOR_ID" -D "tid=${TOKEN_IDS% *}" -D "uid=${TOKEN_IDS#* }"
    NOTE[pg_auth]+=$RLS_NOTE
else
    KEYS+=(pg_auth)
    LABEL[pg_auth]="pgbench auth_and_vendor.sql"
    TOOLDESC[pg_auth]="pgbench -c$CONNS -j$THREADS as $APP_ROLE"
    NOTE[pg_auth]="skipped: no admin token ($(head -c 200 "$RAW_DIR/token.err" | tr '\n' ' ')); "
    FAILED=1
fi
if [[ -n $ASSESSMENT_ID && -z $SETUP_F_ERR ]]; then
    bench_wrk score "bulwark GET /v1/assessments/{id}/score" "$SRV/v1/assessments/$ASSESSMENT_ID/score" \
        -H "$AUTH_HEADER"
    NOTE[score]+="$SCORE_ANSWERS of $SCORE_QUESTIONS questions answered, evidence skipped; "
else
    KEYS+=(score)
    LABEL[score]="bulwark GET /v1/assessments/{id}/score"
    TOOLDESC[score]="wrk -t$THREADS -c$CONNS"
    NOTE[score]="skipped: $SETUP_F_ERR; "
    FAILED=1
fi

# ------------------------------------------------------------------- report --

ratio() { # numerator denominator
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
verdict() { # value op threshold   (op: ge | lt)
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "n/a" || v == "") { print "n/a"; exit }
        ok = (op == "ge") ? (v + 0 >= t + 0) : (v + 0 < t + 0)
        print ok ? "PASS" : "MISS" }'
}

R_HEALTH=$(ratio "${RPS[healthz]:-}" "${RPS[nginx]:-}")
R_VENDOR=$(ratio "${RPS[vendor]:-}" "${RPS[pg_single]:-}")
R_AUTH=$(ratio "${RPS[vendor]:-}" "${RPS[pg_auth]:-}")
P99_VENDOR=${P99[vendor]:-}
[[ -n $P99_VENDOR ]] || P99_VENDOR="n/a"
V_HEALTH=$(verdict "$R_HEALTH" ge 0.6)
V_VENDOR=$(verdict "$R_VENDOR" ge 0.5)
V_P99=$(verdict "$P99_VENDOR" lt 10)
RPS_SCORE=${RPS[score]:-n/a}
P99_SCORE=${P99[score]:-}
[[ -n $P99_SCORE ]] || P99_SCORE="n/a"
[[ -n $ENGINE_US ]] || ENGINE_US="n/a"
V_ENGINE=$(verdict "$ENGINE_US" lt 1000)
[[ -n $ENGINE_NOTE ]] && FAILED=1

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && COMMIT+="+dirty"
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
HOST_DESC="$(nproc) CPUs${CPU:+ ($CPU)}, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }')"

{
    echo "# Bulwark benchmark"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Commit: $COMMIT"
    echo "- Host: $HOST_DESC"
    echo "- Each measurement: ${DUR_S}s after ${WARMUP}s warm-up, $CONNS connections, $THREADS client threads;" \
        "server: BULWARK_THREADS=16, BULWARK_DB_POOL=16, role $APP_ROLE, rate limit lifted;" \
        "pgbench as $APP_ROLE (row-level security on); 10000 vendors; default PostgreSQL durability"
    echo
    echo "| Measurement | Tool | Req/s (tps) | Avg latency ms | p99 ms | Notes |"
    echo "|---|---|---:|---:|---:|---|"
    for k in "${KEYS[@]}"; do
        note=${NOTE[$k]:-}
        note=${note%; }
        printf '| %s | %s | %s | %s | %s | %s |\n' "${LABEL[$k]}" "${TOOLDESC[$k]}" \
            "${RPS[$k]:-n/a}" "${AVG[$k]:-n/a}" "${P99[$k]:--}" "$note"
    done
    echo
    echo "| Ratio | Value | Target | Result |"
    echo "|---|---:|---:|---|"
    echo "| healthz / nginx | $R_HEALTH | ≥ 0.60 | $V_HEALTH |"
    echo "| vendor by id / pgbench single select | $R_VENDOR | ≥ 0.50 | $V_VENDOR |"
    echo "| vendor by id / pgbench auth + select | $R_AUTH | (info) | - |"
    echo "| vendor by id p99 (ms) | $P99_VENDOR | < 10 | $V_P99 |"
    echo "| score endpoint req/s | $RPS_SCORE | (info) | - |"
    echo "| score endpoint p99 (ms) | $P99_SCORE | (info) | - |"
    echo "| scoring engine median µs per score | $ENGINE_US | < 1000 | $V_ENGINE |"
    echo
    echo "Scoring engine alone (\`scoring-bench\`, target: well under 1 ms = 1000 µs):"
    echo
    if [[ -n $ENGINE_LINE ]]; then
        echo "    $ENGINE_LINE"
    fi
    [[ -n $ENGINE_NOTE ]] && echo "    (not measured: $ENGINE_NOTE)"
    true
} >"$REPORT"

echo
cat "$REPORT"
echo
log "report written to $REPORT; raw tool output in $RAW_DIR"

if [[ $FAILED -ne 0 ]]; then
    log "some measurements failed or saw errors (see Notes above)"
    exit 1
fi
if [[ ${STRICT:-0} == 1 ]] && [[ $V_HEALTH == MISS || $V_VENDOR == MISS || $V_P99 == MISS || $V_ENGINE == MISS ]]; then
    log "STRICT=1 and a target was missed"
    exit 1
fi
