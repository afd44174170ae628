#!/usr/bin/env bash
# Load benchmark of georestrict: plain Caddy against Caddy with geo_restrict
# and a register of a million orders, on loopback, in alternating runs.
# BENCHMARKS.md explains the scenarios and how to read the table.
#
#   bench/run.sh                      # the full run (~30 minutes)
#   ROUNDS=1 DURATION=3s bench/run.sh # a smoke run (~2 minutes)
#
# Settings (environment):
#   ROUNDS=5          rounds; each round runs side A, then side B
#   DURATION=6s       length of one wrk run
#   WARMUP=1s         one discarded run per side before the rounds
#   CONNS=32          wrk connections (one wrk thread)
#   ORDERS=1000000    orders in the generated register
#   DISTINCT=0        1: every order has its own decision (genregister -distinct)
#   UPLOAD_KIB=256    request body of the upload scenario
#   RELOAD_EVERY=2    seconds between reloads in the reload and refresh scenarios
#   SCENARIOS=all     comma-separated scenario keys (BENCHMARKS.md), or all
#   PIN=1             pin the Caddies to SERVER_CPUS, the client side to CLIENT_CPUS
#   SERVER_CPUS=0     cores for both Caddies (taskset list)
#   CLIENT_CPUS=1     cores for wrk, the upstream, curl
#   PORT_BASE=18000   ports PORT_BASE+1.. on 127.0.0.1
#   OUT=bench/out/<UTC time>   where results, raw wrk output and logs go
#   GOBENCH=0         1: also run the Go benchmarks; only: run nothing else
#   GOBENCH_COUNT=6   -count of the Go benchmarks
#   GOBENCH_BASE=     an earlier Go benchmark output to compare with, by benchstat
#   GATEWAY_GOGC=     the gateway's GOGC (e.g. 10); empty: Go's default (100)
#   THROTTLE_UPLOADS=5000  concurrent slow uploads of the throttle scenario
#   THROTTLE_KIB=16   their rate, KiB/s (the gateway's throttle order)
#   THROTTLE_BURST=   the gateway's throttle_burst (e.g. 16KiB); empty: the default
#   THROTTLE_PIECE=1s how often plain Caddy's slow clients send a piece of their rate
#   THROTTLE_WINDOW=10s  the throttle scenario's quiet window (uploads alone)
#
# Needs Go and curl; installs wrk with apt-get when it is missing. Sends
# traffic only to 127.0.0.1.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-32}
ORDERS=${ORDERS:-1000000}
DISTINCT=${DISTINCT:-0}
UPLOAD_KIB=${UPLOAD_KIB:-256}
RELOAD_EVERY=${RELOAD_EVERY:-2}
SCENARIOS=${SCENARIOS:-all}
PIN=${PIN:-1}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
PORT_BASE=${PORT_BASE:-18000}
OUT=${OUT:-$root/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
GOBENCH=${GOBENCH:-0}
GOBENCH_COUNT=${GOBENCH_COUNT:-6}
GOBENCH_BASE=${GOBENCH_BASE:-}
THROTTLE_UPLOADS=${THROTTLE_UPLOADS:-5000}
THROTTLE_KIB=${THROTTLE_KIB:-16}
THROTTLE_BURST=${THROTTLE_BURST:-}
THROTTLE_PIECE=${THROTTLE_PIECE:-1s}
THROTTLE_WINDOW=${THROTTLE_WINDOW:-10s}

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

for v in ROUNDS CONNS ORDERS UPLOAD_KIB RELOAD_EVERY PORT_BASE GOBENCH_COUNT THROTTLE_UPLOADS THROTTLE_KIB; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
case $GOBENCH in 0 | 1 | only) ;; *) die "GOBENCH must be 0, 1 or only, got '$GOBENCH'" ;; esac
case $PIN in 0 | 1) ;; *) die "PIN must be 0 or 1, got '$PIN'" ;; esac
case $DISTINCT in 0 | 1) ;; *) die "DISTINCT must be 0 or 1, got '$DISTINCT'" ;; esac

# ---------------------------------------------------------------- tools

command -v go >/dev/null || die "Go is not on PATH (georestrict needs Go 1.26 or newer)"
command -v curl >/dev/null || die "curl is not on PATH"
if [[ $GOBENCH != only ]] && ! command -v wrk >/dev/null; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		log "installing wrk"
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null
	else
		die "wrk is missing: install it (Debian: apt-get install wrk)"
	fi
fi
if [[ $PIN == 1 ]] && ! command -v taskset >/dev/null; then
	log "taskset not found: running unpinned"
	PIN=0
fi
server_pin=() client_pin=()
if [[ $PIN == 1 ]]; then
	server_pin=(taskset -c "$SERVER_CPUS")
	client_pin=(taskset -c "$CLIENT_CPUS")
fi

# ---------------------------------------------------------------- workspace

work=$(mktemp -d "${TMPDIR:-/tmp}/georestrict-bench.XXXXXX")
pids=()
hook_pid=
cleanup() {
	local pid f
	[[ -n $hook_pid ]] && kill "$hook_pid" 2>/dev/null
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# The gateway writes a log line per withheld request: keep only the tails.
	if [[ -d $work/logs ]]; then
		mkdir -p "$OUT/logs"
		for f in "$work"/logs/*.log; do
			[[ -e $f ]] && tail -n 200 "$f" >"$OUT/logs/$(basename "$f")"
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$OUT"
log "results go to $OUT"

# ---------------------------------------------------------------- Go benchmarks

run_gobench() {
	local out=$OUT/gobench.txt
	log "Go benchmarks, -count $GOBENCH_COUNT (several minutes) -> $out"
	(cd "$root" && go test -run '^$' -bench . -benchmem -count "$GOBENCH_COUNT" \
		./geo ./blocklist ./caddymodule ./throttle) | tee "$out"
	if [[ -n $GOBENCH_BASE ]]; then
		local gobin
		gobin=$(go env GOPATH)/bin
		if [[ ! -x $gobin/benchstat ]]; then
			log "installing benchstat"
			go install golang.org/x/perf/cmd/benchstat@latest
		fi
		"$gobin/benchstat" "$GOBENCH_BASE" "$out" | tee "$OUT/benchstat.txt"
	fi
}
if [[ $GOBENCH == only ]]; then
	run_gobench
	exit 0
fi

# ---------------------------------------------------------------- build

mkdir -p "$OUT/raw"

bin=$work/bin
mkdir -p "$bin"
log "building caddy with georestrict"
OUTPUT=$bin/caddy "$root/xcaddy.sh" >"$work/build.log" 2>&1 || {
	cat "$work/build.log" >&2
	die "building caddy failed"
}
log "building the helpers"
(cd "$root" && go build -o "$bin/" ./bench/genregister ./bench/upstream ./bench/report ./bench/slowuploads)

register=$work/register.csv
log "generating a register of $ORDERS orders"
genflags=()
[[ $DISTINCT == 1 ]] && genflags=(-distinct)
"$bin/genregister" -n "$ORDERS" "${genflags[@]}" -o "$register"
# The refresh scenario's register: a copy of the register that only its site
# loads, and a second version of it with one more order, which the scenario
# moves over it in turns (as a deployment does) for the site's refresh to load.
refresh_register=$work/refresh.csv
cp "$register" "$refresh_register"
cp "$register" "$work/refresh-b.csv"
echo "bench-refresh,RU,post:42,block,Roskomnadzor,bench,,,," >>"$work/refresh-b.csv"
cp "$register" "$work/refresh-a.csv"
head -c "$((UPLOAD_KIB * 1024))" /dev/zero | tr '\0' x >"$work/body"

# ---------------------------------------------------------------- configs

plain_respond_port=$((PORT_BASE + 1))
plain_proxy_port=$((PORT_BASE + 2))
heap_respond_port=$((PORT_BASE + 21))
heap_idle_port=$((PORT_BASE + 22))
gw_respond_port=$((PORT_BASE + 11))
gw_proxy_port=$((PORT_BASE + 12))
gw_noguard_port=$((PORT_BASE + 13))
gw_static451_port=$((PORT_BASE + 14))
gw_loglimit_port=$((PORT_BASE + 15))
gw_static451h_port=$((PORT_BASE + 16))
gw_refresh_port=$((PORT_BASE + 17))
gw_vars_port=$((PORT_BASE + 18))
gw_bare_port=$((PORT_BASE + 20))
admin_port=$((PORT_BASE + 19))
upstream_port=$((PORT_BASE + 90))
for port in $plain_respond_port $plain_proxy_port $heap_respond_port $heap_idle_port $gw_respond_port $gw_proxy_port \
	$gw_noguard_port $gw_static451_port $gw_loglimit_port $gw_static451h_port $gw_refresh_port $gw_vars_port $gw_bare_port $admin_port $upstream_port; do
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
		die "port $port on 127.0.0.1 is in use; set PORT_BASE to another value"
	fi
done

# What the static 451 site answers, in the gateway's process: a text of the
# length and shape of the gateway's own text answer, so that the two sides
# differ only in the gateway's work. (Lines are indented as the Caddyfile
# heredoc's closing marker is, which strips that indentation.)
static451_body="	451 Unavailable For Legal Reasons

	This post is withheld in your country
	A legal demand requires that this post is not shown to visitors from your country (Russia). It is still available elsewhere.

	Withheld: post 123
	Country: Russia (RU)
	Demanded by: Roskomnadzor
	Decision: 2-1687/2024
	Public notice: https://notice.example/rkn/bench-block-post
	Reason: Prohibited information.
	Order: bench-block-post"

# Both Caddies trust 127.0.0.1 as a proxy, so both parse X-Forwarded-For and
# pay the same for it. Only the gateway has an admin endpoint, for reloads.
global_options() {
	cat <<EOF
{
	$1
	persist_config off
	servers {
		trusted_proxies static 127.0.0.1/32
	}
}
EOF
}
plain_cfg=$work/plain.caddy
heap_cfg=$work/plain-heap.caddy
gateway_cfg=$work/gateway.caddy
{
	global_options "admin off"
	cat <<EOF
:$plain_respond_port {
	bind 127.0.0.1
	respond "ok"
}
:$plain_proxy_port {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$upstream_port
}
EOF
} >"$plain_cfg"
# Plain Caddy with the same heap as the gateway: the register is loaded by a
# site that no run touches. A large live heap makes Go collect garbage far
# less often (and each collection takes longer), which alone moves
# throughput and p99; against this baseline only the handler's own work
# differs.
{
	global_options "admin off"
	cat <<EOF
:$heap_respond_port {
	bind 127.0.0.1
	respond "ok"
}
:$heap_idle_port {
	bind 127.0.0.1
	geo_restrict {
		register $register
	}
	respond "ok"
}
EOF
} >"$heap_cfg"
{
	global_options "admin 127.0.0.1:$admin_port"
	cat <<EOF
:$gw_respond_port {
	bind 127.0.0.1
	geo_restrict {
		register $register
	}
	respond "ok"
}
:$gw_proxy_port {
	bind 127.0.0.1
	geo_restrict {
		register $register
	}
	reverse_proxy 127.0.0.1:$upstream_port
}
:$gw_noguard_port {
	bind 127.0.0.1
	geo_restrict {
		register $register
		shared_cache allow
	}
	respond "ok"
}
:$gw_loglimit_port {
	bind 127.0.0.1
	geo_restrict {
		register $register
		log_limit 100 1s
	}
	respond "ok"
}
:$gw_refresh_port {
	bind 127.0.0.1
	geo_restrict {
		register $refresh_register
		refresh 1s
	}
	respond "ok"
}
:$gw_vars_port {
	bind 127.0.0.1
	vars floor 1
	respond "ok"
}
:$gw_bare_port {
	bind 127.0.0.1
	respond "ok"
}
:$gw_static451_port {
	bind 127.0.0.1
	respond <<NOTICE
$static451_body
	NOTICE 451
}
:$gw_static451h_port {
	bind 127.0.0.1
	header {
		Cache-Control no-store
		Content-Language en
		Vary "Accept, Accept-Language"
		X-Content-Type-Options nosniff
	}
	respond <<NOTICE
$static451_body
	NOTICE 451
}
EOF
} >"$gateway_cfg"
cp "$plain_cfg" "$heap_cfg" "$gateway_cfg" "$OUT/"

# ---------------------------------------------------------------- servers

# start NAME CMD...: run CMD in the background, logging to logs/NAME.log
# (the last lines of which are kept in $OUT/logs).
mkdir -p "$work/logs"
start() {
	local name=$1
	shift
	"$@" >"$work/logs/$name.log" 2>&1 &
	pids+=("$!")
	eval "${name}_pid=\$!"
}

# wait_for NAME URL CODE [XFF]: wait until URL answers CODE.
wait_for() {
	local name=$1 url=$2 want=$3 xff=${4:-8.8.8.8} pid_var="${1}_pid" code i
	for ((i = 0; i < 1200; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "X-Forwarded-For: $xff" "$url" || true)
		[[ $code == "$want" ]] && return 0
		if ! kill -0 "${!pid_var}" 2>/dev/null; then
			tail -n 20 "$work/logs/$name.log" >&2
			die "$name exited while starting"
		fi
		sleep 0.1
	done
	die "$name did not answer $want at $url within 2 minutes (last: $code)"
}

caddy_env=(env "XDG_CONFIG_HOME=$work/xdg-config" "XDG_DATA_HOME=$work/xdg-data")
start upstream "${client_pin[@]}" "$bin/upstream" -addr "127.0.0.1:$upstream_port"
start plain "${server_pin[@]}" "${caddy_env[@]}" "$bin/caddy" run --config "$plain_cfg" --adapter caddyfile
gateway_env=("${caddy_env[@]}")
if [[ -n ${GATEWAY_GOGC:-} ]]; then
	gateway_env+=("GOGC=$GATEWAY_GOGC")
fi
start gateway "${server_pin[@]}" "${gateway_env[@]}" "$bin/caddy" run --config "$gateway_cfg" --adapter caddyfile
start plain_heap "${server_pin[@]}" "${caddy_env[@]}" "$bin/caddy" run --config "$heap_cfg" --adapter caddyfile
wait_for upstream "http://127.0.0.1:$upstream_port/" 200
wait_for plain "http://127.0.0.1:$plain_respond_port/" 200
t0=$SECONDS
wait_for gateway "http://127.0.0.1:$gw_respond_port/someuser/status/123" 451 77.88.55.88
log "gateway up (register of $ORDERS orders loaded in about $((SECONDS - t0)) s)"
wait_for plain_heap "http://127.0.0.1:$heap_idle_port/someuser/status/123" 451 77.88.55.88
wait_for plain_heap "http://127.0.0.1:$heap_respond_port/someuser/status/123" 200 77.88.55.88

# ---------------------------------------------------------------- checks

allowed_path=/someuser/status/999999999999
blocked_path=/someuser/status/123
upload_path=/api/upload
throttled_path=/media/upload

# expect CODE PORT PATH XFF [curl args]: one request must answer CODE.
expect() {
	local want=$1 port=$2 path=$3 xff=$4 code
	shift 4
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Forwarded-For: $xff" "$@" "http://127.0.0.1:$port$path")
	[[ $code == "$want" ]] || die "check failed: $path from $xff on port $port answered $code, want $want"
}

log "checking the setup"
# The Russian addresses that xff.lua uses, at the ends of its ranges.
for ip in 95.108.128.1 95.108.255.254 178.154.128.1 178.154.191.254 46.17.40.1 46.17.47.254 \
	77.88.55.88 5.255.255.5 95.108.213.1 77.88.21.3; do
	expect 451 "$gw_respond_port" "$blocked_path" "$ip"
	expect 451 "$gw_proxy_port" "$blocked_path" "$ip"
	expect 200 "$gw_respond_port" "$allowed_path" "$ip"
	expect 200 "$plain_respond_port" "$blocked_path" "$ip"
done
for ip in 8.8.8.8 81.2.69.142; do
	expect 200 "$gw_respond_port" "$blocked_path" "$ip"
done
expect 451 "$gw_loglimit_port" "$blocked_path" 77.88.55.88
expect 200 "$gw_vars_port" "$blocked_path" 77.88.55.88
expect 200 "$gw_bare_port" "$blocked_path" 77.88.55.88
expect 451 "$gw_static451_port" "$blocked_path" 77.88.55.88
expect 451 "$gw_static451h_port" "$blocked_path" 77.88.55.88
log "451 bodies: gateway $(curl -s -H 'X-Forwarded-For: 77.88.55.88' "http://127.0.0.1:$gw_respond_port$blocked_path" | wc -c) B, static $(curl -s "http://127.0.0.1:$gw_static451_port$blocked_path" | wc -c) B"
for port in "$plain_proxy_port" "$gw_proxy_port"; do
	expect 200 "$port" "$upload_path" 77.88.55.88 --data-binary "@$work/body"
done
# The throttle order exists and works, so the upload scenario measures a
# register that has one the uploads do not match.
# 128 KiB at 64 KiB/s: the burst of a second's worth at once, the rest in a
# second.
secs=$(head -c 131072 /dev/zero | curl -s -o /dev/null -w '%{time_total}' --max-time 30 \
	-H 'X-Forwarded-For: 77.88.55.88' --data-binary @- "http://127.0.0.1:$gw_proxy_port$throttled_path")
if awk -v s="$secs" 'BEGIN { exit !(s < 0.5) }'; then
	log "warning: a 128 KiB upload to $throttled_path from Russia took ${secs}s; the 64KiB/s throttle order seems not to apply"
else
	log "control: a 128 KiB upload to the throttled $throttled_path from Russia took ${secs}s"
fi

# ---------------------------------------------------------------- measuring

scenarios_tsv=$OUT/scenarios.tsv
results_tsv=$OUT/results.tsv
: >"$scenarios_tsv"
: >"$results_tsv"

selected() {
	[[ $SCENARIOS == all || ",$SCENARIOS," == *",$1,"* ]]
}

# Reload hooks: while one runs, the gateway reloads its config through the
# admin API every RELOAD_EVERY seconds (forced, as `caddy reload --force`);
# reload-register also touches the register first, so that it is loaded anew.
# The refresh hook reloads nothing: it moves the other version of the refresh
# site's register over it, which the site's `refresh 1s` finds and loads.
hook_start() {
	local kind=$1 stop=$work/hook.stop reloads=$work/hook.reloads
	rm -f "$stop"
	: >"$reloads"
	if [[ $kind == refresh ]]; then
		refreshes_before=$(grep -c "register loaded.*$refresh_register" "$work/logs/gateway.log" || true)
		(
			while sleep "$RELOAD_EVERY" && [[ ! -e $stop ]]; do
				# The version not in place now: a, b, a, ... across runs.
				next=b
				[[ $(cat "$work/refresh.turn" 2>/dev/null) == b ]] && next=a
				echo "$next" >"$work/refresh.turn"
				"${client_pin[@]}" cp "$work/refresh-$next.csv" "$work/refresh.tmp"
				mv "$work/refresh.tmp" "$refresh_register"
				echo moved >>"$reloads"
			done
		) &
		hook_pid=$!
		return
	fi
	(
		while sleep "$RELOAD_EVERY" && [[ ! -e $stop ]]; do
			[[ $kind == reload-register ]] && touch "$register"
			"${client_pin[@]}" curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 -X POST \
				-H 'Content-Type: text/caddyfile' -H 'Cache-Control: must-revalidate' \
				--data-binary "@$gateway_cfg" "http://127.0.0.1:$admin_port/load" >>"$reloads" || echo fail >>"$reloads"
		done
	) &
	hook_pid=$!
}
# hook_stop: let the reload in flight finish, so that it does not spill over
# into the next run, and put how many reloads there were in hook_note.
hook_note=
hook_stop() {
	touch "$work/hook.stop"
	wait "$hook_pid" || true
	hook_pid=
	sleep 1
	local n ok slowest
	if grep -q '^moved$' "$work/hook.reloads"; then
		# Wait (up to 30 s) for the last version moved to be loaded, so that
		# the load does not spill over into the next run.
		n=$(wc -l <"$work/hook.reloads")
		for _ in {1..30}; do
			ok=$(($(grep -c "register loaded.*$refresh_register" "$work/logs/gateway.log" || true) - refreshes_before))
			((ok >= n)) && break
			sleep 1
		done
		slowest=$(grep "register loaded.*$refresh_register" "$work/logs/gateway.log" | tail -n "$ok" |
			sed -n 's/.*"took":\([0-9.e+-]*\).*/\1/p' | awk '$1 > m { m = $1 } END { printf "%.2fs", m }')
		[[ $n == "$ok" ]] || log "warning: $n register versions moved, $ok loaded (see $OUT/logs/gateway.log)"
		hook_note="$ok refreshes, slowest $slowest"
		return
	fi
	n=$(wc -l <"$work/hook.reloads")
	ok=$(grep -c '^200 ' "$work/hook.reloads" || true)
	slowest=$(awk '$2 > m { m = $2 } END { printf "%.2f", m }' "$work/hook.reloads")
	[[ $n == "$ok" ]] || log "warning: only $ok of $n reloads answered 200 (see $OUT/logs/gateway.log)"
	hook_note="$ok reloads, slowest ${slowest}s"
}

# measure KEY SIDE ROUND URL CLIENTS PATH KIB EXPECT HOOK: one wrk run; append
# its numbers to results.tsv (ROUND 0 is the warm-up, not recorded).
measure() {
	local key=$1 side=$2 round=$3 url=$4 clients=$5 path=$6 kib=$7 expect=$8 hook=$9
	local raw=$OUT/raw/$key-$side-$round.txt duration=$DURATION
	((round == 0)) && duration=$WARMUP
	hook_note=
	[[ $hook != none && $round -gt 0 ]] && hook_start "$hook"
	"${client_pin[@]}" wrk -t1 -c"$CONNS" -d"$duration" --timeout 10s \
		-s "$bench_dir/xff.lua" "$url" -- "$clients" "$path" "$kib" >"$raw" 2>&1 || {
		cat "$raw" >&2
		die "wrk failed ($raw)"
	}
	if [[ -n $hook_pid ]]; then
		hook_stop
		echo "$hook_note" >>"$raw"
	fi
	((round == 0)) && return 0

	local line requests duration_us p50 p99 status sock rps unexpected
	line=$(grep '^RESULT ' "$raw") || die "no RESULT line in $raw"
	requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
	duration_us=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
	p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
	p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
	status=$(sed -E 's/.*status_errors=([0-9]+).*/\1/' <<<"$line")
	sock=$(sed -E 's/.*socket_errors=([0-9]+).*/\1/' <<<"$line")
	((requests > 0)) || die "wrk completed no request ($raw)"
	rps=$(awk -v n="$requests" -v us="$duration_us" 'BEGIN { printf "%.1f", n / (us / 1e6) }')
	# wrk counts answers of 400 and above as status errors: all of them should
	# be 451 where the gateway blocks, none anywhere else.
	if [[ $expect == blocked ]]; then
		unexpected=$((requests - status))
	else
		unexpected=$status
	fi
	printf '%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n' "$key" "$side" "$round" "$rps" "$p50" "$p99" \
		"$requests" "$unexpected" "$sock" >>"$results_tsv"
	log "  round $round $side: $(printf '%.0f' "$rps") req/s, p50 $((p50))µs, p99 $((p99))µs${hook_note:+, $hook_note}$( ((unexpected + sock == 0)) || echo ", $unexpected unexpected status, $sock socket errors")"
}

# pair KEY TITLE MIN_RPS_RATIO MAX_P99_RATIO CLIENTS PATH KIB SIDE_A SIDE_B
# with SIDE = "label|url|expect|hook": warm both sides up, then ROUNDS rounds
# of A then B.
pair() {
	local key=$1 title=$2 min_rps=$3 max_p99=$4 clients=$5 path=$6 kib=$7
	selected "$key" || return 0
	local la ua ea ha lb ub eb hb round
	IFS='|' read -r la ua ea ha <<<"$8"
	IFS='|' read -r lb ub eb hb <<<"$9"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$title" "$la" "$lb" "$min_rps" "$max_p99" "$kib" >>"$scenarios_tsv"
	log "$key: $title ($la vs $lb)"
	measure "$key" A 0 "$ua" "$clients" "$path" "$kib" "$ea" "$ha"
	measure "$key" B 0 "$ub" "$clients" "$path" "$kib" "$eb" "$hb"
	for ((round = 1; round <= ROUNDS; round++)); do
		measure "$key" A "$round" "$ua" "$clients" "$path" "$kib" "$ea" "$ha"
		measure "$key" B "$round" "$ub" "$clients" "$path" "$kib" "$eb" "$hb"
	done
}

plain_respond="plain|http://127.0.0.1:$plain_respond_port|ok|none"
heap_respond="plain, same heap|http://127.0.0.1:$heap_respond_port|ok|none"
gw_respond="gateway|http://127.0.0.1:$gw_respond_port|ok|none"
gw_respond_451="gateway|http://127.0.0.1:$gw_respond_port|blocked|none"
gw_respond_noguard="gateway, shared_cache allow|http://127.0.0.1:$gw_noguard_port|ok|none"
gw_vars="vars, then respond|http://127.0.0.1:$gw_vars_port|ok|none"
gw_bare="respond, in the gateway's process|http://127.0.0.1:$gw_bare_port|ok|none"
static_451="respond … 451|http://127.0.0.1:$gw_static451_port|blocked|none"
gw_loglimit_451="gateway, log_limit 100 1s|http://127.0.0.1:$gw_loglimit_port|blocked|none"
static_451_headers="respond … 451, same headers|http://127.0.0.1:$gw_static451h_port|blocked|none"
plain_proxy="plain|http://127.0.0.1:$plain_proxy_port|ok|none"
gw_proxy="gateway|http://127.0.0.1:$gw_proxy_port|ok|none"
gw_proxy_451="gateway|http://127.0.0.1:$gw_proxy_port|blocked|none"
gw_reload="gateway + reloads|http://127.0.0.1:$gw_respond_port|ok|reload"
gw_reload_register="gateway + register reloads|http://127.0.0.1:$gw_respond_port|ok|reload-register"
gw_refresh="gateway, refresh 1s|http://127.0.0.1:$gw_refresh_port|ok|none"
gw_refresh_changed="gateway, refresh 1s + new versions|http://127.0.0.1:$gw_refresh_port|ok|refresh"

# ---------------------------------------------------------------- throttle

# The throttle scenario (BENCHMARKS.md, "Throttled uploads"): THROTTLE_UPLOADS
# uploads held open at THROTTLE_KIB KiB/s each, from as many Russian client
# addresses, through plain Caddy (A), where they are slow because the clients
# send slowly, and through the gateway (B), where the clients send as fast as
# TCP lets them and a throttle order slows them down. Each side is a Caddy of
# its own, started for this scenario, with one site: /media/upload* proxied
# to bench/slowuploads (the clients and the upstream in one program, which
# counts what each upload delivers), everything else answered with "ok".
# Per round and side, slowuploads measures the Caddy's CPU with the uploads
# alone, then again while wrk sends other countries' requests to the site.
throttle_tsv=$OUT/throttle.tsv
: >"$throttle_tsv"
throttle_scenario() {
	selected throttle || return 0
	local plain_port=$((PORT_BASE + 31)) gw_port=$((PORT_BASE + 32)) up_port=$((PORT_BASE + 91))
	local rate=$((THROTTLE_KIB * 1024)) port ip want secs round
	for port in $plain_port $gw_port $up_port; do
		if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
			die "port $port on 127.0.0.1 is in use; set PORT_BASE to another value"
		fi
	done
	local reg=$work/throttle.csv burst_line=
	{
		echo "id,countries,target,action,authority,reference,notice,reason,start,end"
		echo "bench-throttle-slow,RU,path:/media/upload*,throttle ${THROTTLE_KIB}KiB/s,Roskomnadzor,27-31-2024/Id4082-24,,Uploads slowed down.,,"
	} >"$reg"
	[[ -n $THROTTLE_BURST ]] && burst_line="throttle_burst $THROTTLE_BURST"
	local plain_cfg=$work/plain-throttle.caddy gw_cfg=$work/gateway-throttle.caddy
	{
		global_options "admin off"
		throttle_site "$plain_port" "$up_port" ""
	} >"$plain_cfg"
	{
		global_options "admin off"
		throttle_site "$gw_port" "$up_port" "geo_restrict {
		register $reg
		$burst_line
	}"
	} >"$gw_cfg"
	cp "$plain_cfg" "$gw_cfg" "$reg" "$OUT/"
	start plain_throttle "${server_pin[@]}" "${caddy_env[@]}" "$bin/caddy" run --config "$plain_cfg" --adapter caddyfile
	start gateway_throttle "${server_pin[@]}" "${caddy_env[@]}" "$bin/caddy" run --config "$gw_cfg" --adapter caddyfile
	wait_for plain_throttle "http://127.0.0.1:$plain_port/" 200
	wait_for gateway_throttle "http://127.0.0.1:$gw_port/" 200

	# The order is live: three seconds' worth from Russia take at least two
	# seconds (with any burst up to a second of the rate); from elsewhere,
	# and through plain Caddy, a moment. slowuploads is the upstream only
	# while it runs, so bench/upstream stands in for these.
	start throttle_check_upstream "${client_pin[@]}" "$bin/upstream" -addr "127.0.0.1:$up_port"
	wait_for throttle_check_upstream "http://127.0.0.1:$up_port/" 200
	head -c $((3 * rate)) /dev/zero >"$work/throttle-body"
	for check in "$gw_port 95.108.128.1 slow" "$gw_port 8.8.8.8 fast" "$plain_port 95.108.128.1 fast"; do
		read -r port ip want <<<"$check"
		secs=$(curl -s -o /dev/null -w '%{time_total}' --max-time 30 -H "X-Forwarded-For: $ip" \
			--data-binary "@$work/throttle-body" "http://127.0.0.1:$port/media/upload")
		if [[ $want == slow ]] && awk -v s="$secs" 'BEGIN { exit !(s < 1.9) }'; then
			die "check failed: $((3 * THROTTLE_KIB)) KiB from $ip through port $port took ${secs}s; the ${THROTTLE_KIB}KiB/s order seems not to apply"
		fi
		if [[ $want == fast ]] && awk -v s="$secs" 'BEGIN { exit !(s > 1) }'; then
			die "check failed: $((3 * THROTTLE_KIB)) KiB from $ip through port $port took ${secs}s, as if throttled"
		fi
	done
	kill "$throttle_check_upstream_pid"
	wait "$throttle_check_upstream_pid" 2>/dev/null || true

	log "throttle: $THROTTLE_UPLOADS uploads at $THROTTLE_KIB KiB/s, plain Caddy (slow clients) vs gateway (throttle order)"
	for ((round = 1; round <= ROUNDS; round++)); do
		throttle_side A plain "$plain_port" client "$plain_throttle_pid" "$round"
		throttle_side B gateway "$gw_port" server "$gateway_throttle_pid" "$round"
	done
}

# throttle_site PORT UPSTREAM_PORT HANDLER: the throttle scenario's site.
throttle_site() {
	cat <<EOF
:$1 {
	bind 127.0.0.1
	$3
	handle /media/upload* {
		reverse_proxy 127.0.0.1:$2
	}
	handle {
		respond "ok"
	}
}
EOF
}

# throttle_side SIDE LABEL PORT PACE PID ROUND: one run of slowuploads;
# append its numbers to throttle.tsv.
throttle_side() {
	local side=$1 label=$2 port=$3 pace=$4 pid=$5 round=$6
	local raw=$OUT/raw/throttle-$side-$round.txt
	"${client_pin[@]}" "$bin/slowuploads" -url "http://127.0.0.1:$port/media/upload" \
		-upstream "127.0.0.1:$((PORT_BASE + 91))" -n "$THROTTLE_UPLOADS" -rate "$((THROTTLE_KIB * 1024))" \
		-pace "$pace" -piece "$THROTTLE_PIECE" -window "$THROTTLE_WINDOW" -pid "$pid" \
		-- wrk -t1 -c"$CONNS" -d"$DURATION" --timeout 10s -s "$bench_dir/xff.lua" \
		"http://127.0.0.1:$port" -- many-world "$allowed_path" >"$raw" 2>&1 || {
		cat "$raw" >&2
		die "slowuploads failed ($raw)"
	}
	local quiet load result
	quiet=$(grep '^SLOW window=quiet ' "$raw") || die "no quiet SLOW line in $raw"
	load=$(grep '^SLOW window=load ' "$raw") || die "no load SLOW line in $raw"
	result=$(grep '^RESULT ' "$raw") || die "no RESULT line in $raw"
	local requests duration_us errors rps
	requests=$(slow_field requests "$result")
	duration_us=$(slow_field duration_us "$result")
	errors=$(($(slow_field status_errors "$result") + $(slow_field socket_errors "$result")))
	if ((requests == 0)); then
		# The host stalled (it is shared), or this Caddy is saturated:
		# its CPU and the uploads' rate tell which. Say so, and leave the
		# round out rather than lose the run.
		log "  round $round $label: wrk completed no request; round left out ($raw): CPU $(slow_field cpu "$load") with wrk, $(slow_field rate "$quiet") B/s per upload, $(slow_field failed "$load") uploads failed"
		return 0
	fi
	rps=$(awk -v n="$requests" -v us="$duration_us" 'BEGIN { printf "%.1f", n / (us / 1e6) }')
	printf '%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n' \
		"$side" "$label" "$round" "$THROTTLE_UPLOADS" "$((THROTTLE_KIB * 1024))" \
		"$(slow_field cpu "$quiet")" "$(slow_field rate "$quiet")" "$(slow_field cpu "$load")" "$(slow_field rate "$load")" \
		"$rps" "$(slow_field p50_us "$result")" "$(slow_field p99_us "$result")" \
		"$requests" "$errors" "$(slow_field failed "$load")" "$(slow_field rss_kib "$quiet")" >>"$throttle_tsv"
	log "  round $round $label: CPU $(slow_field cpu "$quiet") alone, $(slow_field cpu "$load") with wrk; $(slow_field rate "$quiet") B/s per upload; other traffic $(printf '%.0f' "$rps") req/s, p99 $(slow_field p99_us "$result")µs"
}

# slow_field NAME LINE: the value of NAME=value in a SLOW or RESULT line.
slow_field() { sed -E "s/.*[ ]$1=([0-9.]+).*/\\1/" <<<"$2"; }

run_start=$SECONDS
pair respond-allow-many "respond, allowed, many client IPs" 0.98 1.10 many-mixed "$allowed_path" 0 "$plain_respond" "$gw_respond"
pair respond-allow-heap "respond, allowed, many client IPs, heap-matched baseline" 0.97 1.10 many-mixed "$allowed_path" 0 "$heap_respond" "$gw_respond"
pair respond-allow-ru "respond, allowed, many RU IPs" 0.97 1.10 many-ru "$allowed_path" 0 "$plain_respond" "$gw_respond"
pair respond-allow-few "respond, allowed, 4 client IPs" 0.97 1.10 few-mixed "$allowed_path" 0 "$plain_respond" "$gw_respond"
pair respond-allow-guard "respond, allowed, many client IPs: shared_cache guard against allow" 0.97 1.10 many-mixed "$allowed_path" 0 "$gw_respond_noguard" "$gw_respond"
pair respond-allow-floor "a handler that does next to nothing (vars) before respond, many client IPs: Caddy's own cost of one more handler" - - many-mixed "$allowed_path" 0 "$plain_respond" "$gw_vars"
pair respond-allow-process "respond alone, in the gateway's process against plain Caddy's, many client IPs: what the process costs, with no handler" - - many-mixed "$allowed_path" 0 "$plain_respond" "$gw_bare"
pair respond-allow-vars "respond, allowed, many client IPs, against vars before respond" - - many-mixed "$allowed_path" 0 "$gw_vars" "$gw_respond"
pair respond-block-many "respond, blocked (451), many RU IPs" - - many-ru "$blocked_path" 0 "$plain_respond" "$gw_respond_451"
pair respond-block-few "respond, blocked (451), 4 RU IPs" - - few-ru "$blocked_path" 0 "$plain_respond" "$gw_respond_451"
pair respond-451-many "451 against a static respond … 451 in the same process, many RU IPs" 0.90 - many-ru "$blocked_path" 0 "$static_451" "$gw_respond_451"
pair respond-451-limited "the same, with log_limit 100 1s" 0.90 - many-ru "$blocked_path" 0 "$static_451" "$gw_loglimit_451"
pair respond-451-headers "log_limit 100 1s against a static 451 with the same headers" 0.90 - many-ru "$blocked_path" 0 "$static_451_headers" "$gw_loglimit_451"
pair proxy-allow-many "reverse_proxy, allowed, many client IPs" 0.97 1.10 many-mixed "$allowed_path" 0 "$plain_proxy" "$gw_proxy"
pair proxy-allow-few "reverse_proxy, allowed, 4 client IPs" 0.97 1.10 few-mixed "$allowed_path" 0 "$plain_proxy" "$gw_proxy"
pair proxy-block-many "reverse_proxy, blocked (451), many RU IPs" - - many-ru "$blocked_path" 0 "$plain_proxy" "$gw_proxy_451"
pair proxy-block-few "reverse_proxy, blocked (451), 4 RU IPs" - - few-ru "$blocked_path" 0 "$plain_proxy" "$gw_proxy_451"
pair upload "upload ${UPLOAD_KIB} KiB POST, reverse_proxy, no throttle order matches, 4 IPs" 0.95 - few-mixed "$upload_path" "$UPLOAD_KIB" "$plain_proxy" "$gw_proxy"
pair reload "config reload every ${RELOAD_EVERY} s (respond, allowed, many IPs)" - 1.10 many-mixed "$allowed_path" 0 "$gw_respond" "$gw_reload"
pair reload-register "register changed + reload every ${RELOAD_EVERY} s (respond, allowed, many IPs)" - 1.10 many-mixed "$allowed_path" 0 "$gw_respond" "$gw_reload_register"
pair refresh-register "register refreshed every ${RELOAD_EVERY} s, no reload (respond, allowed, many IPs)" - 1.25 many-mixed "$allowed_path" 0 "$gw_refresh" "$gw_refresh_changed"

throttle_scenario

[[ -s $scenarios_tsv || -s $throttle_tsv ]] || die "SCENARIOS='$SCENARIOS' selects no scenario"
log "measured in $(((SECONDS - run_start) / 60)) min $(((SECONDS - run_start) % 60)) s"

{
	echo "ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS ORDERS=$ORDERS DISTINCT=$DISTINCT${GATEWAY_GOGC:+ GATEWAY_GOGC=$GATEWAY_GOGC} PIN=$PIN (servers on CPU $SERVER_CPUS, wrk/upstream on CPU $CLIENT_CPUS)"
	echo
	if [[ -s $scenarios_tsv ]]; then
		"$bin/report" -scenarios "$scenarios_tsv" -results "$results_tsv"
	fi
	if [[ -s $throttle_tsv ]]; then
		[[ -s $scenarios_tsv ]] && echo
		echo "Throttled uploads: $THROTTLE_UPLOADS at $THROTTLE_KIB KiB/s; A: plain Caddy, slow clients sending every $THROTTLE_PIECE; B: the gateway, a throttle order, throttle_burst ${THROTTLE_BURST:-default}; other traffic: wrk, $CONNS connections, many-world"
		echo
		"$bin/slowuploads" -report "$throttle_tsv"
	fi
} | tee "$OUT/table.md"

if [[ $GOBENCH == 1 ]]; then
	run_gobench
fi
