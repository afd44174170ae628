#!/usr/bin/env bash
# Build ./caddy with georestrict, then check that the modules are in it and
# that Caddyfile.example adapts.
#
# With xcaddy on PATH this is the build users make for production:
#   xcaddy build --with github.com/georestrict/caddy-georestrict=.
# Without it, `go build ./cmd/caddy` builds the same program: cmd/caddy is
# exactly what xcaddy generates.
set -euo pipefail
cd "$(dirname "$0")"

out=${OUTPUT:-./caddy}
if command -v xcaddy >/dev/null 2>&1; then
	echo "building $out with xcaddy"
	xcaddy build --output "$out" --with github.com/georestrict/caddy-georestrict=.
else
	echo "xcaddy not found; building $out with go build ./cmd/caddy"
	go build -trimpath -o "$out" ./cmd/caddy
fi

modules=$("$out" list-modules)
for m in http.handlers.geo_restrict http.matchers.geo_country; do
	if ! grep -qx "$m" <<<"$modules"; then
		echo "error: $out lacks module $m" >&2
		exit 1
	fi
done
"$out" adapt --config Caddyfile.example --validate >/dev/null
echo "ok: $out has http.handlers.geo_restrict and http.matchers.geo_country; Caddyfile.example adapts and validates"
