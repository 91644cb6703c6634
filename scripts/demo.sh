#!/usr/bin/env bash
# `make demo`: validate, plan, apply and plan again against the bundled Huawei AICC emulator.
# Works on a copy of examples/manifests under .demo/, so the repository stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
work=.demo
rm -rf "$work"
mkdir -p "$work"
cp -R examples/manifests "$work/prompts"

port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AICC_APP_KEY=demo-app-key AICC_APP_SECRET=demo-app-secret
"$BIN/ivrsync" emulator huawei --port "$port" --review-delay 1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null; wait "$emulator" 2>/dev/null || true' EXIT
"$BIN/python" - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the emulator did not start")
PY
export AICC_ENDPOINT="http://127.0.0.1:$port"

run() { echo; echo "\$ ivrsync $*"; "$BIN/ivrsync" -C "$work/prompts" "$@"; }
run validate
# Tencent CCC uploads are not built yet: the demo applies the Huawei resources.
run plan --target 'aicc.*' --out ../plan.json
run apply ../plan.json
run plan --target 'aicc.*'
