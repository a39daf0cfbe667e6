#!/usr/bin/env bash
# onnxlm pull vs curl against the tests' fake hub on 127.0.0.1 (docs/BENCHMARKS.md, "Pull"): throughput on a SIZE_MB
# weights file, peak RSS of the pull process for that file and one a quarter of its size, and the time from a
# server-side connection cut to the resumed request. Result: artifacts/perf/pull.json.
# Usage: perf/pull.sh   Environment: SIZE_MB (default 1024), REPEATS (default 3), ONNXLM (default: the Release build)
set -euo pipefail
cd "$(dirname "$0")/.."
rid=$(dotnet --info | awk '/RID:/ {print $2; exit}')
onnxlm="$(realpath "${ONNXLM:-src/OnnxLm/bin/Release/net10.0/$rid/onnxlm}")"
mkdir -p artifacts/perf
dotnet build -c Release src/OnnxLm >/dev/null
dotnet build -c Release perf/OnnxLm.PullBench >/dev/null
dotnet run -c Release --no-build --project perf/OnnxLm.PullBench -- --onnxlm "$onnxlm" \
  --size-mb "${SIZE_MB:-1024}" --repeats "${REPEATS:-3}" --out "$PWD/artifacts/perf/pull.json"
