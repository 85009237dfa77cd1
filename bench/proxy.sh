#!/usr/bin/env bash
# corscope proxy benchmark: throughput and latency through corscope vs straight to a local
# nginx origin, cell by cell, alternating direct / corscope (A B A B …) so drift on a
# shared machine hits both sides alike. Everything runs on 127.0.0.1 and every load run is
# bounded by DURATION.
#
#   bench/proxy.sh            the matrix: {http, https} × {c=1, c=50} × {1k, 100k, preflight}
#   bench/proxy.sh rss        RSS per captured exchange (10,000 HTTPS requests, 2nd pass),
#                             then the whole process's VmRSS at 100,000 exchanges and the
#                             average per exchange over the whole run
#   bench/proxy.sh peer       the matrix with mitmdump (pip install mitmproxy) as a third
#                             side, A B C A B C …: prints corscope/mitmdump as well
#   bench/proxy.sh reference  the matrix with examples/reference_proxy.rs as a third side:
#                             a proxy on corscope's own stack (hyper, tokio-rustls, rcgen)
#                             that captures nothing; prints corscope/reference as well
#   bench/proxy.sh all        both of them: A B C D A B C D …
#   bench/proxy.sh cpu        where the CPU goes, direct / corscope alternating: per request,
#                             user and system CPU of oha, nginx and corscope (from /proc and
#                             getrusage) and TCP segments sent; and the ratio the proxied side
#                             would reach with all of corscope's user-space work taken away
#
# Knobs (env): DURATION=5s ROUNDS=3 CONCS="1 50" BODIES="1k 100k preflight"
#   SCHEMES="http https" (add h2: HTTPS over HTTP/2, H2_STREAMS=10 streams a connection) RSS_N=10000 RSS_TOTAL=100000 CORSCOPE=target/release/corscope WORK=/tmp/corscope-bench
#   REFERENCE=target/release/examples/reference_proxy
# Needs: nginx, openssl, python3, oha (cargo install oha), a release build of corscope
# (cargo build --release; for the reference side also --example reference_proxy).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONCS=${CONCS:-"1 50"}
BODIES=${BODIES:-"1k 100k preflight"}
SCHEMES=${SCHEMES:-"http https"}
H2_STREAMS=${H2_STREAMS:-10}
RSS_N=${RSS_N:-10000}
RSS_TOTAL=${RSS_TOTAL:-100000}
CORSCOPE=${CORSCOPE:-$here/target/release/corscope}
WORK=${WORK:-/tmp/corscope-bench}
HTTP_PORT=${HTTP_PORT:-28080}
HTTPS_PORT=${HTTPS_PORT:-28443}
PROXY_PORT=${PROXY_PORT:-28888}
PEER_PORT=${PEER_PORT:-28889}
REF_PORT=${REF_PORT:-28890}
REFERENCE=${REFERENCE:-$here/target/release/examples/reference_proxy}
OHA=${OHA:-oha}
mode=${1:-matrix}

say() { echo "# $*" >&2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is required ($2)" >&2; exit 1; }; }
need nginx "apt-get install nginx"
need openssl "apt-get install openssl"
need python3 "apt-get install python3"
need "$OHA" "cargo install oha"
[ -x "$CORSCOPE" ] || { echo "bench: build corscope first: cargo build --release" >&2; exit 1; }

mkdir -p "$WORK/www" "$WORK/runs"

# --- origin: nginx with HTTP and HTTPS (certificate from a throwaway test CA) ----------
make_origin() {
  python3 - "$WORK/www" <<'PY'
import base64, os, sys
for name, n in (("1k", 1024), ("100k", 102400)):
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(base64.b64encode(os.urandom(n))[:n])
PY
  if [ ! -f "$WORK/origin.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/CN=corscope bench CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=127.0.0.1" -keyout "$WORK/origin.key" -out "$WORK/origin.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
    openssl x509 -req -in "$WORK/origin.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
      -CAcreateserial -days 30 -extfile "$WORK/san.ext" -out "$WORK/origin.pem" 2>/dev/null
  fi
  cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    # "ssl http2" on the listen line works on nginx 1.22 (Debian 12) and later.
    listen 127.0.0.1:$HTTPS_PORT ssl http2;
    ssl_certificate $WORK/origin.pem;
    ssl_certificate_key $WORK/origin.key;
    root $WORK/www;
    location = /preflight {
      if (\$request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin "http://localhost:5173";
        add_header Access-Control-Allow-Methods "GET, PUT";
        add_header Access-Control-Allow-Headers "content-type";
        add_header Access-Control-Max-Age 600;
        return 204;
      }
      return 405;
    }
  }
}
NGINX
  nginx -p "$WORK" -c "$WORK/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_port "$HTTP_PORT"
}

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  tail -3 "$WORK"/*.out "$WORK"/*.err "$WORK"/nginx-error.log 2>/dev/null >&2
  exit 1
}

start_corscope() {
  "$CORSCOPE" headless --listen "127.0.0.1:$PROXY_PORT" --data-dir "$WORK/data" \
    --upstream-ca "$WORK/ca.pem" >"$WORK/corscope.out" 2>"$WORK/corscope.err" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_port "$PROXY_PORT"
}

start_mitmdump() {
  need mitmdump "pip install mitmproxy"
  mitmdump --listen-host 127.0.0.1 --listen-port "$PEER_PORT" -q \
    --set ssl_verify_upstream_trusted_ca="$WORK/ca.pem" >"$WORK/mitm.out" 2>&1 &
  pids+=($!)
  wait_port "$PEER_PORT"
}

start_reference() {
  [ -x "$REFERENCE" ] || { echo "bench: build it first: cargo build --release --example reference_proxy" >&2; exit 1; }
  "$REFERENCE" "127.0.0.1:$REF_PORT" "$WORK/ca.pem" >"$WORK/reference.out" 2>"$WORK/reference.err" &
  pids+=($!)
  wait_port "$REF_PORT"
}

# oha's arguments for one cell, the URL last, into the array named by the fifth argument.
# h2 is HTTPS over HTTP/2 as a browser speaks it: conc requests in flight on few
# connections, H2_STREAMS streams each.
cell_args() { # scheme conc body via(direct|proxy|ref|peer) array-name
  local scheme=$1 conc=$2 body=$3 via=$4 port=$HTTP_PORT url=http
  local -n into=$5
  into=()
  case $scheme in
    https) port=$HTTPS_PORT url=https; into+=(--insecure -c "$conc") ;;
    h2)
      port=$HTTPS_PORT url=https
      local conns=$(( (conc + H2_STREAMS - 1) / H2_STREAMS ))
      into+=(--insecure --http2 -c "$conns" -p $(( conc / conns ))) ;;
    *) into+=(-c "$conc") ;;
  esac
  case $via in
    proxy) into+=(-x "http://127.0.0.1:$PROXY_PORT") ;;
    peer) into+=(-x "http://127.0.0.1:$PEER_PORT") ;;
    ref) into+=(-x "http://127.0.0.1:$REF_PORT") ;;
  esac
  if [ "$body" = preflight ]; then
    into+=(-m OPTIONS -H "Origin: http://localhost:5173" -H "Access-Control-Request-Method: PUT"
           -H "Access-Control-Request-Headers: content-type")
  fi
  into+=("$url://127.0.0.1:$port/$body")
}

# One load run; prints "rps p50_ms p99_ms errors".
run_oha() { # scheme conc body via(direct|proxy|ref|peer)
  local args
  cell_args "$@" args
  local out="$WORK/runs/$1-$2-$3-$4.json"
  "$OHA" --no-tui --output-format json -z "$DURATION" "${args[@]}" \
    >"$out" 2>"$out.err" || { echo "nan nan nan 1"; return; }
  python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d.get("summary", {})
lat = d.get("latencyPercentiles", {})
codes = d.get("statusCodeDistribution", {})
# Requests cut off when the run's time is up are not errors.
errs = {k: v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k}
errors = sum(errs.values()) + sum(v for k, v in codes.items() if not k.startswith("2"))
print(f'{s.get("requestsPerSec", 0):.0f} {lat.get("p50", 0)*1000:.3f} {lat.get("p99", 0)*1000:.3f} {errors}')
PY
}

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:] if x!="nan"]; print(f"{statistics.median(v):.3f}" if v else "nan")' "$@"; }

matrix() { # sides: "direct proxy" and any of "ref" and "peer"
  local sides=$1
  say "cells: schemes=[$SCHEMES] concs=[$CONCS] bodies=[$BODIES], $ROUNDS rounds of ${DURATION} per side [$sides]"
  declare -A res
  for r in $(seq "$ROUNDS"); do
    for scheme in $SCHEMES; do for conc in $CONCS; do for body in $BODIES; do
      for via in $sides; do
        read -r rps p50 p99 err < <(run_oha "$scheme" "$conc" "$body" "$via")
        key="$scheme/$conc/$body/$via"
        res[$key.rps]+="$rps "; res[$key.p50]+="$p50 "; res[$key.p99]+="$p99 "
        res[$key.err]=$(( ${res[$key.err]:-0} + err ))
      done
    done; done; done
    say "round $r done"
  done
  # Sides beyond direct and corscope get their own columns and corscope's ratio to them.
  local extra=() head_extra=""
  for via in $sides; do
    case $via in
      ref) extra+=(ref); head_extra+=$(printf ' | %9s %7s %7s %9s' ref_rps p50 p99 "cs/ref") ;;
      peer) extra+=(peer); head_extra+=$(printf ' | %9s %7s %7s %9s' mitm_rps p50 p99 "cs/mitm") ;;
    esac
  done
  printf '\n%-6s %-3s %-9s | %9s %7s %7s | %9s %7s %7s | %6s %8s %6s%s\n' \
    scheme c body direct_rps p50 p99 corscope_rps p50 p99 ratio "+p50ms" errors "$head_extra"
  for scheme in $SCHEMES; do for conc in $CONCS; do for body in $BODIES; do
    d="$scheme/$conc/$body/direct"; p="$scheme/$conc/$body/proxy"
    drps=$(median ${res[$d.rps]}); dp50=$(median ${res[$d.p50]}); dp99=$(median ${res[$d.p99]})
    prps=$(median ${res[$p.rps]}); pp50=$(median ${res[$p.p50]}); pp99=$(median ${res[$p.p99]})
    ratio=$(python3 -c "print(f'{$prps/$drps:.2f}' if $drps > 0 else 'nan')")
    add=$(python3 -c "print(f'{$pp50-$dp50:.3f}')")
    errs=$(( ${res[$d.err]} + ${res[$p.err]} ))
    cols=""
    for via in "${extra[@]}"; do
      m="$scheme/$conc/$body/$via"
      mrps=$(median ${res[$m.rps]}); mp50=$(median ${res[$m.p50]}); mp99=$(median ${res[$m.p99]})
      if [ "$via" = peer ]; then
        vs=$(python3 -c "print(f'{$prps/$mrps:.1f}x' if $mrps > 0 else 'nan')")
      else
        vs=$(python3 -c "print(f'{$prps/$mrps:.2f}' if $mrps > 0 else 'nan')")
      fi
      cols+=$(printf ' | %9.0f %7.3f %7.3f %9s' "$mrps" "$mp50" "$mp99" "$vs")
      errs=$(( errs + ${res[$m.err]} ))
    done
    printf '%-6s %-3s %-9s | %9.0f %7.3f %7.3f | %9.0f %7.3f %7.3f | %6s %8s %6s%s\n' \
      "$scheme" "$conc" "$body" "$drps" "$dp50" "$dp99" "$prps" "$pp50" "$pp99" "$ratio" "$add" \
      "$errs" "$cols"
  done; done; done
}

# --- cpu: where each side's CPU goes, per request ---------------------------------------
# One load run with CPU accounting; prints a JSON object. oha's CPU comes from getrusage
# (it is this helper's child), nginx's worker(s) and corscope's from /proc/<pid>/stat, the
# TCP segments every process sent from /proc/net/snmp.
cpu_run() { # scheme conc body via(direct|proxy)
  local args
  cell_args "$@" args
  python3 - "$nginx_pid" "$proxy_pid" "$OHA" --no-tui --output-format json -z "$DURATION" \
    "${args[@]}" <<'PY'
import json, os, resource, subprocess, sys
nginx, proxy, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
tick = 1e6 / os.sysconf("SC_CLK_TCK")  # µs per clock tick

def cpu(pid):  # (user, system) in µs
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) * tick, int(fields[12]) * tick

def nginx_workers():
    with open(f"/proc/{nginx}/task/{nginx}/children") as f:
        return [nginx] + f.read().split()

def sample():
    out = {"nginx": [0.0, 0.0], "corscope": list(cpu(proxy))}
    for pid in nginx_workers():
        u, s = cpu(pid)
        out["nginx"][0] += u
        out["nginx"][1] += s
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Tcp:")]
    out["segs"] = int(rows[1][rows[0].index("OutSegs")])
    return out

before = sample()
ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
run = subprocess.run(cmd, capture_output=True, text=True)
ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
after = sample()
d = json.loads(run.stdout)
n = sum(d.get("statusCodeDistribution", {}).values()) or 1
per = lambda v: round(v / n, 2)
print(json.dumps({
    "rps": d["summary"]["requestsPerSec"],
    "oha": [per((ru1.ru_utime - ru0.ru_utime) * 1e6), per((ru1.ru_stime - ru0.ru_stime) * 1e6)],
    "nginx": [per(after["nginx"][i] - before["nginx"][i]) for i in (0, 1)],
    "corscope": [per(after["corscope"][i] - before["corscope"][i]) for i in (0, 1)],
    "segs": round((after["segs"] - before["segs"]) / n, 2),
}))
PY
}

cpu_matrix() {
  say "CPU per request: schemes=[$SCHEMES] concs=[$CONCS] bodies=[$BODIES], $ROUNDS rounds of ${DURATION} per side"
  local runs="$WORK/runs/cpu.jsonl"
  : >"$runs"
  for r in $(seq "$ROUNDS"); do
    for scheme in $SCHEMES; do for conc in $CONCS; do for body in $BODIES; do
      for via in direct proxy; do
        printf '{"cell": "%s %s %s", "via": "%s", "run": %s}\n' "$scheme" "$conc" "$body" "$via" \
          "$(cpu_run "$scheme" "$conc" "$body" "$via")" >>"$runs"
      done
    done; done; done
    say "round $r done"
  done
  python3 - "$runs" <<'PY'
import collections, json, statistics, sys
cells = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    row = json.loads(line)
    cells[row["cell"]][row["via"]].append(row["run"])
med = lambda runs, f: statistics.median(f(r) for r in runs)
print("\nµs of CPU per request (user+system), medians; segs = TCP segments sent per request")
print(f'{"cell":<20} | {"direct: oha nginx":>18} {"segs":>5} | {"corscope: oha nginx":>20} {"user":>6} {"sys":>6} {"segs":>5} | {"rps ratio":>9} {"cpu ratio":>9} {"no-user ceiling":>15}')
for cell, sides in cells.items():
    d, p = sides["direct"], sides["proxy"]
    tot = lambda r, k: sum(r[k])
    d_on = med(d, lambda r: tot(r, "oha") + tot(r, "nginx"))
    p_on = med(p, lambda r: tot(r, "oha") + tot(r, "nginx"))
    cu, cs = med(p, lambda r: r["corscope"][0]), med(p, lambda r: r["corscope"][1])
    rps = med(p, lambda r: r["rps"]) / med(d, lambda r: r["rps"])
    print(f'{cell:<20} | {med(d, lambda r: tot(r, "oha")):8.1f} {med(d, lambda r: tot(r, "nginx")):9.1f} {med(d, lambda r: r["segs"]):5.1f} | '
          f'{med(p, lambda r: tot(r, "oha")):9.1f} {med(p, lambda r: tot(r, "nginx")):10.1f} {cu:6.1f} {cs:6.1f} {med(p, lambda r: r["segs"]):5.1f} | '
          f'{rps:9.2f} {d_on / (p_on + cu + cs):9.2f} {d_on / (p_on + cs):15.2f}')
print("cpu ratio: direct's CPU per request over the proxied side's (oha + nginx + corscope);")
print("no-user ceiling: the same with corscope's user time taken away — what a proxy that")
print("costs only the kernel's work for its two extra loopback connections could reach.")
PY
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

rss() {
  local url="https://127.0.0.1:$HTTPS_PORT/1k"
  "$OHA" --no-tui --output-format quiet -n 500 -c 10 --insecure -x "http://127.0.0.1:$PROXY_PORT" "$url" >/dev/null
  local start
  start=$(rss_kb "$proxy_pid")
  for pass in 1 2; do
    local before after
    before=$(rss_kb "$proxy_pid")
    "$OHA" --no-tui --output-format quiet -n "$RSS_N" -c 10 --insecure -x "http://127.0.0.1:$PROXY_PORT" "$url" >/dev/null
    sleep 1
    after=$(rss_kb "$proxy_pid")
    echo "pass $pass: VmRSS ${before} kB -> ${after} kB over $RSS_N exchanges: $(( (after - before) * 1024 / RSS_N )) bytes/exchange"
  done
  # Then on to RSS_TOTAL captured exchanges in all: the whole process's footprint.
  local done_n=$(( 500 + 2 * RSS_N ))
  if [ "$RSS_TOTAL" -gt "$done_n" ]; then
    "$OHA" --no-tui --output-format quiet -n $(( RSS_TOTAL - done_n )) -c 10 --insecure \
      -x "http://127.0.0.1:$PROXY_PORT" "$url" >/dev/null
    sleep 1
    local total
    total=$(rss_kb "$proxy_pid")
    echo "total: VmRSS ${total} kB with $RSS_TOTAL exchanges captured"
    # The allocator takes memory from the system in large steps, so a 10,000-exchange
    # window can land on either side of one; the whole run averages them out.
    echo "all: VmRSS ${start} kB -> ${total} kB over $(( RSS_TOTAL - 500 )) exchanges: $(( (total - start) * 1024 / (RSS_TOTAL - 500) )) bytes/exchange"
  fi
}

make_origin
case "$mode" in
  matrix) start_corscope; matrix "direct proxy" ;;
  rss) start_corscope; rss ;;
  peer) start_corscope; start_mitmdump; matrix "direct proxy peer" ;;
  reference) start_corscope; start_reference; matrix "direct proxy ref" ;;
  all) start_corscope; start_reference; start_mitmdump; matrix "direct proxy ref peer" ;;
  cpu) start_corscope; cpu_matrix ;;
  *) echo "usage: bench/proxy.sh [matrix|rss|peer|reference|all|cpu]" >&2; exit 2 ;;
esac
