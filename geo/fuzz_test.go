package geo_test

import (
	"net/netip"
	"testing"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/internal/testmmdb"
)

// isCode reports whether s is what Country may return for a known country.
func isCode(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

// FuzzCountry feeds arbitrary address bytes to the embedded database: Country
// must not panic, must return "" or a code, and must give an IPv4 address and
// its IPv4-mapped or zoned spellings one answer.
func FuzzCountry(f *testing.F) {
	for _, s := range []string{
		"77.88.55.88", "::ffff:77.88.55.88", "8.8.8.8", "2a02:6b8::2:242",
		"10.0.0.1", "::1", "fe80::1", "100.64.0.1", "2001:db8::1", "255.255.255.255",
	} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})

	db, err := geo.OpenDefault()
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		got := db.Country(ip)
		if !ok {
			if got != "" {
				t.Fatalf("Country(invalid %x) = %q", b, got)
			}
			return
		}
		if got != "" && !isCode(got) {
			t.Fatalf("Country(%s) = %q, not a country code", ip, got)
		}
		if ip.Is4() {
			mapped := netip.AddrFrom16(ip.As16())
			if c := db.Country(mapped); c != got {
				t.Fatalf("Country(%s) = %q but Country(%s) = %q", mapped, c, ip, got)
			}
		}
		if ip.Is4In6() {
			if c := db.Country(ip.Unmap()); c != got {
				t.Fatalf("Country(%s) = %q but Country(%s) = %q", ip.Unmap(), c, ip, got)
			}
		}
		if ip.Is6() {
			zoned := ip.WithZone("eth0")
			if c := db.Country(zoned); c != got {
				t.Fatalf("Country(%s) = %q but Country(%s) = %q", zoned, c, ip, got)
			}
		}
	})
}

// FuzzOpenBytes feeds damaged database files to OpenBytes: opening must fail
// cleanly or yield a database whose lookups neither panic nor return
// anything but "" or a code, whose IPv4 table, if it has one, answers what
// its search tree does, and which Check can vet. Country databases come from
// downloads, which can be cut short or corrupted.
func FuzzOpenBytes(f *testing.F) {
	networks := map[string]string{
		"81.2.69.0/24":  "GB",
		"2a02:6b8::/32": "RU",
		"1.0.0.0/24":    "au",
		"1.0.1.0/24":    "AUS",
	}
	for _, shape := range []testmmdb.Shape{testmmdb.GeoIP2, testmmdb.RegisteredOnly, testmmdb.IPLocationDB, testmmdb.Unrecognized} {
		data, err := testmmdb.Build(shape, networks)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\xAB\xCD\xEFMaxMind.com"))
	ips := []netip.Addr{
		netip.MustParseAddr("81.2.69.142"),
		netip.MustParseAddr("81.2.70.1"),
		netip.MustParseAddr("200.1.2.3"),
		netip.MustParseAddr("1.0.0.1"),
		netip.MustParseAddr("1.0.1.1"),
		netip.MustParseAddr("2a02:6b8::1"),
		netip.MustParseAddr("2c0f:fb50::1"),
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := geo.OpenBytes("fuzz", data)
		if err != nil {
			return
		}
		for _, ip := range ips {
			got := db.Country(ip)
			if got != "" && !isCode(got) {
				t.Fatalf("Country(%s) = %q, not a country code", ip, got)
			}
			if tree := db.TreeCountry(ip); got != tree {
				t.Fatalf("Country(%s) = %q, but the tree walk answers %q", ip, got, tree)
			}
		}
		// Check vets files like these before they replace a sound one: it
		// must come back, with an error or without.
		_, _ = db.Check()
	})
}
