package geo_test

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/georestrict/caddy-georestrict/geo"
)

// BenchmarkCountry measures lookups in the embedded database over a million
// distinct public addresses (as under a crawl or a flood) and over eight (a
// few busy clients, whose part of the tree stays in the CPU's caches).
func BenchmarkCountry(b *testing.B) {
	db, err := geo.OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	workloads := []struct {
		name string
		ips  func() []netip.Addr
	}{
		{"distinct", benchIPs},
		{"few", func() []netip.Addr { return benchIPs()[:8] }},
	}
	for _, w := range workloads {
		b.Run(w.name+"/serial", func(b *testing.B) {
			ips := w.ips()
			mask := len(ips) - 1 // both lengths are powers of two
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				db.Country(ips[i&mask])
				i++
			}
		})
		b.Run(w.name+"/parallel", func(b *testing.B) {
			ips := w.ips()
			mask := len(ips) - 1
			var worker atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the list from its own place.
				i := int(worker.Add(1)) * 7919 * 31
				for pb.Next() {
					db.Country(ips[i&mask])
					i++
				}
			})
		})
	}
}

// BenchmarkOpenDefault measures what a config reload pays to open the
// embedded database: parsing metadata and recognising the record shape.
func BenchmarkOpenDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := geo.OpenDefault(); err != nil {
			b.Fatal(err)
		}
	}
}
