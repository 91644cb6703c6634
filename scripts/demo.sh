#!/usr/bin/env bash
# `make demo`: validate, plan, apply and plan again against the bundled emulators of Huawei AICC
# and Tencent CCC. Works on a copy of examples/manifests under .demo/, so the repository stays
# clean. Tencent fetches each audio file by URL: a loopback static server publishes them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
work=.demo
rm -rf "$work"
mkdir -p "$work"
cp -R examples/manifests "$work/prompts"

free_port() {
  "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
  "$BIN/python" - "$@" <<'PY'
import socket, sys, time
for port in sys.argv[1:]:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"nothing listens on port {port}")
            time.sleep(0.05)
PY
}
huawei_port=$(free_port)
tencent_port=$(free_port)
audio_port=$(free_port)

export AICC_APP_KEY=demo-app-key AICC_APP_SECRET=demo-app-secret
export TENCENTCLOUD_SECRET_ID=AKIDdemo0000000000000000000000000000 TENCENTCLOUD_SECRET_KEY=demo-secret-key
"$BIN/ivrsync" emulator all --huawei-port "$huawei_port" --tencent-port "$tencent_port" \
  --review-delay 1 &
emulator=$!
"$BIN/python" -m http.server "$audio_port" --bind 127.0.0.1 --directory "$work/prompts" \
  >/dev/null 2>&1 &
audio=$!
trap 'kill "$emulator" "$audio" 2>/dev/null; wait "$emulator" "$audio" 2>/dev/null || true' EXIT
wait_for "$huawei_port" "$tencent_port" "$audio_port"

export AICC_ENDPOINT="http://127.0.0.1:$huawei_port"
export CCC_ENDPOINT="http://127.0.0.1:$tencent_port"
export CCC_AUDIO_BASE_URL="http://127.0.0.1:$audio_port"

run() { echo; echo "\$ ivrsync $*"; "$BIN/ivrsync" -C "$work/prompts" "$@"; }
run validate
run plan --out ../plan.json
run apply ../plan.json
run plan
