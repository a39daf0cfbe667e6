#!/usr/bin/env bash
# Publishes onnxlm as Native AOT for each RID given (default: the host's). A RID this host cannot build natively
# (Native AOT does not cross-compile between operating systems) gets a compile check instead, said clearly.
# Output: artifacts/publish/<rid>/onnxlm plus the ONNX Runtime native libraries beside it.
set -euo pipefail
cd "$(dirname "$0")"

host_os=$(uname -s); host_arch=$(uname -m)
case "$host_os" in Linux) hos=linux ;; Darwin) hos=osx ;; *) hos=unknown ;; esac
case "$host_arch" in x86_64|amd64) harch=x64 ;; arm64|aarch64) harch=arm64 ;; *) harch=unknown ;; esac
host_rid="$hos-$harch"

rids=("$@")
[ ${#rids[@]} -eq 0 ] && rids=("$host_rid")

status=0
for rid in "${rids[@]}"; do
  out="artifacts/publish/$rid"
  if [ "${rid%%-*}" = "$hos" ] && { [ "$rid" = "$host_rid" ] || [ "$hos" = osx ] || command -v "${rid##*-}-linux-gnu-gcc" >/dev/null 2>&1 || command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; }; then
    echo "publish.sh: Native AOT publish for $rid -> $out"
    log=$(mktemp)
    if ! dotnet publish src/OnnxLm/OnnxLm.csproj -c Release -r "$rid" -o "$out" -p:DebugType=none 2>&1 | tee "$log"; then
      echo "publish.sh: publish for $rid FAILED"; status=1; continue
    fi
    if grep -qE "warning (IL|AOT)[0-9]+" "$log"; then
      echo "publish.sh: trim/AOT warnings for $rid (must be zero):"; grep -E "warning (IL|AOT)[0-9]+" "$log" | sort -u; status=1
    fi
    rm -f "$log"
    ls -la "$out" | sed 's/^/  /'
  else
    echo "publish.sh: $rid cannot be built as Native AOT on $host_rid (no cross-OS AOT); running a compile check instead"
    if ! dotnet build src/OnnxLm/OnnxLm.csproj -c Release -r "$rid" -p:PublishAot=false -o "artifacts/check/$rid" >/dev/null; then
      echo "publish.sh: compile check for $rid FAILED"; status=1
    else
      echo "publish.sh: compile check for $rid passed (build natively on that OS to get the binary)"
    fi
  fi
done
exit $status
