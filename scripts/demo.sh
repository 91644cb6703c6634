#!/usr/bin/env bash
# `make demo`: validate, plan, apply and plan again against the bundled emulators of Huawei AICC,
# Tencent CCC and Amazon Connect. Works on a copy of examples/manifests under .demo/, so the
# repository stays clean. Tencent fetches each audio file by URL: a loopback static server
# publishes them. Amazon Connect copies each prompt from S3: an S3 emulator holds what ivrsync
# stages there.
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
review_port=$(free_port)
connect_port=$(free_port)
s3_port=$(free_port)

export AICC_APP_KEY=demo-app-key AICC_APP_SECRET=demo-app-secret
export TENCENTCLOUD_SECRET_ID=AKIDdemo0000000000000000000000000000 TENCENTCLOUD_SECRET_KEY=demo-secret-key
# Amazon Connect's emulator comes with the S3 one it copies prompts from; ivrsync stages the
# audio and creates the prompts with the same (demo) AWS credentials.
export AWS_ACCESS_KEY_ID=AKIADEMO0000CONNECT0 AWS_SECRET_ACCESS_KEY=demo-connect-secret-access-key
"$BIN/ivrsync" emulator all --huawei-port "$huawei_port" --tencent-port "$tencent_port" \
  --amazon-connect-port "$connect_port" --s3-port "$s3_port" --review-delay 1 &
emulator=$!
"$BIN/python" -m http.server "$audio_port" --bind 127.0.0.1 --directory "$work/prompts" \
  >/dev/null 2>&1 &
audio=$!
# Huawei posts review results to callback_url: the review server receives them for refresh.
export IVRSYNC_REVIEW_TOKEN=demo-review-token-0123456789
"$BIN/ivrsync" review-server --listen "127.0.0.1:$review_port" --db "$work/reviews.sqlite3" &
reviews=$!
trap 'kill "$emulator" "$audio" "$reviews" 2>/dev/null; wait "$emulator" "$audio" "$reviews" 2>/dev/null || true' EXIT
wait_for "$huawei_port" "$tencent_port" "$audio_port" "$review_port" "$connect_port" "$s3_port"
# The example has no review server: point Huawei's callbacks at this one.
"$BIN/python" - "$work/prompts/ivrsync.yaml" "$review_port" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
anchor = "    app_secret_env: AICC_APP_SECRET\n"
hook = (
    f"    callback_url: http://127.0.0.1:{port}/callbacks/${{IVRSYNC_REVIEW_TOKEN}}\n"
    f"    reviews_url: http://127.0.0.1:{port}\n"
)
open(path, "w").write(text.replace(anchor, anchor + hook))
PY

export AICC_ENDPOINT="http://127.0.0.1:$huawei_port"
export CCC_ENDPOINT="http://127.0.0.1:$tencent_port"
export CCC_AUDIO_BASE_URL="http://127.0.0.1:$audio_port"
export CONNECT_ENDPOINT="http://127.0.0.1:$connect_port"
export CONNECT_S3_ENDPOINT="http://127.0.0.1:$s3_port"

run() { echo; echo "\$ ivrsync $*"; "$BIN/ivrsync" -C "$work/prompts" "$@"; }
run validate
run plan --out ../plan.json
run apply ../plan.json
run plan
sleep 2  # the emulators review each upload a second after it arrives
run refresh
run status
run output --approved-only --format env
