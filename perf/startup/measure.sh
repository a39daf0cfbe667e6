#!/usr/bin/env bash
# Start-up to /readyz and idle RSS of the published binary (issue 6).
# usage: perf/startup/measure.sh NAME [serve args...]   (ONNXLM_BIN=path to the binary, CACHE=its XDG_CACHE_HOME)
name=$1; shift
port=$(( 30000 + RANDOM % 10000 ))
start=$(date +%s%N)
XDG_CACHE_HOME=${CACHE:-/tmp/onnxlm-startup-cache} ${ONNXLM_BIN:-artifacts/publish/linux-x64/onnxlm} serve --port $port --no-ssd-cache "$@" >/tmp/onnxlm-startup-$name.log 2>&1 &
pid=$!
until curl -fs http://127.0.0.1:$port/readyz >/dev/null 2>&1; do
  kill -0 $pid 2>/dev/null || { echo "$name: server exited before ready:"; cat /tmp/onnxlm-startup-$name.log; exit 1; }
  sleep 0.01
done
end=$(date +%s%N)
sleep 3
rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid
echo "$name: ready in $(( (end-start)/1000000 )) ms, idle RSS $((rss/1024)) MiB"
