package blocklist

// IsCountry reports whether code, in either case, is an assigned ISO 3166-1
// alpha-2 country code: the codes a register may name.
func IsCountry(code string) bool {
	return assigned.has(countryIndex(code))
}
