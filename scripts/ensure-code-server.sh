#!/usr/bin/env bash
# Installs code-server (a real VS Code: server + web workbench + Node extension host) from npm into a cache folder
# outside the clone and prints the path of its binary. Reused when present. Used by the e2e runner and `npm start`
# on machines without a desktop `code`. Offline-safe: needs only the npm registry.
#   ensure-code-server.sh [--installed]   --installed: print the binary if it is already installed, else exit 1
#   CS_VERSION   code-server version (4.100.3 = VS Code 1.100.3, the newest that runs on Node 20)
#   VERDANT_CACHE cache root (default ~/.cache/verdant-dev)
set -euo pipefail
CS_VERSION=${CS_VERSION:-4.100.3}
CACHE=${VERDANT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verdant-dev}
CS_DIR=$CACHE/code-server-$CS_VERSION
BIN=$CS_DIR/node_modules/.bin/code-server
if [ -x "$BIN" ] && [ -f "$CS_DIR/.complete" ]; then echo "$BIN"; exit 0; fi
[ "${1:-}" = "--installed" ] && exit 1

# code-server's postinstall demands one exact Node major; 4.100.x wants 20.
want=$(npm view "code-server@$CS_VERSION" engines.node)
have=$(node -p 'process.versions.node.split(".")[0]')
[ "$want" = "$have" ] || { echo "code-server $CS_VERSION needs Node $want, this is Node $have (set CS_VERSION or use Node $want)" >&2; exit 1; }
NODEDIR=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[ -f "$NODEDIR/include/node/node.h" ] || { echo "no Node headers under $NODEDIR/include/node (install nodejs headers)" >&2; exit 1; }
# The tools its native modules build with (one message with the install line when any is missing).
node "$(dirname "$0")/prerequisites.mjs" --for code-server || exit 1

echo "installing code-server $CS_VERSION into $CS_DIR (about a minute, once)" >&2
rm -rf "$CS_DIR"; mkdir -p "$CS_DIR"
echo '{"private": true}' > "$CS_DIR/package.json"   # its own npm root, so npm does not walk up into the project
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# Older code-server pulls @vscode/ripgrep, whose postinstall downloads rg from GitHub; it first looks in
# $TMPDIR/vscode-ripgrep-cache-<ver>/, so put the system rg there under the asset name it expects.
tgz=$(cd "$TMP" && npm pack --silent "code-server@$CS_VERSION")
rgver=$(tar xzf "$TMP/$tgz" -O package/lib/vscode/npm-shrinkwrap.json |
        node -e 'const s=JSON.parse(require("fs").readFileSync(0));const p=s.packages["node_modules/@vscode/ripgrep"];console.log(p?p.version:"")')
if [ -n "$rgver" ]; then
  rgtgz=$(cd "$TMP" && npm pack --silent "@vscode/ripgrep@$rgver")
  rgtag=$(tar xzf "$TMP/$rgtgz" -O package/lib/postinstall.js | sed -n "s/^const VERSION = '\(.*\)';/\1/p")
  mkdir -p "$TMP/vscode-ripgrep-cache-$rgver" "$TMP/rgbin" && cp "$(command -v rg)" "$TMP/rgbin/rg"
  tar czf "$TMP/vscode-ripgrep-cache-$rgver/ripgrep-$rgtag-x86_64-unknown-linux-musl.tar.gz" -C "$TMP/rgbin" rg
fi
# npm_config_yes: node-pty's postinstall runs `npx node-gyp`; unsafe-perm: the postinstall refuses root without it.
if ! ( export TMPDIR=$TMP npm_config_nodedir=$NODEDIR npm_config_yes=true
       cd "$CS_DIR" && npm install --unsafe-perm --no-audit --no-fund "code-server@$CS_VERSION" > install.log 2>&1 ); then
  tail -40 "$CS_DIR/install.log" >&2; echo "code-server install failed; full log: $CS_DIR/install.log" >&2; exit 1
fi
touch "$CS_DIR/.complete"
echo "$BIN"
