#!/usr/bin/env bash
# Publishes onnxlm as Native AOT for each RID given (default: the host's).
#   artifacts/publish/<rid>/onnxlm            one executable: the ONNX Runtime + GenAI native libraries are embedded
#                                             (deflated) and extracted on first run to ~/.cache/onnxlm/native/<sha256>/
#   artifacts/onnxlm-<version>-<rid>.tar.gz   for package managers: bin/onnxlm (no embedded libraries) + lib/
#   artifacts/symbols/<rid>/                  the debug symbols split off the binaries
# A RID this host cannot build natively (Native AOT does not cross-compile between operating systems) gets a compile
# check instead (including the embedding step), said clearly.
# Options: --sign "Developer ID Application: ..."  sign on macOS (hardened runtime; see docs/PACKAGING.md to notarize)
#          --no-tarball                            skip the second (library-free) build for the tarball
set -euo pipefail
cd "$(dirname "$0")"

sign_identity=""
tarball=1
rids=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sign) sign_identity="${2:?--sign needs an identity}"; shift 2 ;;
    --sign=*) sign_identity="${1#--sign=}"; shift ;;
    --no-tarball) tarball=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "publish.sh: unknown option $1" >&2; exit 2 ;;
    *) rids+=("$1"); shift ;;
  esac
done

host_os=$(uname -s); host_arch=$(uname -m)
case "$host_os" in Linux) hos=linux ;; Darwin) hos=osx ;; *) hos=unknown ;; esac
case "$host_arch" in x86_64|amd64) harch=x64 ;; arm64|aarch64) harch=arm64 ;; *) harch=unknown ;; esac
host_rid="$hos-$harch"
[ ${#rids[@]} -eq 0 ] && rids=("$host_rid")
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' src/OnnxLm/OnnxLm.csproj | head -n1)

if [ -n "$sign_identity" ] && [ "$hos" != osx ]; then
  echo "publish.sh: --sign only works on macOS (codesign); ignoring it on $host_rid"; sign_identity=""
fi

size() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }
human() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }

# Native AOT for another architecture of the same OS needs a cross linker (Linux) or nothing extra (macOS).
can_build() {
  local rid=$1
  [ "${rid%%-*}" = "$hos" ] || return 1
  [ "$rid" = "$host_rid" ] && return 0
  [ "$hos" = osx ] && return 0
  case "${rid##*-}" in arm64) command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 ;; x64) command -v x86_64-linux-gnu-gcc >/dev/null 2>&1 ;; *) return 1 ;; esac
}

# publish RID OUT [extra msbuild args...]: Native AOT publish, failing on any trim/AOT warning.
publish() {
  local rid=$1 out=$2; shift 2
  local log; log=$(mktemp)
  rm -rf "$out"
  if ! dotnet publish src/OnnxLm/OnnxLm.csproj -c Release -r "$rid" -o "$out" "$@" 2>&1 | tee "$log"; then
    rm -f "$log"; return 1
  fi
  if grep -qE "warning (IL|AOT)[0-9]+" "$log"; then
    echo "publish.sh: trim/AOT warnings for $rid (must be zero):"; grep -E "warning (IL|AOT)[0-9]+" "$log" | sort -u
    rm -f "$log"; return 1
  fi
  rm -f "$log"
}

# Symbols: Linux gets onnxlm.dbg, macOS onnxlm.dSYM beside the binary (StripSymbols); keep them out of the artifact.
split_symbols() {
  local from=$1 to=$2
  mkdir -p "$to"
  for s in "$from"/*.dbg "$from"/*.dSYM; do [ -e "$s" ] && { rm -rf "$to/$(basename "$s")"; mv "$s" "$to/"; }; done
  return 0
}

sign() {
  [ -n "$sign_identity" ] || return 0
  local entitlements=artifacts/onnxlm.entitlements
  # The extracted ONNX Runtime dylibs are signed by their vendor, not by us: the hardened runtime's library validation
  # would refuse them without this entitlement.
  cat > "$entitlements" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>com.apple.security.cs.disable-library-validation</key>
  <true/>
</dict>
</plist>
PLIST
  for f in "$@"; do
    codesign --force --timestamp --options runtime --entitlements "$entitlements" --sign "$sign_identity" "$f"
    codesign --verify --strict --verbose=1 "$f"
  done
}

status=0
summary=()
mkdir -p artifacts
for rid in "${rids[@]}"; do
  out="artifacts/publish/$rid"
  if ! can_build "$rid"; then
    echo "publish.sh: $rid cannot be built as Native AOT on $host_rid (no cross-OS AOT, or no cross linker);"
    echo "publish.sh: running a compile check for $rid instead (build on that OS to get the binary)"
    if dotnet build src/OnnxLm/OnnxLm.csproj -c Release -r "$rid" -p:PublishAot=false -p:OnnxLmEmbedNative=true \
         -o "artifacts/check/$rid" >"artifacts/check-$rid.log" 2>&1; then
      echo "publish.sh: compile check for $rid passed (native libraries found and packed)"
      summary+=("$rid: compile check only")
    else
      echo "publish.sh: compile check for $rid FAILED (see artifacts/check-$rid.log)"; tail -20 "artifacts/check-$rid.log"; status=1
    fi
    continue
  fi

  echo "publish.sh: Native AOT publish for $rid -> $out (native libraries embedded)"
  if ! publish "$rid" "$out"; then echo "publish.sh: publish for $rid FAILED"; status=1; continue; fi
  split_symbols "$out" "artifacts/symbols/$rid"
  sign "$out/onnxlm"
  extra=$(find "$out" -mindepth 1 ! -name onnxlm)
  if [ -n "$extra" ]; then echo "publish.sh: $out must hold only the executable, found:"; echo "$extra"; status=1; fi
  line="$rid: onnxlm $(human "$(size "$out/onnxlm")")"

  if [ $tarball -eq 1 ]; then
    lean="artifacts/lean/$rid"
    echo "publish.sh: Native AOT publish for $rid without embedded libraries (tarball)"
    if ! publish "$rid" "$lean" -p:OnnxLmEmbedNative=false; then echo "publish.sh: tarball publish for $rid FAILED"; status=1; continue; fi
    split_symbols "$lean" "artifacts/symbols/$rid/lean"
    stage="artifacts/stage/onnxlm-$version-$rid"
    rm -rf "$stage"; mkdir -p "$stage/bin" "$stage/lib"
    cp "$lean/onnxlm" "$stage/bin/"
    cp "$lean"/libonnxruntime* "$stage/lib/"
    sign "$stage/bin/onnxlm" "$stage"/lib/*
    tgz="artifacts/onnxlm-$version-$rid.tar.gz"
    tar -C artifacts/stage -czf "$tgz" "onnxlm-$version-$rid"
    line="$line, tarball $(human "$(size "$tgz")") (bin/onnxlm $(human "$(size "$stage/bin/onnxlm")") + lib/)"
  fi
  summary+=("$line")
done

echo "publish.sh: sizes"
for s in "${summary[@]}"; do echo "  $s"; done
exit $status
