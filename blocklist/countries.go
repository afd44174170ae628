package blocklist

import "strings"

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes (the same 249 as tzdata's
// iso3166.tab). It is embedded rather than taken from a geolocation database so that a typo in a
// register ("RX") is caught when the file is loaded, not discovered as an order that never
// applies. User-assigned codes such as XK (Kosovo in some databases) and the exceptionally
// reserved UK are deliberately absent.
const iso3166 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

// numCountryCodes is the size of the space of two-letter codes; a code's index is
// (first-'A')*26 + (second-'A').
const numCountryCodes = 26 * 26

// countrySet is a bitset over all two-letter codes, so that "does this order apply in RU" is one
// shift and mask on the request path.
type countrySet [(numCountryCodes + 63) / 64]uint64

func (s *countrySet) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s *countrySet) has(i int) bool { return i >= 0 && s[i>>6]&(1<<(i&63)) != 0 }
func (s *countrySet) union(o *countrySet) {
	for i := range s {
		s[i] |= o[i]
	}
}

var assigned = func() (s countrySet) {
	for _, c := range strings.Fields(iso3166) {
		s.add(countryIndex(c))
	}
	return s
}()

// countryIndex maps a two-letter code, in either case, to its index, or -1 when s is not two
// ASCII letters (an unknown client location, for instance, arrives as "").
func countryIndex(s string) int {
	if len(s) != 2 {
		return -1
	}
	a, b := s[0]|0x20, s[1]|0x20
	if a < 'a' || a > 'z' || b < 'a' || b > 'z' {
		return -1
	}
	return int(a-'a')*26 + int(b-'a')
}

func countryCode(i int) string {
	return string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
}
