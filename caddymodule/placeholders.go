package caddymodule

const (
	placeholderCountry   = "http.geo_restrict.country"
	placeholderAction    = "http.geo_restrict.action"
	placeholderOrderID   = "http.geo_restrict.order_id"
	placeholderAuthority = "http.geo_restrict.authority"
	placeholderDryRun    = "http.geo_restrict.dry_run"
)

// The replacer stores values as `any`; converting a string to an interface
// allocates, so the values set on every request are boxed once here and the
// allow path stays free of allocations.
var (
	boxedActionAllow  any = "allow"
	boxedActionExempt any = "exempt"
	boxedActionRefuse any = "refuse"
	boxedNoCountry    any = ""
	boxedCountries    [26 * 26]any
)

func init() {
	for i := range boxedCountries {
		boxedCountries[i] = string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
	}
}

// boxCountry returns country as a pre-boxed interface value.
func boxCountry(country string) any {
	if len(country) != 2 {
		return boxedNoCountry
	}
	a, b := country[0]-'A', country[1]-'A'
	if a >= 26 || b >= 26 {
		return country
	}
	return boxedCountries[int(a)*26+int(b)]
}
