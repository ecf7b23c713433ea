#!/usr/bin/env bash
# Bulwark outside-in resilience check ("chaos"). See bench/CHAOS.md.
#
# Against a throwaway PostgreSQL cluster and the already built release binary:
#   A. "PostgreSQL restarted mid-load": 16 clients send mixed reads and writes for DURATION seconds; at
#      ~5 s PostgreSQL is restarted (pg_ctl restart -m fast); at ~11 s it is stopped for ~3 s and started
#      again. Expected: no 5xx but 503, every 503 with Retry-After, the server alive throughout, /readyz
#      back to 200 within 10 s of the database returning, every 201 write really stored, no write answered
#      503 left behind in the database, a final round of requests all 2xx.
#   B. "the server killed mid-load": the same load for DURATION_B seconds; at ~4 s the server gets
#      kill -9 and is started again at once. Expected: no client ever sees a 500 (connection errors while
#      it is down are expected), it serves again, every 201 write stored, a final round all 2xx.
# Prints a table of checks and `chaos: N passed, M failed`; exits 1 when any check failed.
#
# Environment:
#   DURATION=20       seconds of load in scenario A (at least 16: the stop happens at ~11 s)
#   DURATION_B=12     seconds of load in scenario B (at least 8)
#   CLIENTS=16        concurrent clients
#   KEEP_CHAOS_PG=1   keep the throwaway cluster directory after the run
#   BULWARK_BIN=...   server binary (default: .build/release/bulwark; never built here)
#   PG_BIN=...        PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)
# Logs (kept after the run): .bulwark/chaos/ (server stderr per process, PostgreSQL log, load results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR="$ROOT/.bulwark"
OUT_DIR="$STATE_DIR/chaos"
BIN=${BULWARK_BIN:-$ROOT/.build/release/bulwark}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=bulwark_chaos
APP_ROLE=bulwark_app
DURATION=${DURATION:-20}
DURATION_B=${DURATION_B:-12}
CLIENTS=${CLIENTS:-16}

log() { printf '[chaos %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 16 && $DURATION -le 240 ]] || die "DURATION must be 16..240 seconds"
[[ $DURATION_B =~ ^[0-9]+$ && $DURATION_B -ge 8 && $DURATION_B -le 240 ]] || die "DURATION_B must be 8..240 seconds"
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -ge 1 && $CLIENTS -le 64 ]] || die "CLIENTS must be 1..64"
for tool in psql curl python3; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
[[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] || die "no initdb/pg_ctl in $PG_BIN (set PG_BIN)"
[[ -x $BIN ]] || die "no server binary at $BIN (build it first: swift build -c release --product bulwark)"

source "$ROOT/bench/throwaway-pg.sh"

# ------------------------------------------------------------------ cleanup --

SERVER_PID="" LOAD_PID=""

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    return 0
}

cleanup() {
    local rc=$?
    set +e
    if [[ -n $LOAD_PID ]] && kill -0 "$LOAD_PID" 2>/dev/null; then
        kill -TERM "$LOAD_PID" 2>/dev/null
        wait "$LOAD_PID" 2>/dev/null
    fi
    stop_server
    pg_throwaway_remove immediate "$OUT_DIR/postgres.log" "${KEEP_CHAOS_PG:-0}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$ROOT"
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.log "$OUT_DIR"/*.json "$OUT_DIR"/*.txt "$OUT_DIR"/*.tsv

# --------------------------------------------------------------- postgresql --

pg_throwaway_start "$STATE_DIR/chaos-pg" chaos "max_connections = 100"

PSQL_BASE=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
"${PSQL_BASE[@]}" -d postgres -c "CREATE DATABASE $DB_NAME"
PSQL=("${PSQL_BASE[@]}" -d "$DB_NAME")

export DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
export BULWARK_HOME="$ROOT"

log "bulwark migrate / seed / token create"
"$BIN" migrate >"$OUT_DIR/migrate.txt" 2>&1 || { cat "$OUT_DIR/migrate.txt" >&2; die "bulwark migrate failed"; }
"$BIN" seed >"$OUT_DIR/seed.txt" 2>&1 || { cat "$OUT_DIR/seed.txt" >&2; die "bulwark seed failed"; }
TOKEN=$("$BIN" token create --role admin --name chaos | awk 'NF { t = $0 } END { print t }' | tr -d '[:space:]')
[[ -n $TOKEN ]] || die "'bulwark token create' printed no token"

# ------------------------------------------------------------------- server --

SRV_PORT=$(free_port) || die "no free TCP port for bulwark"
SRV="http://127.0.0.1:$SRV_PORT"
SERVER_N=0
SERVER_LOG=""

start_server() {
    SERVER_N=$((SERVER_N + 1))
    SERVER_LOG="$OUT_DIR/server-$SERVER_N.log"
    BULWARK_SERVICE_DATABASE_URL="postgresql://$APP_ROLE@127.0.0.1:$PG_PORT/$DB_NAME" \
        BULWARK_LISTEN="127.0.0.1:$SRV_PORT" BULWARK_LOG_LEVEL=warn \
        BULWARK_RATE_LIMIT=1000000 BULWARK_RATE_BURST=1000000 \
        "$BIN" serve >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    log "bulwark serve #$SERVER_N (pid $SERVER_PID) on 127.0.0.1:$SRV_PORT, log $SERVER_LOG"
}

# wait_ready SECONDS: 0 when /readyz answers 200 within SECONDS (prints the seconds it took).
wait_ready() {
    local limit=$1 t0 now
    t0=$(date +%s.%N)
    while :; do
        if [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$SRV/readyz" || true) == 200 ]]; then
            now=$(date +%s.%N)
            awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f\n", b - a }'
            return 0
        fi
        now=$(date +%s.%N)
        if awk -v a="$t0" -v b="$now" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f\n", b - a }'
            return 1
        fi
        sleep 0.1
    done
}

start_server
wait_ready 30 >/dev/null || { tail -n 30 "$SERVER_LOG" >&2; die "/readyz did not answer 200 within 30 s"; }

# ---------------------------------------------------------- the load client --

LOAD_PY="$PG_TMP/load.py"
cat >"$LOAD_PY" <<'PY'
"""Chaos load client and checks: standard library only, 127.0.0.1 targets only."""
import http.client
import json
import random
import sys
import threading
import time

TIMEOUT = 10.0  # seconds per request; a request that takes longer is counted as a timeout (a hang)


def request(port, method, path, token, body=None):
    """One request on a fresh connection. Returns (status or None, retry_after or None, error or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    headers = {"Authorization": "Bearer " + token, "Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Retry-After"), None
    except TimeoutError:
        return None, None, "timeout"
    except OSError as e:  # refused, reset, broken pipe, ...
        return None, None, type(e).__name__
    except http.client.HTTPException as e:  # RemoteDisconnected, BadStatusLine, ...
        return None, None, type(e).__name__
    finally:
        conn.close()


def load(args):
    port, token, duration, clients, prefix, ids_file, out = (
        int(args[0]), args[1], float(args[2]), int(args[3]), args[4], args[5], args[6])
    ids = [l.strip() for l in open(ids_file) if l.strip()]
    lock = threading.Lock()
    start = time.monotonic()
    wall0 = time.time()
    res = {"start_wall": wall0, "requests": 0, "status": {}, "by_route": {}, "errors": {},
           "no_retry_after": 0, "bad_5xx": [], "writes": [], "per_second": {}, "max_latency": 0.0}

    def record(route, status, retry_after, err, name, t0, t1):
        key = str(status) if status is not None else "error:" + err
        sec = str(int(t0 - start))
        with lock:
            res["requests"] += 1
            res["max_latency"] = max(res["max_latency"], t1 - t0)
            res["status"][key] = res["status"].get(key, 0) + 1
            r = res["by_route"].setdefault(route, {})
            r[key] = r.get(key, 0) + 1
            ps = res["per_second"].setdefault(sec, {})
            ps[key] = ps.get(key, 0) + 1
            if status is None:
                res["errors"][err] = res["errors"].get(err, 0) + 1
            if status == 503 and not retry_after:
                res["no_retry_after"] += 1
            if status is not None and status >= 500 and status != 503:
                res["bad_5xx"].append({"t": round(t0 - start, 3), "route": route, "status": status})
            if name is not None:
                res["writes"].append([name, key, round(t0 - start, 3)])

    def worker(n):
        rnd = random.Random(n)
        i = 0
        while time.monotonic() - start < duration:
            x = rnd.random()
            name = None
            t0 = time.monotonic()
            if x < 0.5:
                route = "GET /v1/vendors/{id}"
                st = request(port, "GET", "/v1/vendors/" + rnd.choice(ids), token)
            elif x < 0.75:
                route = "GET /v1/vendors?limit=5"
                st = request(port, "GET", "/v1/vendors?limit=5", token)
            else:
                route = "POST /v1/vendors"
                i += 1
                name = "%s-c%02d-%05d" % (prefix, n, i)
                st = request(port, "POST", "/v1/vendors", token, {"name": name, "tier": "low"})
            record(route, st[0], st[1], st[2], name, t0, time.monotonic())

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["elapsed"] = round(time.monotonic() - start, 3)
    json.dump(res, open(out, "w"), indent=1)


def final(args):
    """A round of requests after the chaos: every one must be 2xx."""
    port, token, prefix, ids_file, out = int(args[0]), args[1], args[2], args[3], args[4]
    ids = [l.strip() for l in open(ids_file) if l.strip()]
    bad = []
    n = 0
    for k in range(10):
        for method, path, body in (
            ("GET", "/healthz", None),
            ("GET", "/readyz", None),
            ("GET", "/v1/vendors?limit=5", None),
            ("GET", "/v1/vendors/" + ids[k % len(ids)], None),
            ("POST", "/v1/vendors", {"name": "%s-final-%02d" % (prefix, k), "tier": "low"}),
        ):
            status, _, err = request(port, method, path, token, body)
            n += 1
            if status is None or not 200 <= status < 300:
                bad.append("%s %s -> %s" % (method, path, status if status is not None else err))
    json.dump({"requests": n, "bad": bad}, open(out, "w"), indent=1)


def verify(args):
    """Compares the writes the load sent with the rows in the database (names, one a line, in db_file)."""
    res_file, db_file, out = args
    res = json.load(open(res_file))
    rows = {}
    for l in open(db_file):
        l = l.rstrip("\n")
        if l:
            rows[l] = rows.get(l, 0) + 1
    v = {"created": 0, "created_missing": [], "duplicates": [k for k, c in rows.items() if c > 1],
         "unavail": 0, "unavail_stored": [], "errors": 0, "errors_stored": 0, "other": {}, "other_stored": []}
    for name, key, t in res["writes"]:
        stored = rows.get(name, 0) > 0
        if key == "201":
            v["created"] += 1
            if not stored:
                v["created_missing"].append([name, t])
        elif key == "503":
            v["unavail"] += 1
            if stored:
                v["unavail_stored"].append([name, t])
        elif key.startswith("error:"):
            v["errors"] += 1
            v["errors_stored"] += stored
        else:
            v["other"][key] = v["other"].get(key, 0) + 1
            if stored:
                v["other_stored"].append([name, key, t])
    sent = {w[0] for w in res["writes"]}
    v["unknown_rows"] = [k for k in rows if k not in sent]
    json.dump(v, open(out, "w"), indent=1)


def field(args):
    """Prints one value from a JSON file: field FILE EXPR (EXPR over d)."""
    d = json.load(open(args[0]))
    print(eval(args[1], {"d": d}))


def timeline(args):
    """Statuses per second of load, with the chaos events (wall-clock times in events_file)."""
    res = json.load(open(args[0]))
    events = {}
    for l in open(args[1]):
        if l.strip():
            t, what = l.split(" ", 1)
            events.setdefault(str(int(float(t) - res["start_wall"])), []).append(what.strip())
    secs = sorted({int(s) for s in res["per_second"]} | {int(s) for s in events if int(s) >= 0})
    for s in secs:
        st = res["per_second"].get(str(s), {})
        print("  t=%3ds  %-60s %s" % (s, " ".join("%s:%d" % kv for kv in sorted(st.items())),
                                     "<- " + "; ".join(events.get(str(s), [])) if str(s) in events else ""))


def logkinds(args):
    """The most frequent `error` fields in the server logs (JSON lines), numbers masked."""
    import re
    kinds = {}
    for f in args:
        for l in open(f, errors="replace"):
            try:
                e = json.loads(l).get("error")
            except ValueError:
                continue
            if e:
                k = re.sub(r"[0-9]+", "N", e.split("\n")[0])[:110]
                kinds[k] = kinds.get(k, 0) + 1
    print("; ".join("%dx %s" % (n, k) for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]) or "none")


{"logkinds": logkinds, "load": load, "final": final, "verify": verify, "field": field, "timeline": timeline}[sys.argv[1]](sys.argv[2:])
PY

jf() { python3 "$LOAD_PY" field "$@"; }

# ------------------------------------------------------------------- checks --

CHECK_NAMES=() CHECK_RESULTS=() CHECK_DETAILS=()
check() { # name ok(0/1) detail
    CHECK_NAMES+=("$1")
    if [[ $2 == 1 ]]; then CHECK_RESULTS+=(PASS); else CHECK_RESULTS+=(FAIL); fi
    CHECK_DETAILS+=("$3")
    log "$( [[ $2 == 1 ]] && echo PASS || echo FAIL ): $1 — $3"
}
INFO=()

# ---------------------------------------------------------- initial vendors --

RUN_ID="chaos-$(date +%s)-$$"
IDS_FILE="$PG_TMP/ids.txt"
: >"$IDS_FILE"
for k in 1 2 3 4 5; do
    id=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "{\"name\": \"$RUN_ID-seed-$k\", \"tier\": \"low\"}" "$SRV/v1/vendors" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))' || true)
    [[ -n $id ]] || die "could not create vendor $k through the API"
    echo "$id" >>"$IDS_FILE"
done
log "created 5 vendors; load prefix $RUN_ID"

EVENTS="$OUT_DIR/events.txt"
: >"$EVENTS"
event() { echo "$(date +%s.%N) $*" >>"$EVENTS"; log "event: $*"; }

# sleep_until LOAD_START SECONDS: sleeps until SECONDS after LOAD_START (a date +%s.%N value).
sleep_until() {
    local d
    d=$(awk -v s="$1" -v o="$2" -v n="$(date +%s.%N)" 'BEGIN { d = s + o - n; printf "%.3f", (d > 0 ? d : 0) }')
    sleep "$d"
}

db_names() { # prefix file: every vendor name with that prefix, one a line (as the owner: no row-level security)
    "${PSQL[@]}" -Atc "SELECT name FROM vendors WHERE name LIKE '$1-%'" >"$2"
}

# The checks every scenario makes of its load, and its final round of requests, which must all be 2xx.
status_checks() { # scenario result-file
    local total bad nora
    total=$(jf "$2" 'd["requests"]')
    bad=$(jf "$2" 'sum(v for k, v in d["status"].items() if k[0] == "5" and k != "503")')
    nora=$(jf "$2" 'd["no_retry_after"]')
    check "$1: no client saw a 500 (no 5xx but 503)" "$([[ $bad == 0 ]] && echo 1 || echo 0)" \
        "$total requests; statuses $(jf "$2" 'd["status"]')"
    check "$1: every 503 carries Retry-After" "$([[ $nora == 0 ]] && echo 1 || echo 0)" "$nora without it"
}
final_round() { # scenario run-id
    local out="$OUT_DIR/final-${1,,}.json" bad
    python3 "$LOAD_PY" final "$SRV_PORT" "$TOKEN" "$2" "$IDS_FILE" "$out"
    bad=$(jf "$out" 'len(d["bad"])')
    check "$1: final round all 2xx" "$([[ $bad == 0 ]] && echo 1 || echo 0)" \
        "$(jf "$out" 'd["requests"]') requests, $bad not 2xx $(jf "$out" 'd["bad"][:3] or ""')"
}

# verify_writes LABEL RESULTS PREFIX: the write checks of one scenario.
verify_writes() {
    local label=$1 res=$2 prefix=$3 v="$OUT_DIR/verify-$1.json"
    db_names "$prefix" "$OUT_DIR/db-names-$label.txt"
    python3 "$LOAD_PY" verify "$res" "$OUT_DIR/db-names-$label.txt" "$v"
    local created missing dups unavail ustored errs estored other ostored
    created=$(jf "$v" 'd["created"]')
    missing=$(jf "$v" 'len(d["created_missing"])')
    dups=$(jf "$v" 'len(d["duplicates"])')
    unavail=$(jf "$v" 'd["unavail"]')
    ustored=$(jf "$v" 'len(d["unavail_stored"])')
    errs=$(jf "$v" 'd["errors"]')
    estored=$(jf "$v" 'd["errors_stored"]')
    other=$(jf "$v" 'd["other"]')
    ostored=$(jf "$v" 'len(d["other_stored"])')
    check "$label: every 201 write is in the database" "$([[ $missing == 0 && $created -gt 0 ]] && echo 1 || echo 0)" \
        "$created writes answered 201, $missing of them missing"
    check "$label: no duplicated write" "$([[ $dups == 0 ]] && echo 1 || echo 0)" "$dups names stored more than once"
    check "$label: no write answered 503 left a row" "$([[ $ustored == 0 ]] && echo 1 || echo 0)" \
        "$unavail writes answered 503, $ustored of them stored anyway"
    INFO+=("$label: writes with no response (connection error/timeout): $errs, of which stored: $estored (in doubt: the client cannot know)")
    INFO+=("$label: writes answered other statuses: $other, of which stored: $ostored")
    [[ $ustored == 0 ]] || INFO+=("$label: writes answered 503 but stored (name, seconds into the load): $(jf "$v" 'd["unavail_stored"][:5]')")
    [[ $missing == 0 ]] || INFO+=("$label: writes answered 201 but missing (name, seconds into the load): $(jf "$v" 'd["created_missing"][:5]')")
}

# ============================================================== scenario A ==

log "scenario A: PostgreSQL restarted mid-load (${DURATION}s, $CLIENTS clients)"
RES_A="$OUT_DIR/load-a.json"
SERVER_A_PID=$SERVER_PID
LOAD_START=$(date +%s.%N)
python3 "$LOAD_PY" load "$SRV_PORT" "$TOKEN" "$DURATION" "$CLIENTS" "$RUN_ID-a" "$IDS_FILE" "$RES_A" &
LOAD_PID=$!
event "load A started"

sleep_until "$LOAD_START" 5
event "pg_ctl restart -m fast"
pgctl restart -m fast || die "pg_ctl restart failed"
event "PostgreSQL back (restart done)"
READY_1=$(wait_ready 10) && R1=1 || R1=0
event "/readyz 200 after restart (${READY_1}s)"
check "A: /readyz 200 within 10 s after the restart" "$R1" "took ${READY_1}s"

sleep_until "$LOAD_START" 11
event "pg_ctl stop -m fast"
pgctl stop -m fast || die "pg_ctl stop failed"
sleep 1.5
READYZ_DOWN=$(curl -s -o /dev/null -D "$OUT_DIR/readyz-down.txt" -m 5 -w '%{http_code}' "$SRV/readyz" || true)
RA_DOWN=$(awk 'tolower($1) == "retry-after:" { print $2 }' "$OUT_DIR/readyz-down.txt" | tr -d '\r')
event "/readyz while PostgreSQL is down: $READYZ_DOWN (Retry-After: ${RA_DOWN:-none})"
check "A: /readyz answers 503 with Retry-After while the database is down" \
    "$([[ $READYZ_DOWN == 503 && -n $RA_DOWN ]] && echo 1 || echo 0)" "got $READYZ_DOWN, Retry-After: ${RA_DOWN:-none}"
sleep 1.5
pgctl start || { tail -n 30 "$PG_TMP/postgres.log" >&2; die "PostgreSQL did not start again"; }
event "PostgreSQL started again"
READY_2=$(wait_ready 10) && R2=1 || R2=0
event "/readyz 200 after the stop (${READY_2}s)"
check "A: /readyz 200 within 10 s after the database returns" "$R2" "took ${READY_2}s"

wait "$LOAD_PID" || die "the load client failed (scenario A)"
LOAD_PID=""
event "load A finished"

ALIVE=0
kill -0 "$SERVER_A_PID" 2>/dev/null && ALIVE=1
check "A: server process still alive (same pid)" "$ALIVE" "pid $SERVER_A_PID"
status_checks A "$RES_A"
N503_A=$(jf "$RES_A" 'd["status"].get("503", 0)')
ERR_A=$(jf "$RES_A" 'sum(d["errors"].values())')
TMO_A=$(jf "$RES_A" 'd["errors"].get("timeout", 0)')
check "A: clients saw 503 while the database was away" "$([[ $N503_A -gt 0 ]] && echo 1 || echo 0)" "$N503_A answers 503"
check "A: no connection errors or timeouts (no crash, no hang)" "$([[ $ERR_A == 0 ]] && echo 1 || echo 0)" \
    "$ERR_A errors ($TMO_A timeouts of 10 s); slowest answer $(jf "$RES_A" 'round(d["max_latency"], 2)')s"
final_round A "$RUN_ID-a"
verify_writes A "$RES_A" "$RUN_ID-a"
python3 "$LOAD_PY" timeline "$RES_A" "$EVENTS" >"$OUT_DIR/timeline-a.txt"

# ============================================================== scenario B ==

log "scenario B: the server killed mid-load (${DURATION_B}s, $CLIENTS clients)"
: >"$EVENTS.b"
EVENTS_A="$EVENTS"
EVENTS="$EVENTS.b"
RES_B="$OUT_DIR/load-b.json"
LOAD_START=$(date +%s.%N)
python3 "$LOAD_PY" load "$SRV_PORT" "$TOKEN" "$DURATION_B" "$CLIENTS" "$RUN_ID-b" "$IDS_FILE" "$RES_B" &
LOAD_PID=$!
event "load B started"
sleep_until "$LOAD_START" 4
KILLED_PID=$SERVER_PID
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
event "kill -9 server (pid $KILLED_PID)"
start_server
READY_B=$(wait_ready 10) && RB=1 || RB=0
event "/readyz 200 after the restart of the server (${READY_B}s)"
check "B: restarted server ready within 10 s" "$RB" "took ${READY_B}s"

wait "$LOAD_PID" || die "the load client failed (scenario B)"
LOAD_PID=""
event "load B finished"

ALIVE=0
kill -0 "$SERVER_PID" 2>/dev/null && ALIVE=1
check "B: restarted server still alive at the end" "$ALIVE" "pid $SERVER_PID"
status_checks B "$RES_B"
final_round B "$RUN_ID-b"
verify_writes B "$RES_B" "$RUN_ID-b"
python3 "$LOAD_PY" timeline "$RES_B" "$EVENTS" >"$OUT_DIR/timeline-b.txt"
EVENTS="$EVENTS_A"

# Server stderr (JSON lines): a 500 is logged at level error; a crash prints lines that are not JSON.
SRV_LINES=$(cat "$OUT_DIR"/server-*.log | wc -l)
SRV_ERRS=$(cat "$OUT_DIR"/server-*.log | grep -c '"level":"error"' || true)
SRV_RAW=$(cat "$OUT_DIR"/server-*.log | grep -vc '^{' || true)
check "server stderr: no error-level or non-JSON (crash) lines" "$([[ $SRV_ERRS == 0 && $SRV_RAW == 0 ]] && echo 1 || echo 0)" \
    "$SRV_LINES lines from $SERVER_N process(es): $SRV_ERRS at level error, $SRV_RAW not JSON; levels $(cat "$OUT_DIR"/server-*.log | grep -o '"level":"[a-z]*"' | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? ", " : ""), substr($2, 10, length($2) - 10), $1 }')"
SRV_KINDS=$(python3 "$LOAD_PY" logkinds "$OUT_DIR"/server-*.log)
INFO+=("server log, most frequent errors: ${SRV_KINDS:-none}")
INFO+=("A: connection errors by kind: $(jf "$RES_A" 'd["errors"] or "none"'); B: $(jf "$RES_B" 'd["errors"] or "none"')")

# ------------------------------------------------------------------ summary --

PASSED=0 FAILED=0
for r in "${CHECK_RESULTS[@]}"; do [[ $r == PASS ]] && PASSED=$((PASSED + 1)) || FAILED=$((FAILED + 1)); done
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && COMMIT+="+dirty"
{
    echo "# Bulwark chaos run"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $COMMIT; binary $BIN"
    echo "- PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }'); A: ${DURATION}s load, B: ${DURATION_B}s load; $CLIENTS clients; request timeout 10s"
    echo
    echo "| # | Check | Result | Detail |"
    echo "|---|---|---|---|"
    for i in "${!CHECK_NAMES[@]}"; do
        printf '| %d | %s | %s | %s |\n' $((i + 1)) "${CHECK_NAMES[$i]}" "${CHECK_RESULTS[$i]}" \
            "$(printf '%s' "${CHECK_DETAILS[$i]}" | tr '|' '/')"
    done
    echo
    for line in "${INFO[@]}"; do echo "- $line"; done
    echo
    echo "Scenario A, statuses per second of load:"
    echo '```'
    cat "$OUT_DIR/timeline-a.txt"
    echo '```'
    echo "Scenario B, statuses per second of load:"
    echo '```'
    cat "$OUT_DIR/timeline-b.txt"
    echo '```'
} >"$OUT_DIR/summary.md"
echo
cat "$OUT_DIR/summary.md"
echo
echo "chaos: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
