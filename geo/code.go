package geo

import "github.com/georestrict/caddy-georestrict/internal/iso3166"

// internCode returns the canonical upper-case code for b, or "" if b is not
// exactly two ASCII letters. The string comes from iso3166's table, so a
// lookup never builds a string from database bytes, which would allocate on
// every request. Databases are not trusted to be tidy: lower-case codes are
// accepted, anything else (names, numbers, "" or "--") is unknown. A
// well-formed code that names no country (ZZ) is returned as it is.
func internCode(b []byte) string {
	return iso3166.Code(iso3166.Index(b))
}
