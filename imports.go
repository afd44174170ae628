// Package georestrict is a Caddy v2 plugin that enforces national legal
// orders at the edge: it answers HTTP 451 (RFC 7725) to clients in the
// countries an order applies in, or throttles their media uploads.
//
// Importing this package registers the Caddy modules, so that
//
//	xcaddy build --with github.com/georestrict/caddy-georestrict
//
// builds a Caddy with georestrict. The modules live in package caddymodule;
// the country lookup in package geo and the register of orders in package
// blocklist are plain Go libraries.
package georestrict

import (
	// Register the geo_restrict handler and the geo_country matcher.
	_ "github.com/georestrict/caddy-georestrict/caddymodule"
)
