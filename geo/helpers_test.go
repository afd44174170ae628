package geo_test

import (
	"math/rand/v2"
	"net/netip"
	"sync"
)

// publicIPv4 returns n pseudo-random IPv4 addresses outside the private,
// loopback, CGNAT and multicast ranges, so nearly every one reaches the
// database. The seed is fixed so that every run walks the same addresses.
func publicIPv4(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(1, 2))
	ips := make([]netip.Addr, 0, n)
	for len(ips) < n {
		v := r.Uint32()
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !ip.IsGlobalUnicast() || ip.IsPrivate() || v>>24 >= 224 || v>>24 == 100 || v>>24 == 0 {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}

// sampleAddrs returns a deterministic mix of the address forms Country sees:
// IPv4, IPv6 in ranges the registries have allocated, their mapped and zoned
// spellings, and some that must get no country.
func sampleAddrs(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(3, 4))
	v6prefixes := []uint16{0x2001, 0x2400, 0x2600, 0x2800, 0x2a00, 0x2a02, 0x2c0f, 0x2003, 0x240e}
	ips := make([]netip.Addr, 0, n)
	for len(ips) < n {
		var ip netip.Addr
		switch r.IntN(6) {
		case 0, 1:
			v := r.Uint32()
			ip = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		case 2:
			v := r.Uint32()
			ip = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: byte(v >> 24), 13: byte(v >> 16), 14: byte(v >> 8), 15: byte(v)})
		case 3, 4:
			var a [16]byte
			p := v6prefixes[r.IntN(len(v6prefixes))]
			a[0], a[1] = byte(p>>8), byte(p)
			for i := 2; i < 16; i++ {
				a[i] = byte(r.Uint32())
			}
			ip = netip.AddrFrom16(a)
			if r.IntN(4) == 0 {
				ip = ip.WithZone("eth0")
			}
		default:
			var a [16]byte
			for i := range a {
				a[i] = byte(r.Uint32())
			}
			ip = netip.AddrFrom16(a)
		}
		ips = append(ips, ip)
	}
	return ips
}

// benchIPs is built once: four million addresses take a moment to generate.
// They are in random order and take 96 MB, so that neither they nor the
// parts of the database they lead to stay in the CPU's caches.
var benchIPs = sync.OnceValue(func() []netip.Addr { return publicIPv4(1 << 22) })
