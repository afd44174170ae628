package geo_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/geo/defaultdb"
	"github.com/georestrict/caddy-georestrict/internal/testmmdb"
)

// testNetworks is stored in every shape. The reserved ranges carry a country
// so that the tests prove Country ignores them rather than finding nothing.
var testNetworks = map[string]string{
	"81.2.69.0/24":     "GB",
	"81.2.69.160/27":   "FR", // narrower, overrides part of the /24
	"89.160.20.112/28": "se", // lower case in the file
	"216.160.83.56/29": "USA",
	"67.43.156.0/24":   "1X",
	"175.16.199.0/24":  "",
	"2a02:6b8::/32":    "RU",
	"2001:480::/32":    "US",
	"10.0.0.0/8":       "DE",
	"100.64.0.0/10":    "DE",
	"127.0.0.0/8":      "DE",
	"169.254.0.0/16":   "DE",
	"172.16.0.0/12":    "DE",
	"192.168.0.0/16":   "DE",
	"192.0.2.0/24":     "DE",
	"198.51.100.0/24":  "DE",
	"203.0.113.0/24":   "DE",
	"224.0.0.0/4":      "DE",
	"240.0.0.0/4":      "DE",
	"fc00::/7":         "DE",
	"fe80::/10":        "DE",
	"ff00::/8":         "DE",
	"2001:db8::/32":    "DE",
	"::/128":           "DE",
	"::1/128":          "DE",
	"0.0.0.0/8":        "DE",
	"198.18.0.0/15":    "DE",
	"3fff::/20":        "DE",
	"2001:2::/48":      "DE",
	"64:ff9b::/96":     "DE",
	"100::/64":         "DE",
	"192.0.0.0/24":     "DE",
	"192.88.99.0/24":   "DE",
}

// lookupCases hold for every shape, GeoIP2 through its fallback too.
var lookupCases = []struct {
	name string
	ip   string
	want string
}{
	{"ipv4", "81.2.69.142", "GB"},
	{"ipv4 narrower network", "81.2.69.170", "FR"},
	{"ipv4 lower-case code", "89.160.20.113", "SE"},
	{"ipv4 not in database", "1.1.1.1", ""},
	{"three-letter code", "216.160.83.57", ""},
	{"digit in code", "67.43.156.1", ""},
	{"empty code", "175.16.199.1", ""},
	{"ipv6", "2a02:6b8::2:242", "RU"},
	{"ipv6 second network", "2001:480::1", "US"},
	{"ipv6 not in database", "2c0f:fb50::1", ""},
	{"ipv4-mapped ipv6", "::ffff:81.2.69.142", "GB"},
	{"ipv6 with zone", "2a02:6b8::1%eth0", "RU"},
	{"6to4 (aliased to IPv4 by mmdbwriter)", "2002:5102:4500::1", "GB"},
	{"private 10/8", "10.1.2.3", ""},
	{"private 172.16/12", "172.20.0.1", ""},
	{"private 192.168/16", "192.168.1.1", ""},
	{"mapped private", "::ffff:10.1.2.3", ""},
	{"loopback", "127.0.0.1", ""},
	{"ipv6 loopback", "::1", ""},
	{"unspecified", "0.0.0.0", ""},
	{"ipv6 unspecified", "::", ""},
	{"this network", "0.1.2.3", ""},
	{"cgnat", "100.64.1.1", ""},
	{"cgnat top", "100.127.255.254", ""},
	{"link-local", "169.254.1.1", ""},
	{"ipv6 link-local", "fe80::1", ""},
	{"ipv6 link-local with zone", "fe80::1%eth0", ""},
	{"unique local", "fd00::1", ""},
	{"multicast", "224.0.0.1", ""},
	{"ipv6 multicast", "ff02::1", ""},
	{"reserved", "240.0.0.1", ""},
	{"broadcast", "255.255.255.255", ""},
	{"documentation 192.0.2", "192.0.2.1", ""},
	{"documentation 198.51.100", "198.51.100.1", ""},
	{"documentation 203.0.113", "203.0.113.1", ""},
	{"ipv6 documentation", "2001:db8::1", ""},
	{"ipv6 documentation 3fff", "3fff::1", ""},
	{"benchmarking", "198.19.0.1", ""},
	{"ipv6 benchmarking", "2001:2::1", ""},
	{"ietf protocol assignments", "192.0.0.8", ""},
	{"6to4 relay anycast", "192.88.99.1", ""},
	{"nat64", "64:ff9b::5102:458e", ""},
	{"discard", "100::1", ""},
}

func openTestDB(t testing.TB, shape testmmdb.Shape) (*geo.Database, string) {
	t.Helper()
	path := testmmdb.WriteFile(t, t.TempDir(), shape, testNetworks)
	db, err := geo.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db, path
}

func openDefault(t testing.TB) *geo.Database {
	t.Helper()
	db, err := geo.OpenDefault()
	if err != nil {
		t.Fatalf("OpenDefault: %v", err)
	}
	return db
}

func TestCountryShapes(t *testing.T) {
	shapes := []struct {
		shape  testmmdb.Shape
		schema geo.Schema
	}{
		{testmmdb.GeoIP2, geo.SchemaGeoIP2},
		{testmmdb.RegisteredOnly, geo.SchemaGeoIP2},
		{testmmdb.IPLocationDB, geo.SchemaIPLocationDB},
	}
	for _, s := range shapes {
		db, _ := openTestDB(t, s.shape)
		if got := db.Info().Schema; got != s.schema {
			t.Errorf("%s: schema = %v, want %v", s.shape, got, s.schema)
		}
		for _, tc := range lookupCases {
			t.Run(s.shape.String()+"/"+tc.name, func(t *testing.T) {
				if got := db.Country(netip.MustParseAddr(tc.ip)); got != tc.want {
					t.Fatalf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
				}
			})
		}
	}
}

func TestCountryZeroAddr(t *testing.T) {
	db, _ := openTestDB(t, testmmdb.GeoIP2)
	if got := db.Country(netip.Addr{}); got != "" {
		t.Fatalf("Country(zero Addr) = %q, want \"\"", got)
	}
}

// TestCountryRegisteredFallback checks that a record's own country wins over
// registered_country and that registered_country is used when it is missing.
func TestCountryRegisteredFallback(t *testing.T) {
	tests := []struct {
		name  string
		shape testmmdb.Shape
		ip    string
		want  string
	}{
		{"country present", testmmdb.GeoIP2, "81.2.69.142", "GB"},
		{"only registered_country", testmmdb.RegisteredOnly, "81.2.69.142", "GB"},
		{"only registered_country ipv6", testmmdb.RegisteredOnly, "2a02:6b8::1", "RU"},
		{"only registered_country, invalid code", testmmdb.RegisteredOnly, "216.160.83.57", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t, tc.shape)
			if got := db.Country(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

// TestDefaultDatabase pins answers of the embedded database. If a refreshed
// database moves one of these networks, check the new answer and update it.
func TestDefaultDatabase(t *testing.T) {
	db := openDefault(t)
	tests := []struct {
		ip   string
		want string
	}{
		{"77.88.55.88", "RU"},
		{"::ffff:77.88.55.88", "RU"}, // the file has no ::ffff:0:0/96 alias
		{"8.8.8.8", "US"},
		{"1.1.1.1", "AU"},
		{"81.2.69.142", "GB"},
		{"2a02:6b8::2:242", "RU"},
		{"2001:4860:4860::8888", "US"},
		{"2a02:6b8::2:242%eth0", "RU"},
		{"10.0.0.1", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			if got := db.Country(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		got := openDefault(t).Info()
		want := geo.Info{
			Name:         "embedded:" + defaultdb.Name,
			Embedded:     true,
			DatabaseType: "country ipvAll",
			BuildTime:    time.Date(2026, 6, 17, 19, 51, 40, 0, time.UTC),
			Schema:       geo.SchemaIPLocationDB,
		}
		if got != want {
			t.Fatalf("Info() = %+v, want %+v", got, want)
		}
	})
	t.Run("file", func(t *testing.T) {
		db, path := openTestDB(t, testmmdb.GeoIP2)
		want := geo.Info{
			Name:         path,
			DatabaseType: "GeoLite2-Country",
			BuildTime:    testmmdb.BuildTime,
			Schema:       geo.SchemaGeoIP2,
		}
		if got := db.Info(); got != want {
			t.Fatalf("Info() = %+v, want %+v", got, want)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		data, err := testmmdb.Build(testmmdb.IPLocationDB, testNetworks)
		if err != nil {
			t.Fatal(err)
		}
		db, err := geo.OpenBytes("inline", data)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Info(); got.Name != "inline" || got.Embedded || got.Schema != geo.SchemaIPLocationDB {
			t.Fatalf("Info() = %+v", got)
		}
	})
}

func TestSchemaString(t *testing.T) {
	tests := []struct {
		schema geo.Schema
		want   string
	}{
		{geo.SchemaUnknown, "unknown"},
		{geo.SchemaGeoIP2, "maxmind"},
		{geo.SchemaIPLocationDB, "ip-location-db"},
		{geo.Schema(42), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.schema.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	build := func(shape testmmdb.Shape, networks map[string]string) []byte {
		data, err := testmmdb.Build(shape, networks)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	real := defaultdb.MMDB()

	tests := []struct {
		name    string
		path    string
		wantErr string
		is      error
	}{
		{"missing", filepath.Join(dir, "missing.mmdb"), "no such file", fs.ErrNotExist},
		{"directory", dir, "directory", nil},
		{"empty", write("empty.mmdb", nil), "file is empty", nil},
		{"not an mmdb", write("text.mmdb", []byte("# not a database\n")), "not a MaxMind DB file", nil},
		{"truncated", write("truncated.mmdb", real[:len(real)/2]), "not a MaxMind DB file", nil},
		{"metadata only", write("meta.mmdb", real[len(real)-200:]), "", nil},
		{"unrecognized shape", write("city.mmdb", build(testmmdb.Unrecognized, testNetworks)), `unrecognized database type "test-city"`, nil},
		{"no records", write("none.mmdb", build(testmmdb.GeoIP2, nil)), "no records", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.Open(tc.path)
			if err == nil {
				t.Fatalf("Open(%s) succeeded, want an error", tc.path)
			}
			msg := err.Error()
			if prefix := "opening geoip database " + tc.path + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if strings.Count(msg, tc.path) != 1 {
				t.Errorf("error %q names the path more than once", msg)
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
		})
	}
}

func TestOpenBytesErrorNamesDatabase(t *testing.T) {
	_, err := geo.OpenBytes("from-config", []byte("garbage"))
	if err == nil || !strings.HasPrefix(err.Error(), "opening geoip database from-config: ") {
		t.Fatalf("OpenBytes error = %v, want it to name from-config", err)
	}
}

// TestConcurrentCountry runs lookups from many goroutines (meaningful under
// -race) and checks they agree with a serial pass.
func TestConcurrentCountry(t *testing.T) {
	db := openDefault(t)
	ips := sampleAddrs(2_000)
	want := make([]string, len(ips))
	for i, ip := range ips {
		want[i] = db.Country(ip)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for round := range 3 {
				for i := range ips {
					j := (i + g*250 + round) % len(ips)
					if got := db.Country(ips[j]); got != want[j] {
						t.Errorf("Country(%s) = %q, want %q", ips[j], got, want[j])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestCountryDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	dbs := []struct {
		name string
		db   *geo.Database
	}{
		{"embedded", openDefault(t)},
	}
	for _, shape := range []testmmdb.Shape{testmmdb.GeoIP2, testmmdb.RegisteredOnly, testmmdb.IPLocationDB} {
		db, _ := openTestDB(t, shape)
		dbs = append(dbs, struct {
			name string
			db   *geo.Database
		}{shape.String(), db})
	}
	ips := []string{
		"77.88.55.88", "::ffff:77.88.55.88", "8.8.8.8", "81.2.69.142",
		"2a02:6b8::2:242", "2a02:6b8::2:242%eth0", "216.160.83.57",
		"1.1.1.1", "10.0.0.1", "fe80::1%eth0", "255.255.255.255",
	}
	for _, d := range dbs {
		for _, s := range ips {
			t.Run(d.name+"/"+s, func(t *testing.T) {
				ip := netip.MustParseAddr(s)
				if n := testing.AllocsPerRun(100, func() { d.db.Country(ip) }); n != 0 {
					t.Fatalf("Country(%s) allocates %v times per call", s, n)
				}
			})
		}
	}
}
