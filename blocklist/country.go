package blocklist

import "github.com/georestrict/caddy-georestrict/internal/iso3166"

// IsCountry reports whether code, in either case, is a country code a register
// may name: an assigned ISO 3166-1 alpha-2 code, or XK for Kosovo.
func IsCountry(code string) bool {
	return registrable.has(iso3166.Index(code))
}
