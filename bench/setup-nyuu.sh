#!/usr/bin/env bash
# Install Nyuu 0.4.0 (the reference uploader for bench/run.py) with its native yEnc module
# built, into NYUU_DIR (default /tmp/nyuu).  Idempotent; needs node, npm, gcc/g++, make and
# python3, and only the npm registry.
#
#   bash bench/setup-nyuu.sh            then   node /tmp/nyuu/node_modules/nyuu/bin/nyuu.js
#
# Nyuu depends on `yencode`, whose install script is `node-gyp rebuild`.  Two things can
# leave it unbuilt:
#   * npm 11 warns that install scripts are "not yet covered by allowScripts" (and later
#     npm versions may skip them), so the build is run explicitly below instead of relying
#     on the install script;
#   * node-gyp downloads Node's headers unless told where they are: Debian's nodejs ships
#     them in /usr/include/node, so --nodedir=/usr (no network needed beyond npm).
set -euo pipefail

NYUU_DIR=${NYUU_DIR:-/tmp/nyuu}
NYUU_VERSION=${NYUU_VERSION:-0.4.0}
NODEDIR=${NODEDIR:-/usr}

log() { printf 'setup-nyuu: %s\n' "$*" >&2; }

if [ ! -f "$NODEDIR/include/node/node.h" ]; then
    log "no Node headers in $NODEDIR/include/node; installing Debian's libnode-dev"
    apt-get install -y -q libnode-dev >/dev/null || apt-get install -y -q nodejs >/dev/null
fi

mkdir -p "$NYUU_DIR"
cd "$NYUU_DIR"
[ -f package.json ] || printf '{\n  "private": true\n}\n' >package.json

have_nyuu() {
    [ -f node_modules/nyuu/package.json ] &&
        [ "$(node -p "require('./node_modules/nyuu/package.json').version")" = "$NYUU_VERSION" ]
}
native_ok() {  # the native module loads and encodes
    node -e "
        const y = require('$NYUU_DIR/node_modules/yencode');
        if (y.encode(Buffer.from('hello')).length < 5) process.exit(1);
    " >/dev/null 2>&1
}

if ! have_nyuu; then
    log "npm install nyuu@$NYUU_VERSION"
    npm install --no-audit --no-fund --foreground-scripts --nodedir="$NODEDIR" \
        "nyuu@$NYUU_VERSION"
fi

if ! native_ok; then
    log "building yencode's native module with node-gyp (nodedir $NODEDIR)"
    # npm's bundled node-gyp; `npm rebuild yencode` does the same through the install script.
    GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
    if [ -f "$GYP" ]; then
        (cd node_modules/yencode && node "$GYP" rebuild --nodedir="$NODEDIR")
    else
        npm rebuild yencode --foreground-scripts --nodedir="$NODEDIR"
    fi
fi

native_ok || { log "yencode's native module still does not load"; exit 1; }
node node_modules/nyuu/bin/nyuu.js --version >/dev/null 2>&1
log "ok: $(node node_modules/nyuu/bin/nyuu.js --version 2>&1 | head -1) in $NYUU_DIR," \
    "yencode $(node -p "require('./node_modules/yencode/package.json').version")," \
    "node $(node --version)"
