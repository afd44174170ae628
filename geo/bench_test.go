package geo_test

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/georestrict/caddy-georestrict/geo"
)

// BenchmarkCountry measures lookups in the embedded database with and without
// the cache, over a million distinct public addresses (nearly every lookup a
// cache miss, as under a crawl or a flood) and over eight addresses (every
// lookup a hit, as with a few busy clients). DefaultCacheSize is chosen from
// these numbers; compare runs with benchstat rather than asserting timings.
func BenchmarkCountry(b *testing.B) {
	workloads := []struct {
		name string
		ips  func() []netip.Addr
	}{
		{"distinct", benchIPs},
		{"few", func() []netip.Addr { return benchIPs()[:8] }},
	}
	for _, w := range workloads {
		for _, size := range []int{0, 1 << 16} {
			db, err := geo.OpenDefault(geo.Options{CacheSize: size})
			if err != nil {
				b.Fatal(err)
			}
			prefix := fmt.Sprintf("%s/cache=%d", w.name, size)
			b.Run(prefix+"/serial", func(b *testing.B) {
				ips := w.ips()
				mask := len(ips) - 1 // both lengths are powers of two
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					db.Country(ips[i&mask])
					i++
				}
			})
			b.Run(prefix+"/parallel", func(b *testing.B) {
				ips := w.ips()
				mask := len(ips) - 1
				var worker atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					// Each goroutine walks the list from its own place, so
					// with the large list they do not share cache entries.
					i := int(worker.Add(1)) * 7919 * 31
					for pb.Next() {
						db.Country(ips[i&mask])
						i++
					}
				})
			})
			db.Close()
		}
	}
}

// BenchmarkOpenDefault measures what a config reload pays to open the
// embedded database: parsing metadata and recognising the record shape.
func BenchmarkOpenDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		db, err := geo.OpenDefault(geo.Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
