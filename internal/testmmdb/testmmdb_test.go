package testmmdb_test

import (
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/georestrict/caddy-georestrict/internal/testmmdb"
)

func TestBuild(t *testing.T) {
	networks := map[string]string{
		"81.2.69.0/24":   "GB",
		"81.2.69.160/27": "FR",
		"10.0.0.0/8":     "DE",
		"2a02:6b8::/32":  "RU",
	}
	tests := []struct {
		shape    testmmdb.Shape
		dbType   string
		path     []any
		wantKeys []string
	}{
		{testmmdb.GeoIP2, "GeoLite2-Country", []any{"country", "iso_code"}, []string{"continent", "country", "registered_country"}},
		{testmmdb.RegisteredOnly, "GeoLite2-Country", []any{"registered_country", "iso_code"}, []string{"continent", "registered_country"}},
		{testmmdb.IPLocationDB, "ipinfo-style", []any{"country_code"}, []string{"country_code"}},
		{testmmdb.Unrecognized, "test-city", []any{"location", "city"}, []string{"location"}},
	}
	lookups := []struct{ ip, code string }{
		{"81.2.69.142", "GB"},
		{"81.2.69.170", "FR"}, // the narrower network wins
		{"10.1.2.3", "DE"},    // reserved ranges are allowed
		{"2a02:6b8::1", "RU"},
		{"::ffff:81.2.69.142", "GB"}, // mmdbwriter aliases ::ffff:0:0/96
	}
	for _, tc := range tests {
		t.Run(tc.shape.String(), func(t *testing.T) {
			path := testmmdb.WriteFile(t, t.TempDir(), tc.shape, networks)
			db, err := maxminddb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Metadata.DatabaseType != tc.dbType || db.Metadata.IPVersion != 6 ||
				!db.Metadata.BuildTime().Equal(testmmdb.BuildTime) {
				t.Fatalf("metadata = %+v", db.Metadata)
			}
			for _, l := range lookups {
				res := db.Lookup(netip.MustParseAddr(l.ip))
				var record map[string]any
				if err := res.Decode(&record); err != nil {
					t.Fatalf("%s: %v", l.ip, err)
				}
				var keys []string
				for k := range record {
					keys = append(keys, k)
				}
				if !sameSet(keys, tc.wantKeys) {
					t.Fatalf("%s: keys %v, want %v", l.ip, keys, tc.wantKeys)
				}
				var got string
				if err := res.DecodePath(&got, tc.path...); err != nil {
					t.Fatalf("%s: %v", l.ip, err)
				}
				want := l.code
				if tc.shape == testmmdb.Unrecognized {
					want = "City in " + l.code
				}
				if got != want {
					t.Fatalf("%s: %v = %q, want %q", l.ip, tc.path, got, want)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	set := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, v := range s {
			m[v] = true
		}
		return m
	}
	return reflect.DeepEqual(set(a), set(b))
}

func TestBuildIsReproducible(t *testing.T) {
	networks := map[string]string{"81.2.69.0/24": "GB", "1.0.0.0/24": "AU", "2a02:6b8::/32": "RU"}
	a, err := testmmdb.Build(testmmdb.GeoIP2, networks)
	if err != nil {
		t.Fatal(err)
	}
	b, err := testmmdb.Build(testmmdb.GeoIP2, networks)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two builds of the same networks differ")
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name     string
		shape    testmmdb.Shape
		networks map[string]string
	}{
		{"bad cidr", testmmdb.GeoIP2, map[string]string{"81.2.69.0": "GB"}},
		{"not an address", testmmdb.GeoIP2, map[string]string{"example.com/24": "GB"}},
		{"unknown shape", testmmdb.Shape(99), map[string]string{"81.2.69.0/24": "GB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := testmmdb.Build(tc.shape, tc.networks); err == nil {
				t.Fatal("Build succeeded, want an error")
			}
		})
	}
}

func TestWriteFileNamesAreUnique(t *testing.T) {
	dir := t.TempDir()
	a := testmmdb.WriteFile(t, dir, testmmdb.GeoIP2, map[string]string{"81.2.69.0/24": "GB"})
	b := testmmdb.WriteFile(t, dir, testmmdb.GeoIP2, map[string]string{"81.2.69.0/24": "FR"})
	if a == b {
		t.Fatalf("both databases written to %s", a)
	}
	for _, p := range []string{a, b} {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
}
