// Package caddymodule is the Caddy glue of georestrict: the
// http.handlers.geo_restrict handler with its geo_restrict Caddyfile
// directive, the http.matchers.geo_country request matcher, their metrics,
// and the country databases and registers they share across sites and
// config reloads.
package caddymodule
