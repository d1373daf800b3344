#!/usr/bin/env bash
# Runs `mcp-tasks bench` against mcp-tasks (memory, SQLite, PostgreSQL) and its peers (a bare
# hyper JSON server, the TypeScript SDK task server, the rmcp task server), one fresh server at a
# time, and prints the table of docs/benchmarks.md "Against other servers" with the issue's
# targets as ratios. See bench/README.md and docs/benchmarks.md.
#
#   bench/compare.sh [--clients N] [--duration D] [--warmup D] [--skip-postgres] [--no-build]
#                    [--rss-tasks N] [--idle N] [--ts-poll-interval MS] [--only REGEX]
#   bench/compare.sh --summary DIR      re-render DIR/summary.md from the JSON documents there
#
# Environment: MCP_TASKS_TEST_POSTGRES (the PostgreSQL server; a throw-away database is created
# on it per run and dropped), BENCH_CLIENTS, BENCH_DURATION, BENCH_WARMUP (defaults of the flags),
# BENCH_START_LIMIT (seconds a server may take to listen, 30).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

CLIENTS=${BENCH_CLIENTS:-64}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
START_LIMIT=${BENCH_START_LIMIT:-30}
PG_URL=${MCP_TASKS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
SKIP_PG=0
BUILD=1
RSS_TASKS=200000
IDLE=1000
# The TS SDK answers tasks/result, and a plain call of a task tool, by looking at the task every
# pollInterval: at server.mjs's default of 100 ms that interval, not the SDK, bounds those answers.
# 1 ms shows the SDK at its fastest.
TS_POLL=1
ONLY=
SUMMARY_ONLY=
COMMAND_LINE="bench/compare.sh $*"

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while (($#)); do
    case $1 in
        --clients) CLIENTS=${2:?--clients needs a number}; shift 2 ;;
        --duration) DURATION=${2:?--duration needs a duration, e.g. 10s}; shift 2 ;;
        --warmup) WARMUP=${2:?--warmup needs a duration, e.g. 3s}; shift 2 ;;
        --skip-postgres) SKIP_PG=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --rss-tasks) RSS_TASKS=${2:?--rss-tasks needs a number}; shift 2 ;;
        --idle) IDLE=${2:?--idle needs a number}; shift 2 ;;
        --ts-poll-interval) TS_POLL=${2:?--ts-poll-interval needs milliseconds}; shift 2 ;;
        --only) ONLY=${2:?--only needs a regular expression}; shift 2 ;;
        --summary) SUMMARY_ONLY=${2:?--summary needs a run directory}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "compare.sh: unknown argument $1" >&2; usage ;;
    esac
done

log() { printf 'compare.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Reading the bench's JSON documents: jq when installed, else python3.

if command -v jq >/dev/null 2>&1; then
    # jget FILE PATH: the value at a dotted PATH (.a.b), empty when missing or null.
    jget() { jq -r "$2 // empty" "$1" 2>/dev/null; }
    # jerrors FILE: the sum of the error counts of every kind.
    jerrors() { jq -r '[.errors // {} | .[]] | add // 0' "$1" 2>/dev/null; }
    # jrate FILE: successful operations per second of the measured window.
    jrate() { jq -r 'if (.duration_s // 0) > 0 then .ok / .duration_s else .ops_per_s // empty end' "$1" 2>/dev/null; }
else
    jget() {
        python3 - "$1" "$2" <<'PY'
import json, sys
try:
    value = json.load(open(sys.argv[1]))
    for key in [k for k in sys.argv[2].split('.') if k]:
        value = value.get(key) if isinstance(value, dict) else None
except (OSError, ValueError):
    value = None
print('' if value is None else value)
PY
    }
    jerrors() {
        python3 - "$1" <<'PY'
import json, sys
try:
    print(sum((json.load(open(sys.argv[1])).get('errors') or {}).values()))
except (OSError, ValueError, AttributeError):
    print('')
PY
    }
    jrate() {
        python3 - "$1" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
    secs = doc.get('duration_s') or 0
    rate = doc['ok'] / secs if secs > 0 else doc.get('ops_per_s')
except (OSError, ValueError, KeyError, TypeError):
    rate = None
print('' if rate is None else rate)
PY
    }
fi

# fmt VALUE DECIMALS: the number rounded, or n/a.
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "") print "n/a"; else printf("%." d "f\n", x) }'; }
# ratio A B: A/B, empty when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf("%.4f\n", a / b) }'; }
# verdict VALUE OP GOAL: met, not met, or n/a (OP is >= or <).
verdict() {
    awk -v x="$1" -v op="$2" -v g="$3" 'BEGIN {
        if (x == "") { print "n/a"; exit }
        ok = (op == ">=") ? (x + 0 >= g + 0) : (x + 0 < g + 0)
        print ok ? "met" : "not met"
    }'
}

# ---------------------------------------------------------------------------------------------
# The summary: one table of every run, then the issue's targets.

# ops NAME: the throughput of the run NAME of the run directory $RUN, counting only the operations
# that succeeded (a server answering errors fast must not look fast).
ops() { jrate "$RUN/$1.json"; }

summary() {
    local table="$RUN/summary.md"
    {
        cat "$RUN/header.md"
        echo
        echo "| run | server | mode | protocol | ok ops/s | p50 ms | p99 ms | server CPU µs/op | errors |"
        echo "|---|---|---|---|---|---|---|---|---|"
        local name label mode protocol file
        while IFS=$'\t' read -r name label mode protocol; do
            file="$RUN/$name.json"
            if [[ ! -s $file ]]; then
                echo "| $name | $label | $mode | $protocol | failed: see $name.bench.log | | | | |"
                continue
            fi
            echo "| $name | $label | $mode | $protocol | $(fmt "$(ops "$name")" 0)" \
                "| $(fmt "$(jget "$file" .latency_ms.p50)" 2)" \
                "| $(fmt "$(jget "$file" .latency_ms.p99)" 2)" \
                "| $(fmt "$(jget "$file" .server.cpu_us_per_op)" 1)" \
                "| $(jerrors "$file") |"
        done <"$RUN/runs.tsv"
        echo
        echo "| target | measured | goal | result |"
        echo "|---|---|---|---|"
        target "round trips (task mode), memory / TS SDK" "$(ratio "$(ops ours-memory-task)" "$(ops ts-task)")" ">=" 10 x
        target "round trips, SQLite / TS SDK" "$(ratio "$(ops ours-sqlite-task)" "$(ops ts-task)")" ">=" 8 x
        target "round trips, SQLite / memory" "$(ratio "$(ops ours-sqlite-task)" "$(ops ours-memory-task)")" ">=" 0.8
        target "round trips, PostgreSQL / TS SDK" "$(ratio "$(ops ours-postgres-task)" "$(ops ts-task)")" ">=" 4 x
        target "round trips, two PostgreSQL instances / one" "$(ratio "$(ops ours-postgres2-task)" "$(ops ours-postgres-task)")" ">=" 1.6 x
        target "tasks/get, memory / echo ceiling" "$(ratio "$(ops ours-memory-get)" "$(ops echo-get)")" ">=" 0.70
        target "tasks/get, SQLite / echo ceiling" "$(ratio "$(ops ours-sqlite-get)" "$(ops echo-get)")" ">=" 0.60
        target "tasks/get, PostgreSQL / echo ceiling" "$(ratio "$(ops ours-postgres-get)" "$(ops echo-get)")" ">=" 0.40
        target "plain call (echo), memory / rmcp, 2025-11-25" "$(ratio "$(ops ours-memory-call-echo-2025)" "$(ops rmcp-call-2025)")" ">=" 1.5 x
        target "plain call (echo), memory / rmcp, 2026-07-28" "$(ratio "$(ops ours-memory-call-echo-2026)" "$(ops rmcp-call-2026)")" ">=" 1.5 x
        local store
        for store in memory sqlite; do
            local base idle drop=
            base=$(ops "ours-$store-idle-base")
            idle=$(ops "ours-$store-idle-$IDLE_NAME")
            [[ -n $base && -n $idle ]] && drop=$(awk -v a="$idle" -v b="$base" 'BEGIN { if (b + 0 != 0) printf("%.4f\n", 1 - a / b) }')
            target "round trips' drop with $IDLE_NAME idle sessions and waiters, $store (1 - idle / plain)" "$drop" "<" 0.10 pct
        done
        local file="$RUN/ours-memory-rss-session.json" per_session=
        if [[ -s $file ]]; then
            per_session=$(awk -v s="$(jget "$file" .server.rss_kib.start)" -v a="$(jget "$file" .server.rss_kib.after_idle)" \
                -v n="$(jget "$file" .idle.sessions)" 'BEGIN { if (s != "" && a != "" && n + 0 > 0) printf("%.2f\n", (a - s) / n) }')
        fi
        echo "| RSS per idle session (a GET stream each), memory | $(fmt "$per_session" 2) KiB | (reported) | |"
        file="$RUN/ours-memory-rss-task.json"
        local per_task=
        if [[ -s $file ]]; then
            per_task=$(awk -v s="$(jget "$file" .server.rss_kib.start)" -v e="$(jget "$file" .server.rss_kib.end)" \
                -v n="$(jget "$file" .ops)" 'BEGIN { if (s != "" && e != "" && n + 0 > 0) printf("%.3f\n", (e - s) / n) }')
        fi
        target "RSS per stored finished task, memory" "$per_task" "<" 1 kib
    } >"$table"
    cat "$table"
}

# target WHAT VALUE OP GOAL [x|pct|kib]: one row of the targets table.
target() {
    local what=$1 value=$2 op=$3 goal=$4 unit=${5:-}
    local shown goal_shown
    case $unit in
        x) shown="$(fmt "$value" 2)x"; goal_shown="$op ${goal}x" ;;
        pct) shown=$(awk -v x="$value" 'BEGIN { if (x == "") print "n/a"; else printf("%.1f%%\n", x * 100) }')
             goal_shown="$op $(awk -v g="$goal" 'BEGIN { printf("%g%%\n", g * 100) }')" ;;
        kib) shown="$(fmt "$value" 3) KiB"; goal_shown="$op $goal KiB" ;;
        *) shown=$(fmt "$value" 2); goal_shown="$op $goal" ;;
    esac
    [[ -z $value ]] && shown=n/a
    echo "| $what | $shown | $goal_shown | $(verdict "$value" "$op" "$goal") |"
}

IDLE_NAME=$IDLE
if [[ -n $SUMMARY_ONLY ]]; then
    RUN=$SUMMARY_ONLY
    [[ -f $RUN/runs.tsv && -f $RUN/header.md ]] || die "$RUN has no runs.tsv and header.md of a compare.sh run"
    [[ -f $RUN/idle.txt ]] && IDLE_NAME=$(cat "$RUN/idle.txt")
    summary
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Checks and the build

REL=$ROOT/target/release
BENCH_BIN=$REL/mcp-tasks
ECHO_BIN=$REL/examples/bench_echo
RMCP_BIN=$REL/examples/rmcp_task_server
INTEROP=$ROOT/tests/interop

[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "--clients must be a positive number, not $CLIENTS"
[[ $RSS_TASKS =~ ^[1-9][0-9]*$ ]] || die "--rss-tasks must be a positive number, not $RSS_TASKS"
[[ $IDLE =~ ^[1-9][0-9]*$ ]] || die "--idle must be a positive number, not $IDLE"
[[ $TS_POLL =~ ^[1-9][0-9]*$ ]] || die "--ts-poll-interval must be a positive number of ms, not $TS_POLL"

# Every idle session holds a connection, so does every waiter, in the bench and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
NEEDED_FDS=$((2 * IDLE + CLIENTS + 256))
if [[ $NOFILE != unlimited ]] && ((NOFILE < NEEDED_FDS)); then
    die "the open-file limit is $NOFILE; the idle scenario needs about $NEEDED_FDS (raise ulimit -n, or pass a smaller --idle)"
fi

if ((BUILD)); then
    log "building (release): mcp-tasks, bench_echo, rmcp_task_server"
    cargo build --release -p mcp-tasks --bin mcp-tasks --example bench_echo --example rmcp_task_server \
        || die "the release build failed"
fi
for bin in "$BENCH_BIN" "$ECHO_BIN" "$RMCP_BIN"; do
    [[ -x $bin ]] || die "$bin is missing; run without --no-build"
done
"$BENCH_BIN" bench --help >/dev/null 2>&1 || die "$BENCH_BIN has no \`bench\` subcommand"

command -v node >/dev/null 2>&1 || die "the TypeScript SDK server needs Node.js 20 or later on PATH"
NODE_MAJOR=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
((NODE_MAJOR >= 20)) || die "Node.js $(node --version) is too old: the TypeScript SDK server needs 20 or later"
if [[ ! -f $INTEROP/node_modules/@modelcontextprotocol/sdk/package.json ]]; then
    log "installing tests/interop's pinned packages (npm ci)"
    (cd "$INTEROP" && npm ci --no-audit --no-fund) || die "npm ci in tests/interop failed"
fi

if ((!SKIP_PG)); then
    command -v psql >/dev/null 2>&1 || die "the PostgreSQL runs need psql on PATH (or pass --skip-postgres)"
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 5 -d "$PG_URL" \
            || die "PostgreSQL does not answer at $PG_URL (pg_isready); start it, set MCP_TASKS_TEST_POSTGRES, or pass --skip-postgres"
    fi
    psql "$PG_URL" -XAtqc 'select 1' >/dev/null \
        || die "cannot connect to PostgreSQL at $PG_URL; start it, set MCP_TASKS_TEST_POSTGRES, or pass --skip-postgres"
fi

# ---------------------------------------------------------------------------------------------
# The run directory and cleaning up

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$ROOT/target/bench-compare/$STAMP
mkdir -p "$RUN" || die "cannot create $RUN"
# SQLite files live on the same disk as target/ (not a tmpfs /tmp, where fsync would be free),
# and go when the script ends.
SCRATCH=$(mktemp -d "$RUN/scratch.XXXXXX") || die "cannot create a scratch directory in $RUN"
echo "$IDLE" >"$RUN/idle.txt"
: >"$RUN/runs.tsv"

declare -a SERVER_PIDS=()
declare -a PG_DBS=()
PG_SEQ=0
FAILED=0

# stop PID: SIGTERM, then SIGKILL after 10 s; reaped either way.
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "server $pid did not stop within 10 s of SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
}

stop_all() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        stop "$pid"
    done
    SERVER_PIDS=()
}

drop_db() {
    psql "$PG_URL" -XAtqc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 \
        || psql "$PG_URL" -XAtqc "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1 \
        || log "could not drop the database $1; drop it by hand"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_all
    local db
    for db in "${PG_DBS[@]}"; do
        drop_db "$db"
    done
    rm -rf "$SCRATCH"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A throw-away database; its URL (sslmode=disable: a benchmark measures no TLS) is in $DB_URL.
new_db() {
    local db="mcp_tasks_bench_${STAMP,,}_$$_$((++PG_SEQ))"
    psql "$PG_URL" -XAtqc "CREATE DATABASE $db" >/dev/null || die "cannot create the database $db"
    PG_DBS+=("$db")
    local base=${PG_URL%%\?*} query=
    [[ $PG_URL == *\?* ]] && query=${PG_URL#*\?}
    local authority=${base#*://}
    authority=${authority%%/*}
    DB_URL="${base%%://*}://$authority/$db?sslmode=disable"
    # Keep the caller's other parameters (user, password, options), not its sslmode.
    local param
    IFS='&' read -ra params <<<"$query"
    for param in "${params[@]}"; do
        [[ -n $param && $param != sslmode=* ]] && DB_URL+="&$param"
    done
    CURRENT_DB=$db
}

# start NAME CMD...: starts a server with its stdout in NAME.out and stderr in NAME.log, and waits
# (bounded) for its `listening on http://…/mcp` line; sets URL and PID.
start() {
    local name=$1
    shift
    "$@" >"$RUN/$name.out" 2>"$RUN/$name.log" </dev/null &
    PID=$!
    SERVER_PIDS+=("$PID")
    local deadline=$((SECONDS + START_LIMIT))
    URL=
    while ((SECONDS < deadline)); do
        URL=$(grep -ohE 'listening on http://[^[:space:]]+' "$RUN/$name.out" "$RUN/$name.log" 2>/dev/null | head -n1)
        URL=${URL#listening on }
        [[ -n $URL ]] && return 0
        if ! kill -0 "$PID" 2>/dev/null; then
            tail -n 20 "$RUN/$name.log" >&2 2>/dev/null
            die "the server $name ($*) exited before listening; its stderr is $RUN/$name.log"
        fi
        sleep 0.1
    done
    tail -n 20 "$RUN/$name.log" >&2 2>/dev/null
    die "the server $name ($*) did not say it listens within $START_LIMIT s; its stderr is $RUN/$name.log"
}

# The server's connection cap: all it may have (16384 at most), within the open-file limit.
MAX_CONNECTIONS=16384
if [[ $NOFILE != unlimited ]] && ((NOFILE - 256 < MAX_CONNECTIONS)); then
    MAX_CONNECTIONS=$((NOFILE - 256))
fi

# The limits that would refuse a benchmark's load, lifted: the bench is one client address with
# up to $IDLE idle sessions and as many waiters beside its $CLIENTS clients.
OURS_LIMITS=(
    --rate-limit unlimited
    --max-active-tasks unlimited
    --max-stored-result-bytes unlimited
    --max-sessions-per-client $((4 * (IDLE + CLIENTS)))
    --max-streams-per-client $((4 * (IDLE + CLIENTS)))
    --max-connections "$MAX_CONNECTIONS"
    --max-connections-per-client "$MAX_CONNECTIONS"
)

# start_kind KIND NAME: the server(s) of KIND; sets URLS and PIDS (bench arguments).
start_kind() {
    local kind=$1 name=$2
    URLS=()
    PIDS=()
    case $kind in
        echo) start "$name.server" "$ECHO_BIN" --http 127.0.0.1:0 ;;
        ts) start "$name.server" node "$INTEROP/server.mjs" --http 0 --poll-interval "$TS_POLL" ;;
        rmcp) start "$name.server" "$RMCP_BIN" --http 127.0.0.1:0 ;;
        memory) start "$name.server" "$BENCH_BIN" serve --http 127.0.0.1:0 --store memory "${OURS_LIMITS[@]}" ;;
        sqlite)
            mkdir -p "$SCRATCH/$name"
            start "$name.server" "$BENCH_BIN" serve --http 127.0.0.1:0 --store "sqlite:$SCRATCH/$name/tasks.sqlite3" "${OURS_LIMITS[@]}"
            ;;
        postgres | postgres2)
            new_db
            start "$name.server" "$BENCH_BIN" serve --http 127.0.0.1:0 --store "$DB_URL" "${OURS_LIMITS[@]}"
            if [[ $kind == postgres2 ]]; then
                URLS+=(--url "$URL")
                PIDS+=(--server-pid "$PID")
                start "$name.server2" "$BENCH_BIN" serve --http 127.0.0.1:0 --store "$DB_URL" "${OURS_LIMITS[@]}"
            fi
            ;;
        *) die "unknown server kind $kind" ;;
    esac
    URLS+=(--url "$URL")
    PIDS+=(--server-pid "$PID")
}

# run NAME LABEL KIND MODE PROTOCOL [bench arguments]: one bench run on fresh server(s).
PLANNED=0
DONE=0
DRY=1
run() {
    local name=$1 label=$2 kind=$3 mode=$4 protocol=$5
    shift 5
    [[ -n $ONLY && ! $name =~ $ONLY ]] && return 0
    if ((DRY)); then
        PLANNED=$((PLANNED + 1))
        return 0
    fi
    DONE=$((DONE + 1))
    log "[$DONE/$PLANNED] $name: $label, $mode, $protocol"
    start_kind "$kind" "$name"
    printf '%s\t%s\t%s\t%s\n' "$name" "$label" "$mode" "$protocol" >>"$RUN/runs.tsv"
    local timing=(--warmup "$WARMUP" --duration "$DURATION")
    # A run given its own --warmup / --duration / --count takes those instead.
    [[ " $* " == *" --count "* || " $* " == *" --duration "* ]] && timing=()
    if ! "$BENCH_BIN" bench "${URLS[@]}" "${PIDS[@]}" --protocol "$protocol" --mode "$mode" \
        --clients "$CLIENTS" "${timing[@]}" --json "$@" >"$RUN/$name.json" 2>"$RUN/$name.bench.log"; then
        FAILED=$((FAILED + 1))
        log "$name: the bench failed; see $RUN/$name.bench.log"
        tail -n 5 "$RUN/$name.bench.log" >&2
        rm -f "$RUN/$name.json"
    fi
    stop_all
    if [[ $kind == postgres* ]]; then
        drop_db "$CURRENT_DB"
    fi
    rm -rf "${SCRATCH:?}/$name"
}

# The plain calls compared with the TS SDK server use the tool it has, slow_echo with no delay.
TS_CALL=(--tool slow_echo --arguments '{"text":"bench","delay_ms":0}')
V25=2025-11-25
V26=2026-07-28

plan() {
    run echo-call "echo ceiling" echo call $V25 "${TS_CALL[@]}"
    run echo-task "echo ceiling" echo task $V25
    run echo-get "echo ceiling" echo get $V25

    run ts-call "TS SDK 1.32" ts call $V25 "${TS_CALL[@]}"
    run ts-task "TS SDK 1.32" ts task $V25
    run ts-get "TS SDK 1.32" ts get $V25

    run rmcp-call-2025 "rmcp 3.11" rmcp call $V25
    run rmcp-call-2026 "rmcp 3.11" rmcp call $V26

    local store label
    for store in memory sqlite postgres; do
        ((SKIP_PG)) && [[ $store == postgres ]] && continue
        case $store in
            memory) label="mcp-tasks, memory" ;;
            sqlite) label="mcp-tasks, SQLite (synchronous FULL)" ;;
            postgres) label="mcp-tasks, PostgreSQL" ;;
        esac
        run "ours-$store-call" "$label" "$store" call $V25 "${TS_CALL[@]}"
        run "ours-$store-task" "$label" "$store" task $V25
        run "ours-$store-get" "$label" "$store" get $V25
    done
    # Against rmcp, its tool: echo (the bench's default for call), in both eras it speaks. A plain
    # call does not touch the store, so memory stands for every store here.
    run ours-memory-call-echo-2025 "mcp-tasks, memory" memory call $V25
    run ours-memory-call-echo-2026 "mcp-tasks, memory" memory call $V26
    if ((!SKIP_PG)); then
        run ours-postgres2-task "mcp-tasks, two PostgreSQL instances" postgres2 task $V25
    fi

    for store in memory sqlite; do
        label="mcp-tasks, $store"
        run "ours-$store-idle-base" "$label" "$store" task $V25
        run "ours-$store-idle-$IDLE" "$label, $IDLE idle sessions + $IDLE waiters" "$store" task $V25 \
            --idle-sessions "$IDLE" --idle-waiters "$IDLE"
    done

    run ours-memory-rss-session "mcp-tasks, memory, $IDLE idle sessions" memory get $V25 \
        --idle-sessions "$IDLE" --warmup 0s --duration 2s
    run ours-memory-rss-task "mcp-tasks, memory, $RSS_TASKS tasks" memory task $V25 \
        --warmup 0s --count "$RSS_TASKS"
}

plan
DRY=0
((PLANNED > 0)) || die "--only ${ONLY} matches no run"

secs() { awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; print n }'; }
ESTIMATE=$(awk -v n="$PLANNED" -v w="$(secs "$WARMUP")" -v d="$(secs "$DURATION")" 'BEGIN { printf("%d\n", n * (w + d + 3) / 60 + 1) }')

CPU_MODEL=$(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT+=" (with uncommitted changes)"
{
    echo "## bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo
    echo "- command: \`$COMMAND_LINE\` ($CLIENTS clients, warmup $WARMUP, duration $DURATION; TS SDK tasks polled every $TS_POLL ms)"
    echo "- machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc: unknown'), $(node --version 2>/dev/null | sed 's/^/node /'), commit $COMMIT"
    ((SKIP_PG)) || echo "- PostgreSQL: $(psql "$PG_URL" -XAtqc 'show server_version' 2>/dev/null) at $(sed -E 's#//[^@/]*@#//#; s#\?.*##' <<<"$PG_URL"), a fresh database per run"
} >"$RUN/header.md"

log "$PLANNED runs, about $ESTIMATE min; results in $RUN"
plan
summary
log "results: $RUN/summary.md"
((FAILED == 0)) || die "$FAILED bench run(s) failed; see the *.bench.log files in $RUN"
