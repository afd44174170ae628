package blocklist

import "github.com/georestrict/caddy-georestrict/internal/iso3166"

// countrySet is a bitset over the indexes of all two-letter codes (iso3166.Index), so that
// "does this order apply in RU" is one shift and mask on the request path.
type countrySet [(iso3166.Size + 63) / 64]uint64

func (s *countrySet) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s *countrySet) has(i int) bool { return i >= 0 && s[i>>6]&(1<<(i&63)) != 0 }
func (s *countrySet) union(o *countrySet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// registrable holds the codes a register may name. The list is fixed rather than taken from the
// country database so that a typo ("RX") is caught when the file is loaded, not discovered as an
// order that never applies. It is the officially assigned ISO 3166-1 codes and XK: Kosovo's code
// is only user-assigned, but country databases answer it for Kosovo, so without it an order there
// could never apply. AN is left out: the Netherlands Antilles were dissolved in 2010, no authority
// orders in their name, and an order for AN would miss Curaçao, Sint Maarten and the Caribbean
// Netherlands, which databases locate as CW, SX and BQ.
var registrable = func() (s countrySet) {
	for _, c := range iso3166.All() {
		if c.Assigned || c.Code == "XK" {
			s.add(iso3166.Index(c.Code))
		}
	}
	return s
}()
