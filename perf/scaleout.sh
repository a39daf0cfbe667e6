#!/usr/bin/env bash
# Scale-out benchmarks (docs/SCALEOUT.md, issue 15): three `onnxlm serve` replicas (1 ORT thread each: 2 each are too
# many for 2 cores) behind Debian's HAProxy with deploy/haproxy/onnxlm.cfg, sharing a remote KV tier on redis-server.
# Everything runs on 127.0.0.1 and is stopped at the end. Results go to artifacts/perf/scaleout-*.txt.
#
# Usage: perf/scaleout.sh SECTION...
#   ttft       TTFT of a 2,000-token prompt on a replica that never saw it, after another computed it: remote tier on vs
#              off (the prompt's KV then comes from Redis, or is prefilled again)                      ~1 min
#   multiturn  multi-turn chats through HAProxy: cache hit rate and throughput with hashing (prompt_cache_key per
#              conversation), with round robin (no key), and with round robin plus the shared tier     ~10 min
#   soak       DURATION seconds (default 1800; REPLICA_ARGS adds serve arguments, e.g. a --kv-cache-memory) of mixed streamed and plain requests through HAProxy with random client
#              cancellations, one Redis restart at 1/3 and one replica drain-and-restart at 2/3: per-replica RSS
#              (flat within 5 % after warm-up), leaked rows/blocks from /metrics, failed requests
#   smoke      ttft on the tiny model plus a 30-second soak: checks the plumbing, measures nothing
# Environment: MODEL (a model folder; default: the benchmark preset, built once into MODEL_CACHE, default
#   ~/.cache/onnxlm/bench-models), DURATION, WORKERS (soak clients, default 6), QUIET_LOAD (wait until the 1-minute load
#   average is below it before starting; the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
out=artifacts/perf
mkdir -p "$out"
rid=$(dotnet --info | awk '/RID:/ {print $2; exit}')
onnxlm=src/OnnxLm/bin/Release/net10.0/$rid/onnxlm
load=perf/OnnxLm.Load/bin/Release/net10.0/$rid/onnxlm-load
models="${MODEL_CACHE:-$HOME/.cache/onnxlm/bench-models}"
work=$(mktemp -d)
pids=()
declare -A replica_pid
redis_pid=""
haproxy_pid=""

cleanup() {
  for p in "${pids[@]}" $redis_pid $haproxy_pid "${replica_pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "scaleout: $*" >&2; }
now_ms() { date +%s%3N; }

wait_quiet() {
  [ -n "${QUIET_LOAD:-}" ] || return 0
  while awk -v q="$QUIET_LOAD" '{exit !($1 > q)}' /proc/loadavg; do log "load $(cut -d' ' -f1 /proc/loadavg) > $QUIET_LOAD, waiting"; sleep 30; done
}

model_dir() {
  if [ -n "${MODEL:-}" ]; then echo "$MODEL"; return; fi
  local dir="$models/scaleout-benchmark"
  [ -f "$dir/genai_config.json" ] || "$onnxlm" make-model "$dir" --preset benchmark >&2
  echo "$dir"
}

redis_port=$(free_port)
start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --maxmemory 2gb \
    --maxmemory-policy allkeys-lru --logfile "$work/redis.log" --daemonize no &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  log "redis-server did not start"; exit 1
}
stop_redis() {   # an if, not `[ ] && …`: with no Redis running that would return 1 and end the script under set -e
  if [ -n "$redis_pid" ]; then kill -9 "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; redis_pid=""; fi
}

declare -A replica_port
# start_replica N [extra serve arguments...]: replica rN on its own port, 1 thread, its own cache directory.
start_replica() {
  local n=$1; shift
  [ -n "${replica_port[$n]:-}" ] || replica_port[$n]=$(free_port)
  XDG_CACHE_HOME="$work/cache-$n" "$onnxlm" serve --model "$MODEL_DIR" --host 127.0.0.1 --port "${replica_port[$n]}" \
    --threads 1 --replica-name "r$n" "$@" >>"$work/replica-$n.log" 2>&1 &
  replica_pid[$n]=$!
  for _ in $(seq 1200); do
    curl -fs "http://127.0.0.1:${replica_port[$n]}/readyz" >/dev/null 2>&1 && return
    kill -0 "${replica_pid[$n]}" 2>/dev/null || { log "replica $n exited:"; tail -20 "$work/replica-$n.log"; exit 1; }
    sleep 0.1
  done
  log "replica $n not ready"; exit 1
}
stop_replica() { kill -"${2:-TERM}" "${replica_pid[$1]}" 2>/dev/null || true; wait "${replica_pid[$1]}" 2>/dev/null || true; }
start_replicas() { for n in 1 2 3; do start_replica "$n" "$@"; done; }
stop_replicas() { for n in 1 2 3; do stop_replica "$n"; done; }

lb_port=$(free_port)
# start_haproxy [roundrobin]: the repository's configuration, or the same with plain round robin.
start_haproxy() {
  local cfg=deploy/haproxy/onnxlm.cfg
  if [ "${1:-}" = roundrobin ]; then
    cfg="$work/roundrobin.cfg"
    sed -e 's/^\(\s*\)balance hash .*/\1balance roundrobin/' -e '/hash-type consistent/d' -e '/hash-balance-factor/d' deploy/haproxy/onnxlm.cfg >"$cfg"
  fi
  ONNXLM_LB_BIND="127.0.0.1:$lb_port" ONNXLM_REPLICA_1="127.0.0.1:${replica_port[1]}" ONNXLM_REPLICA_2="127.0.0.1:${replica_port[2]}" \
    ONNXLM_REPLICA_3="127.0.0.1:${replica_port[3]}" haproxy -db -f "$cfg" >>"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  sleep 2.5   # health checks admit every replica (inter 1 s, rise 1)
}
stop_haproxy() { kill "$haproxy_pid" 2>/dev/null || true; wait "$haproxy_pid" 2>/dev/null || true; haproxy_pid=""; }

metric() { # metric PORT NAME[{labels prefix] -> value (0 when absent)
  curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m) == 1 { v = $NF } END { print v + 0 }'
}
token_prompt() { # token_prompt SEED LENGTH VOCAB -> JSON array of token ids
  awk -v s="$1" -v n="$2" -v v="$3" 'BEGIN { srand(s); printf "["; for (i = 0; i < n; i++) printf "%s%d", (i ? "," : ""), 10 + int(rand() * (v - 20)); printf "]" }'
}
vocab() { grep -o '"vocab_size": *[0-9]*' "$MODEL_DIR/genai_config.json" | head -1 | grep -o '[0-9]*$'; }

# ttft_of PORT PROMPT_JSON -> "ms cached" (streamed; time to the first chunk with text)
ttft_of() {
  local body="{\"prompt\":$2,\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
  local start; start=$(now_ms)
  curl -sN "http://127.0.0.1:$1/v1/completions" -H 'Content-Type: application/json' -d "$body" >"$work/ttft.txt" 2>/dev/null &
  local cpid=$!
  while ! grep -q '"text":"[^"]' "$work/ttft.txt" 2>/dev/null; do kill -0 $cpid 2>/dev/null || break; sleep 0.002; done
  local first; first=$(now_ms)
  wait $cpid || true
  echo "$((first - start)) $(grep -o '"cached_tokens":[0-9]*' "$work/ttft.txt" | tail -1 | grep -o '[0-9]*$')"
}

section_ttft() {
  local length=${1:-2000} file="$out/scaleout-ttft.txt"
  local v; v=$(vocab)
  wait_quiet
  { echo "# TTFT of a $length-token prompt on a replica that never saw it (computed first on r1), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
    echo "# model $MODEL_DIR, 1 thread per replica, load $(cut -d' ' -f1-3 /proc/loadavg)"; } >"$file"
  for remote in on off; do
    local args=(--no-ssd-cache)
    [ $remote = on ] && { start_redis; args+=(--remote-kv "redis://127.0.0.1:$redis_port"); }
    start_replica 1 "${args[@]}"; start_replica 2 "${args[@]}"
    for rep in 1 2 3; do
      local prompt; prompt=$(token_prompt "$((rep * 7919))" "$length" "$v")
      read -r ms1 _ < <(ttft_of "${replica_port[1]}" "$prompt")
      sleep 1   # the writer's queue drains
      read -r ms2 cached2 < <(ttft_of "${replica_port[2]}" "$prompt")
      echo "remote $remote repeat $rep: r1 (cold) ${ms1} ms; r2 (never saw it) ${ms2} ms, cached_tokens ${cached2:-0}" | tee -a "$file"
    done
    echo "remote $remote: r2 remote hits $(metric "${replica_port[2]}" onnxlm:remote_kv_hits_total), round trip $(metric "${replica_port[2]}" onnxlm:remote_kv_round_trip_seconds) s, prefill $(metric "${replica_port[2]}" onnxlm:prefill_tokens_per_second) tok/s" | tee -a "$file"
    stop_replica 1; stop_replica 2; stop_redis
  done
}

section_multiturn() {
  local file="$out/scaleout-multiturn.txt" requests=${REQUESTS:-48}
  wait_quiet
  { echo "# multi-turn chats through HAProxy, 3 replicas x 1 thread, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
    echo "# model $MODEL_DIR, load $(cut -d' ' -f1-3 /proc/loadavg)"; } >"$file"
  for mode in hashing roundrobin roundrobin+redis; do
    local args=(--no-ssd-cache) keys=()
    [ $mode = roundrobin+redis ] && { start_redis; args+=(--remote-kv "redis://127.0.0.1:$redis_port"); }
    [ $mode = hashing ] && keys=(--session-keys)
    start_replicas "${args[@]}"
    start_haproxy "$([ $mode = hashing ] || echo roundrobin)"
    "$load" --url "http://127.0.0.1:$lb_port" --workload multi-turn --turns 4 --input-tokens 400 --turn-tokens 60 \
      --output-tokens 48 --ignore-eos --concurrency 6 --requests "$requests" "${keys[@]}" --md "$work/mt.md" >/dev/null 2>"$work/mt.err" || true
    local prompt=0 cached=0
    for n in 1 2 3; do
      prompt=$((prompt + $(metric "${replica_port[$n]}" vllm:prompt_tokens_total | cut -d. -f1)))
      cached=$((cached + $(metric "${replica_port[$n]}" onnxlm:cached_prompt_tokens_total | cut -d. -f1)))
    done
    { echo "## $mode: cached $cached of $((prompt + cached)) prompt tokens ($(awk -v c=$cached -v p=$prompt 'BEGIN { printf "%.1f", p + c ? 100 * c / (p + c) : 0 }') %)"
      cat "$work/mt.md"; } | tee -a "$file"
    stop_haproxy; stop_replicas; stop_redis
  done
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

section_soak() {
  local duration=${DURATION:-1800} workers=${WORKERS:-6} file="$out/scaleout-soak.txt"
  local v; v=$(vocab)
  local context; context=$(grep -o '"context_length": *[0-9]*' "$MODEL_DIR/genai_config.json" | head -1 | grep -o '[0-9]*$')
  [ "$context" -le 2048 ] || context=2048
  wait_quiet
  start_redis
  # shellcheck disable=SC2086  # REPLICA_ARGS: extra serve arguments, word-split on purpose (e.g. "--kv-cache-memory 512M")
  start_replicas --no-ssd-cache --remote-kv "redis://127.0.0.1:$redis_port" ${REPLICA_ARGS:-}
  start_haproxy
  { echo "# soak: $duration s through HAProxy, $workers clients, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
    echo "# model $MODEL_DIR, load $(cut -d' ' -f1-3 /proc/loadavg)"; } >"$file"
  local end=$(( $(date +%s) + duration ))
  client() { # one client: mixed streamed/plain requests, 10 % cancelled at a random moment
    local w=$1 i=0
    while [ "$(date +%s)" -lt "$end" ]; do
      i=$((i + 1))
      local stream=$(( RANDOM % 2 )) cancel=$(( RANDOM % 10 == 0 )) key="soak-$w-$(( RANDOM % 8 ))"
      local length=$(( 64 + RANDOM % (context / 2) ))
      local prompt; prompt=$(token_prompt "$(( (w * 100000 + i) % 50 ))" "$length" "$v")
      local body="{\"prompt\":$prompt,\"max_tokens\":$(( 8 + RANDOM % (context - length - 8 < 120 ? context - length - 8 : 120) )),\"temperature\":0,\"prompt_cache_key\":\"$key\",\"stream\":$([ $stream = 1 ] && echo true || echo false)}"
      local max=120; [ $cancel = 1 ] && max="0.$(( 1 + RANDOM % 9 ))"
      if out_text=$(curl -s --max-time "$max" "http://127.0.0.1:$lb_port/v1/completions" -H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}'); then
        local code=${out_text##*$'\n'}
        if [ "$code" = 200 ] && { [ $stream = 0 ] || grep -q '^data: \[DONE\]' <<<"$out_text"; }; then echo ok; else echo "failed $code"; fi
      elif [ $cancel = 1 ]; then echo cancelled
      else echo "failed curl"
      fi
    done >"$work/client-$w.txt"
  }
  for w in $(seq "$workers"); do client "$w" & pids+=($!); done
  local t0 last_minute=-1; t0=$(date +%s) redis_done=0 drain_done=0 warm=$(( duration / 10 < 120 ? duration / 10 : 120 ))
  declare -A rss_warm rss_last
  while [ "$(date +%s)" -lt "$end" ]; do
    local t=$(( $(date +%s) - t0 ))
    if [ $redis_done = 0 ] && [ $t -ge $(( duration / 3 )) ]; then
      log "restarting redis"; stop_redis; sleep 2; start_redis; redis_done=1; echo "t=$t s: redis restarted" >>"$file"
    fi
    if [ $drain_done = 0 ] && [ $t -ge $(( 2 * duration / 3 )) ]; then
      # shellcheck disable=SC2086
      log "draining r2"; stop_replica 2 TERM; start_replica 2 --no-ssd-cache --remote-kv "redis://127.0.0.1:$redis_port" ${REPLICA_ARGS:-}
      drain_done=1; unset 'rss_warm[2]'; echo "t=$t s: r2 drained (exit by SIGTERM) and restarted" >>"$file"
    fi
    for n in 1 2 3; do
      local r; r=$(rss_kb "${replica_pid[$n]}")
      [ -z "${rss_warm[$n]:-}" ] && [ $t -ge $warm ] && rss_warm[$n]=$r
      rss_last[$n]=$r
    done
    # One line a minute: the RSS curve, to tell a pool filling up to its size from a leak.
    if [ $(( t / 60 )) -gt "$last_minute" ]; then
      last_minute=$(( t / 60 ))
      echo "t=$t s: RSS kB r1 ${rss_last[1]} r2 ${rss_last[2]} r3 ${rss_last[3]}" >>"$file"
    fi
    sleep 5
  done
  wait "${pids[@]}" 2>/dev/null || true
  sleep 2
  local ok cancelled failed
  ok=$(cat "$work"/client-*.txt | grep -c '^ok' || true)
  cancelled=$(cat "$work"/client-*.txt | grep -c '^cancelled' || true)
  failed=$(cat "$work"/client-*.txt | grep -c '^failed' || true)
  { echo "requests: $ok ok, $cancelled cancelled by the client, $failed failed"
    for n in 1 2 3; do
      local p=${replica_port[$n]}
      echo "r$n: RSS after warm-up ${rss_warm[$n]:-?} kB, at the end ${rss_last[$n]} kB ($(awk -v a="${rss_warm[$n]:-0}" -v b="${rss_last[$n]}" 'BEGIN { printf "%+.1f", a ? 100 * (b - a) / a : 0 }') %); idle: running $(metric "$p" vllm:num_requests_running), slots used $(metric "$p" onnxlm:kv_slots_used), remote hits $(metric "$p" onnxlm:remote_kv_hits_total), breaker opened/closed $(metric "$p" onnxlm:remote_kv_breaker_opened_total)/$(metric "$p" onnxlm:remote_kv_breaker_closed_total)"
    done
    { grep '^failed' "$work"/client-*.txt || true; } | sort | uniq -c | head -5; } | tee -a "$file"
  stop_haproxy; stop_replicas; stop_redis
}

dotnet build -c Release src/OnnxLm >/dev/null
dotnet build -c Release perf/OnnxLm.Load >/dev/null
for bin in redis-server redis-cli haproxy python3 curl; do command -v "$bin" >/dev/null || { log "$bin is missing"; exit 2; }; done
[ $# -gt 0 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
for section in "$@"; do
  case "$section" in
    ttft) MODEL_DIR=$(model_dir); section_ttft 2000 ;;
    multiturn) MODEL_DIR=$(model_dir); section_multiturn ;;
    soak) MODEL_DIR=$(model_dir); section_soak ;;
    smoke)
      MODEL_DIR="$work/tiny"; "$onnxlm" make-model "$MODEL_DIR" --preset tiny >/dev/null
      [ -n "${SKIP_TTFT:-}" ] || section_ttft 300
      DURATION=30 WORKERS=3 section_soak ;;
    *) log "unknown section $section"; exit 2 ;;
  esac
done
