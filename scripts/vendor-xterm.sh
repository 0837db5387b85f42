#!/usr/bin/env bash
# Refresh the dashboard's vendored xterm.js (ao/web/static/vendor/xterm) from the npm
# registry: the release's ES module build, its stylesheet and license, and the fit addon.
# Only these files are committed; nothing is fetched at install or run time.
#
#   scripts/vendor-xterm.sh                        # the pinned versions below
#   XTERM=6.0.0 XTERM_FIT=0.11.0 scripts/vendor-xterm.sh
#
# After a version change, run the dashboard's browser test (tests/test_web_page.py).
set -euo pipefail

xterm="${XTERM:-6.0.0}"
fit="${XTERM_FIT:-0.11.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/../ao/web/static/vendor/xterm"

if ! command -v npm >/dev/null 2>&1; then
    echo "vendor-xterm: npm is not installed (apt-get install -y nodejs npm)" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@xterm/xterm@$xterm" "@xterm/addon-fit@$fit" >/dev/null)
mkdir -p "$work/xterm" "$work/fit"
tar -xzf "$work/xterm-xterm-$xterm.tgz" -C "$work/xterm"
tar -xzf "$work/xterm-addon-fit-$fit.tgz" -C "$work/fit"

rm -rf "$dest"
mkdir -p "$dest"
# the source maps are not shipped: drop the comments that point at them
sed '/^\/\/# sourceMappingURL=/d' "$work/xterm/package/lib/xterm.mjs" >"$dest/xterm.mjs"
sed '/^\/\/# sourceMappingURL=/d' "$work/fit/package/lib/addon-fit.mjs" >"$dest/addon-fit.mjs"
cp "$work/xterm/package/css/xterm.css" "$dest/xterm.css"
cp "$work/xterm/package/LICENSE" "$dest/LICENSE"
cp "$work/fit/package/LICENSE" "$dest/LICENSE.addon-fit"
cat >"$dest/VERSIONS" <<VERSIONS
@xterm/xterm $xterm
@xterm/addon-fit $fit
from the npm registry by scripts/vendor-xterm.sh; MIT licensed (LICENSE, LICENSE.addon-fit)
VERSIONS
echo "vendor-xterm: @xterm/xterm $xterm and @xterm/addon-fit $fit in ${dest#"$here/../"}"
