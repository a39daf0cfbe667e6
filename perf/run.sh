#!/usr/bin/env bash
# Reproduces docs/BENCHMARKS.md: the engine-vs-GenAI comparison (fp32 and int4) and the micro-benchmarks.
# Usage: perf/run.sh [engine|micro|smoke|all]   (default all). Results land in artifacts/perf/ (git-ignored).
# The benchmark models are built once into ~/.cache/onnxlm/bench-models (override with MODEL_CACHE=...).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
out=artifacts/perf
mkdir -p "$out"
project=perf/OnnxLm.Benchmarks
dotnet build -c Release "$project" >/dev/null

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, commit $(git rev-parse --short HEAD)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ "$what" == engine || "$what" == all ]]; then
  # ~8 minutes on 2 cores: 3 repeats of single stream, 8 requests at c=1/4/8 and GenAI (one after another, static batch).
  dotnet run -c Release --no-build --project "$project" -- engine \
    --model-cache "${MODEL_CACHE:-$HOME/.cache/onnxlm/bench-models}" --weights both --repeats "${REPEATS:-3}" \
    --out "$out/engine.json"
fi
if [[ "$what" == micro || "$what" == all ]]; then
  # Out-of-process short job with [MemoryDiagnoser]; also checks the allocation budget.
  dotnet run -c Release --no-build --project "$project" -- --filter '*' --job short --artifacts "$out/bdn"
fi
if [[ "$what" == smoke ]]; then
  # What CI runs: every benchmark once in-process plus the allocation budget (well under a minute).
  dotnet run -c Release --no-build --project "$project" -- smoke --artifacts "$out/bdn-smoke"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
