#!/usr/bin/env bash
# Vendors Apache ECharts (the charting library the dashboards draw with) into the web tier's static
# files, so dashboards work with no internet and no CDN. Re-run it to reproduce the vendored copy;
# bump VERSION and INTEGRITY together to upgrade (npm prints both: `npm view echarts@X dist.integrity`).
set -euo pipefail
VERSION=6.1.0
INTEGRITY="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$HERE/src/lakefront/web/static/vendor/echarts"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack "echarts@$VERSION" --silent >/dev/null
TARBALL="echarts-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "vendor-charts: $TARBALL integrity $GOT does not match the pinned $INTEGRITY" >&2
  exit 1
fi
SHASUM="$(sha1sum "$TARBALL" | cut -d' ' -f1)"
tar -xzf "$TARBALL" package/dist/echarts.min.js package/LICENSE package/NOTICE
mkdir -p "$DEST"
cp package/dist/echarts.min.js package/LICENSE package/NOTICE "$DEST/"
cat > "$DEST/README.md" <<README
# Apache ECharts $VERSION (vendored)

- package: [echarts](https://www.npmjs.com/package/echarts) $VERSION, Apache License 2.0 (LICENSE, NOTICE here)
- file: \`dist/echarts.min.js\` from the npm tarball, unmodified
- tarball: echarts-$VERSION.tgz, shasum $SHASUM, integrity $INTEGRITY
- fetched with: \`npm pack echarts@$VERSION\` (by \`scripts/vendor-charts.sh\`, which checks the integrity)
README
echo "vendor-charts: echarts $VERSION -> ${DEST#"$HERE/"} ($(wc -c < "$DEST/echarts.min.js") bytes)"
