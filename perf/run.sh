#!/usr/bin/env bash
# Reproduces every table of docs/BENCHMARKS.md. Each section writes machine-readable results (JSON, with the machine,
# commit, load average and command) into artifacts/perf/ (git-ignored); `report` turns them into the tables of
# docs/BENCHMARKS.md (sections between <!-- generated:NAME --> markers are replaced; the prose stays).
#
# Usage: perf/run.sh [SECTION...]      default: all = bandwidth engine prefix context load overhead micro constrained enforcement mask report
#   bandwidth  memory read bandwidth (the decode limit)                                   ~10 s
#   engine     engine vs GenAI Generator, each alone in its own process: single stream, 8 requests, alloc ~12 min
#   prefix     prefix cache: TTFT cached vs cold (RAM, SSD after restart), throughput     ~5 min
#   context    decode tok/s at --context-length 131,072 vs 2,048 (one model, one conversation) ~12 min
#   load       load generator: onnxlm serve vs the GenAI baseline server, c=1/4/8/16      ~15 min
#   overhead   1-token round trips on the tiny model, c=1 and 16, onnxlm vs baseline      ~3 min
#   micro      BenchmarkDotNet micro-benchmarks, --job short, with the allocation budget  ~6 min
#   smoke      what CI runs: every micro-benchmark once in-process + the budget           ~10 s
#   constrained  structured output: the same onnxlm build with and without response_format, int4 benchmark model,
#              chat, c=1 and c=8 (needs a quiet machine)                                   ~6 min
#   enforcement  structured output honesty: refused / accepted and valid / accepted with an invalid output (ajv),
#              over the schema corpus and the JSON-Schema-Test-Suite (correctness; any load) ~15 s
#   mask       structured output: mask time per step at 32k/128k/151k/262k vocabularies, compile time, allocation
#              (needs a quiet machine)                                                     ~3 min
#   report     regenerate the tables of docs/BENCHMARKS.md from artifacts/perf/*.json
# Environment: MODEL_CACHE (default ~/.cache/onnxlm/bench-models; models are built there once, never committed),
#   REPEATS (default 3), THREADS (default 2), QUIET_LOAD (e.g. 2.5: before the first section wait, up to QUIET_WAIT_S
#   seconds (default 1200), until the 1-minute load average is below it; the machine is shared. Later sections do not
#   wait: the measurements themselves keep the load near 2. The load before and after each section is logged in
#   artifacts/perf/run.log and recorded in every result file).
set -euo pipefail
cd "$(dirname "$0")/.."
out=artifacts/perf
mkdir -p "$out"
models="${MODEL_CACHE:-$HOME/.cache/onnxlm/bench-models}"
repeats="${REPEATS:-3}"
threads="${THREADS:-2}"
bench=(dotnet run -c Release --no-build --project perf/OnnxLm.Benchmarks --)
rid=$(dotnet --info | awk '/RID:/ {print $2; exit}')
onnxlm=src/OnnxLm/bin/Release/net10.0/$rid/onnxlm
load=perf/OnnxLm.Load/bin/Release/net10.0/$rid/onnxlm-load
version=$(grep -oP 'FormatVersion = \K[0-9]+' src/OnnxLm.ModelBuilder/ModelBuilder.cs)

sections=("$@")
[[ ${#sections[@]} -eq 0 || " ${sections[*]} " == *" all "* ]] && sections=(bandwidth engine streamed prefix context load overhead micro constrained enforcement mask report)

dotnet build -c Release perf/OnnxLm.Benchmarks >/dev/null
dotnet build -c Release perf/OnnxLm.Load >/dev/null
dotnet build -c Release perf/OnnxLm.Baseline >/dev/null
dotnet build -c Release src/OnnxLm >/dev/null

load1() { cut -d' ' -f1 /proc/loadavg; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/run.log"; }

wait_quiet() {
  [[ -z "${QUIET_LOAD:-}" ]] && return 0
  local waited=0 limit="${QUIET_WAIT_S:-1200}"
  while awk -v l="$(load1)" -v q="$QUIET_LOAD" 'BEGIN {exit !(l >= q)}'; do
    if (( waited >= limit )); then log "load $(load1) still >= $QUIET_LOAD after ${waited} s; measuring anyway"; return 0; fi
    sleep 60; waited=$((waited + 60))
  done
  (( waited > 0 )) && log "waited ${waited} s for load < $QUIET_LOAD"
  return 0
}

model() {   # $1 = fp32|int4|tiny: prints the model directory, building it once
  local dir
  case "$1" in
    tiny) dir="$models/tiny-v$version";  [[ -f "$dir/genai_config.json" ]] || "$onnxlm" make-model "$dir" --preset tiny >&2 ;;
    fp32) dir="$models/benchmark-fp32-v$version"; [[ -f "$dir/genai_config.json" ]] || "$onnxlm" make-model "$dir" --preset benchmark >&2 ;;
    int4) dir="$models/benchmark-int4-v$version"; [[ -f "$dir/genai_config.json" ]] || "$onnxlm" make-model "$dir" --preset benchmark-int4 >&2 ;;
  esac
  echo "$dir"
}

log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, commit $(git rev-parse --short HEAD)"
wait_quiet
failed=()
for section in "${sections[@]}"; do
  log "$section: start, load $(cut -d' ' -f1-3 /proc/loadavg)"
  # A failing section is reported at the end; it does not stop the later ones.
  set +e
  case "$section" in
    bandwidth)
      "${bench[@]}" bandwidth --threads "$(nproc)" --repeats 7 --out "$out/bandwidth.json" ;;
    engine)
      "${bench[@]}" engine --model-cache "$models" --weights both --repeats "$repeats" --threads "$threads" \
        --sections single,batch,alloc --out "$out/engine.json" ;;
    context)
      # Decode batch 1 (ORT runs and the engine), then decode batch 8 (ORT runs only).
      "${bench[@]}" context --repeats 5 --new-tokens 128 --prompt-tokens 256 --out "$out/context.md" &&
        "${bench[@]}" context --repeats 3 --new-tokens 64 --prompt-tokens 256 --runner-only --batch 8 --out "$out/context-batch8.md" ;;
    streamed)
      [[ -x "artifacts/publish/$rid/onnxlm" ]] || ./publish.sh >/dev/null
      "${bench[@]}" streamed --onnxlm "artifacts/publish/$rid/onnxlm" --model-cache "$models" --weights int4 --repeats "$repeats" \
        --threads "$threads" --out "$out/streamed.md" ;;
    prefix)
      "${bench[@]}" prefix --model-cache "$models" --weights fp32 --repeats "$repeats" --out "$out/prefix.md" ;;
    load)
      # Random 128-token prompts (exact token ids), 64 output tokens each, 32 requests per concurrency, greedy.
      "$load" compare --model "$(model fp32)" --threads "$threads" --a-args "--no-ssd-cache" \
        --concurrency 1,4,8,16 --requests 32 --warmup 2 --repeats "$repeats" --input-tokens 128 --output-tokens 64 --ignore-eos \
        --prompt-tokens-exact --token-id-range 256:31000 --out "$out/load-compare.json" --md "$out/load-compare.md" ;;
    overhead)
      # One output token from an 8-token prompt on the tiny model: the round trip is the server's own cost.
      "$load" compare --model "$(model tiny)" --threads "$threads" --a-args "--no-ssd-cache" \
        --concurrency 1,16 --requests 400 --warmup 20 --repeats "$repeats" --input-tokens 8 --output-tokens 1 --ignore-eos \
        --prompt-tokens-exact --token-id-range 256:390 --out "$out/overhead.json" --md "$out/overhead.md" ;;
    micro)
      "${bench[@]}" --filter '*' --job short --artifacts "$out/bdn" --json "$out/micro.json" ;;
    smoke)
      "${bench[@]}" smoke --artifacts "$out/bdn-smoke" ;;
    constrained)
      # A: response_format json_schema (perf/constrained-response-format.json); B: the same build, free text. Chat
      # prompts of random words, 64 output tokens (EOS masked; a document that closes ends early, counted by usage).
      "$load" compare --model "$(model int4)" --threads "$threads" --b-onnxlm --a-name constrained --b-name unconstrained \
        --a-args "--no-ssd-cache" --a-response-format perf/constrained-response-format.json \
        --concurrency 1,8 --requests 16 --warmup 2 --repeats "$repeats" --input-tokens 128 --output-tokens 64 --ignore-eos \
        --out "$out/constrained.json" --md "$out/constrained.md" ;;
    enforcement)
      [[ -d tests/node/node_modules/ajv ]] || (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
      "${bench[@]}" enforcement --out "$out/enforcement.json" ;;
    mask)
      "${bench[@]}" mask-latency --out "$out/mask-latency.json" ;;
    report)
      "${bench[@]}" report --dir "$out" --doc docs/BENCHMARKS.md ;;
    *)
      echo "unknown section '$section' (bandwidth engine streamed prefix context load overhead micro smoke constrained enforcement mask report all)" >&2; exit 2 ;;
  esac
  rc=$?
  set -e
  if (( rc != 0 )); then failed+=("$section"); log "$section: FAILED (exit $rc)"; fi
  log "$section: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
if (( ${#failed[@]} > 0 )); then log "failed sections: ${failed[*]}"; exit 1; fi
