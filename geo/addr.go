package geo

import "net/netip"

// normalize returns the form of ip that databases are keyed by: IPv4-mapped
// IPv6 addresses become plain IPv4 (an mmdb file need not alias ::ffff:0:0/96,
// and the embedded one does not) and zones are dropped (fe80::1%eth0 is not a
// different place from fe80::1).
func normalize(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}

// isPublic reports whether a normalized ip can belong to a country. Addresses
// that are never routed on the public Internet (RFC 6890 special-purpose
// registries) get no country, and must not get one from a database that
// happens to cover them: a private or CGNAT address says nothing about where
// the client is, only that a proxy in front of the server was not trusted.
func isPublic(ip netip.Addr) bool {
	if ip.Is4() {
		return isPublic4(ip.As4())
	}
	if !ip.Is6() {
		return false // the zero Addr
	}
	a := ip.As16()
	// Everything outside 2000::/3 (global unicast, RFC 4291) is unspecified,
	// loopback, IPv4-compatible, NAT64, discard, unique local, link-local,
	// site-local or multicast: nothing there is assigned to a country.
	if a[0]&0xe0 != 0x20 {
		return false
	}
	switch {
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8:
		return false // 2001:db8::/32 documentation (RFC 3849)
	case a[0] == 0x3f && a[1] == 0xff && a[2]&0xf0 == 0:
		return false // 3fff::/20 documentation (RFC 9637)
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0x02 && a[4] == 0 && a[5] == 0:
		return false // 2001:2::/48 benchmarking (RFC 5180)
	}
	return true
}

func isPublic4(a [4]byte) bool {
	switch a[0] {
	case 0, 10, 127:
		return false // "this network", private (RFC 1918), loopback
	case 100:
		return a[1]&0xc0 != 64 // 100.64.0.0/10 carrier-grade NAT (RFC 6598)
	case 169:
		return a[1] != 254 // 169.254.0.0/16 link-local
	case 172:
		return a[1]&0xf0 != 16 // 172.16.0.0/12 private
	case 192:
		switch {
		case a[1] == 0 && a[2] == 0: // 192.0.0.0/24 IETF protocol assignments
			return false
		case a[1] == 0 && a[2] == 2: // 192.0.2.0/24 documentation
			return false
		case a[1] == 88 && a[2] == 99: // 192.88.99.0/24 deprecated 6to4 relay anycast
			return false
		case a[1] == 168: // 192.168.0.0/16 private
			return false
		}
	case 198:
		if a[1]&0xfe == 18 { // 198.18.0.0/15 benchmarking
			return false
		}
		if a[1] == 51 && a[2] == 100 { // 198.51.100.0/24 documentation
			return false
		}
	case 203:
		if a[1] == 0 && a[2] == 113 { // 203.0.113.0/24 documentation
			return false
		}
	}
	// 224.0.0.0/4 multicast, 240.0.0.0/4 reserved and the broadcast address.
	return a[0] < 224
}
