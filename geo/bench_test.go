package geo_test

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/geo/defaultdb"
)

// A benchDatabase is a database file the benchmarks open and look up in.
type benchDatabase struct {
	name string
	data []byte
}

// benchDatabases are the embedded database; the real one deployments use,
// when it is on this machine and not the same bytes; the files listed in
// GEO_BENCH_MMDB (separated like PATH), e.g. a GeoLite2-City; and, when
// GEO_BENCH_CITY is a number of networks, a generated city-sized database.
var benchDatabases = sync.OnceValue(func() []benchDatabase {
	dbs := []benchDatabase{{"embedded", defaultdb.MMDB()}}
	if data, err := os.ReadFile(geo.RealDatabase); err == nil && !bytes.Equal(data, defaultdb.MMDB()) {
		dbs = append(dbs, benchDatabase{"file", data})
	}
	for _, path := range filepath.SplitList(os.Getenv("GEO_BENCH_MMDB")) {
		if data, err := os.ReadFile(path); err == nil {
			dbs = append(dbs, benchDatabase{filepath.Base(path), data})
		}
	}
	if n, err := strconv.Atoi(os.Getenv("GEO_BENCH_CITY")); err == nil && n > 0 {
		dbs = append(dbs, benchDatabase{"city" + strconv.Itoa(n), cityDatabase(n)})
	}
	return dbs
})

// BenchmarkCountry measures Country (lookup=table, the IPv4 table) against
// the search tree walk it replaces (lookup=tree), in the same run, over four
// million distinct public IPv4 addresses in random order (as under a crawl or
// a flood: neither the addresses nor the parts of the database they lead to
// stay in the CPU's caches) and over eight (a few busy clients, whose part of
// the database does). Compare with benchstat -col /lookup.
func BenchmarkCountry(b *testing.B) {
	workloads := []struct {
		name string
		ips  func() []netip.Addr
	}{
		{"distinct", benchIPs},
		{"few", func() []netip.Addr { return benchIPs()[:8] }},
	}
	for _, d := range benchDatabases() {
		db, err := geo.OpenBytes(d.name, d.data)
		if err != nil {
			b.Fatal(err)
		}
		lookups := []struct {
			name    string
			country func(netip.Addr) string
		}{
			{"table", db.Country},
			{"tree", db.TreeCountry},
		}
		for _, w := range workloads {
			for _, l := range lookups {
				name := "db=" + d.name + "/addrs=" + w.name + "/lookup=" + l.name
				b.Run(name+"/serial", func(b *testing.B) {
					ips := w.ips()
					mask := len(ips) - 1 // both lengths are powers of two
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						l.country(ips[i&mask])
						i++
					}
				})
				b.Run(name+"/parallel", func(b *testing.B) {
					ips := w.ips()
					mask := len(ips) - 1
					var worker atomic.Int64
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						// Each goroutine walks the list from its own place.
						i := int(worker.Add(1)) * 7919 * 31
						for pb.Next() {
							l.country(ips[i&mask])
							i++
						}
					})
				})
			}
		}
	}
}

// BenchmarkOpen measures what opening a database costs, as a config load or
// a geoipupdate replacing the file does: the metadata, the schema, and the
// IPv4 table, whose size it reports.
func BenchmarkOpen(b *testing.B) {
	for _, d := range benchDatabases() {
		b.Run("db="+d.name, func(b *testing.B) {
			b.ReportAllocs()
			var db *geo.Database
			for b.Loop() {
				var err error
				if db, err = geo.OpenBytes(d.name, d.data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(db.IPv4TableSize()), "table-bytes")
		})
	}
}

// BenchmarkIPv4TableBuild measures building the IPv4 table alone: Open's
// share of BenchmarkOpen that the table adds.
func BenchmarkIPv4TableBuild(b *testing.B) {
	for _, d := range benchDatabases() {
		b.Run("db="+d.name, func(b *testing.B) {
			db, err := geo.OpenBytes(d.name, d.data)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			size := 0
			for b.Loop() {
				size = geo.BuildIPv4Table(db, d.data)
			}
			b.ReportMetric(float64(size), "table-bytes")
		})
	}
}

// BenchmarkOpenDefault measures what a config reload pays to open the
// embedded database: parsing metadata, recognising the record shape and
// building the IPv4 table.
func BenchmarkOpenDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := geo.OpenDefault(); err != nil {
			b.Fatal(err)
		}
	}
}

// cityDatabase generates a GeoIP2-City-shaped database of n IPv4 networks,
// mostly /24s, some wider and some narrower, each with a record of its own
// city (one of 50,000) and a country that changes every million addresses
// and, for one network in ten, in between: the shape that makes a table
// large and slow to build, many distinct records and many changes of
// country. mmdbwriter inserts about 50,000 networks a second.
func cityDatabase(n int) []byte {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-City",
		IPVersion:               6,
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	codes := []string{"RU", "US", "DE", "GB", "FR", "CN", "JP", "BR", "IN", "NL"}
	region := codes[0]
	for a, i := uint64(0), 0; a < 1<<32 && i < n; i++ {
		var bitsLen int
		switch p := r.IntN(100); {
		case p < 70:
			bitsLen = 24
		case p < 85:
			bitsLen = 22 + r.IntN(2)
		case p < 93:
			bitsLen = 25 + r.IntN(8)
		default:
			bitsLen = 16 + r.IntN(6)
		}
		if a != 0 {
			bitsLen = max(bitsLen, 32-bits.TrailingZeros32(uint32(a))) // aligned
		}
		if a&0xfffff == 0 {
			region = codes[r.IntN(len(codes))]
		}
		code := region
		if r.IntN(10) == 0 {
			code = codes[r.IntN(len(codes))]
		}
		rec := mmdbtype.Map{
			"city": mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(r.IntN(50000)),
				"names":      mmdbtype.Map{"en": mmdbtype.String("City")},
			},
			"country":            mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1), "iso_code": mmdbtype.String(code)},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(region)},
		}
		ip := net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4()
		if err := tree.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bitsLen, 32)}, rec); err != nil {
			panic(err)
		}
		a += 1 << (32 - bitsLen)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
