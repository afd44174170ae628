package geo

import (
	"net/netip"
	"testing"
)

func TestIsPublic(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true},
		{"77.88.55.88", true},
		{"1.0.0.1", true},
		{"223.255.255.255", true},
		{"0.0.0.0", false},
		{"0.255.255.255", false},
		{"9.255.255.255", true},
		{"10.0.0.0", false},
		{"10.255.255.255", false},
		{"11.0.0.0", true},
		{"100.63.255.255", true},
		{"100.64.0.0", false},
		{"100.127.255.255", false},
		{"100.128.0.0", true},
		{"126.255.255.255", true},
		{"127.0.0.1", false},
		{"128.0.0.0", true},
		{"169.253.255.255", true},
		{"169.254.0.1", false},
		{"169.255.0.0", true},
		{"172.15.255.255", true},
		{"172.16.0.0", false},
		{"172.31.255.255", false},
		{"172.32.0.0", true},
		{"192.0.0.1", false},
		{"192.0.1.1", true},
		{"192.0.2.1", false},
		{"192.0.3.1", true},
		{"192.88.99.1", false},
		{"192.88.98.1", true},
		{"192.167.255.255", true},
		{"192.168.0.1", false},
		{"192.169.0.0", true},
		{"198.17.255.255", true},
		{"198.18.0.0", false},
		{"198.19.255.255", false},
		{"198.20.0.0", true},
		{"198.51.100.7", false},
		{"198.51.101.7", true},
		{"203.0.113.9", false},
		{"203.0.112.9", true},
		{"224.0.0.1", false},
		{"239.255.255.255", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"2a02:6b8::2:242", true},
		{"2001:4860:4860::8888", true},
		{"2001::1", true}, // Teredo is globally routable
		{"2002:5102:4500::1", true},
		{"3ffe:ffff::1", true},
		{"::", false},
		{"::1", false},
		{"::8.8.8.8", false}, // deprecated IPv4-compatible
		{"64:ff9b::808:808", false},
		{"100::1", false},
		{"1fff:ffff::1", false},
		{"4000::1", false},
		{"2001:db8::1", false},
		{"2001:db9::1", true},
		{"2001:2::1", false},
		{"2001:2:1::1", true},
		{"3fff::1", false},
		{"3fff:fff::1", false},
		{"3fff:1000::1", true},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			if got := isPublic(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("isPublic(%s) = %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
	if isPublic(netip.Addr{}) {
		t.Fatal("isPublic(zero Addr) = true")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"8.8.8.8", "8.8.8.8"},
		{"::ffff:8.8.8.8", "8.8.8.8"},
		{"2a02:6b8::1%eth0", "2a02:6b8::1"},
		{"fe80::1%1", "fe80::1"},
		{"::8.8.8.8", "::808:808"}, // IPv4-compatible is not IPv4-mapped
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := normalize(netip.MustParseAddr(tc.in))
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Fatalf("normalize(%s) = %s, want %s", tc.in, got, want)
			}
		})
	}
}
