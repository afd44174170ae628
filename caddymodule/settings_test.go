package caddymodule

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func TestCheckBlockedBy(t *testing.T) {
	tests := []struct {
		name, url string
		want      string // part of the error; "" for none
	}{
		{"https", "https://microblog.example/transparency", ""},
		{"http with port, query and percent-encoding", "http://ops.example:8443/451?site=a%20b&x=%3E", ""},
		{"closing angle bracket", "https://ops.example/a>b", "%3E"},
		{"opening angle bracket", "https://ops.example/<b", "%3C"},
		{"double quote", `https://ops.example/"`, "%22"},
		{"semicolon", "https://ops.example/a;rel=evil", "%3B"},
		{"comma", "https://ops.example/a,b", "%2C"},
		{"space", "https://ops.example/a b", "%20"},
		{"tab", "https://ops.example/a\tb", "control character"},
		{"newline", "https://ops.example/\r\nSet-Cookie: x=1", "control character"},
		{"non-ASCII", "https://ops.example/прозрачность", "non-ASCII"},
		{"relative", "/transparency", "absolute http or https URL"},
		{"no host", "https:///transparency", "absolute http or https URL"},
		{"other scheme", "javascript:alert(1)", "absolute http or https URL"},
		{"mailto", "mailto:ops@example.org", "absolute http or https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBlockedBy(tc.url)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkBlockedBy(%q) = %v, want nil", tc.url, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkBlockedBy(%q) = %v, want an error with %q", tc.url, err, tc.want)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		name, host string
		want       string // part of the error; "" for none
	}{
		{"name", "blog.example.net", ""},
		{"upper case", "Blog.Example.NET", ""},
		{"trailing dot", "blog.example.net.", ""},
		{"single label", "localhost", ""},
		{"unicode", "пример.рф", ""},
		{"punycode", "xn--e1afmkfd.xn--p1ai", ""},
		{"IPv4", "192.0.2.1", ""},
		{"IPv6", "2001:db8::1", ""},
		{"bracketed IPv6", "[2001:db8::1]", ""},
		{"scheme", "https://blog.example.net", "is a URL; give the host name alone, e.g. blog.example.net"},
		{"scheme and path", "http://blog.example.net/feed", "e.g. blog.example.net"},
		{"port", "blog.example.net:443", "has a port; hosts compare without ports, give blog.example.net"},
		{"IPv6 with port", "[2001:db8::1]:443", "port"},
		{"bracketed garbage", "[blog]", "not an IPv6 address"},
		{"path", "blog.example.net/", "has a path"},
		{"query", "blog.example.net?x", "has a path"},
		{"userinfo", "admin@blog.example.net", "has a user name; give the host name alone, e.g. blog.example.net"},
		{"wildcard", "*.example.net", "wildcards are not supported"},
		{"space", "blog example", "space"},
		{"backslash", `blog.example.net\`, "backslash"},
		{"empty", "", "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHost(tc.host)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkHost(%q) = %v, want nil", tc.host, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkHost(%q) = %v, want an error with %q", tc.host, err, tc.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"CIDR and address", []string{"192.0.2.0/24", "2001:db8::1"}, []string{"192.0.2.0/24", "2001:db8::1/128"}, ""},
		{"unmasked CIDR is masked", []string{"192.0.2.77/24"}, []string{"192.0.2.0/24"}, ""},
		{"IPv4-mapped forms become IPv4", []string{"::ffff:192.0.2.1", "::ffff:10.0.0.0/104"}, []string{"192.0.2.1/32", "10.0.0.0/8"}, ""},
		// Caddy's list holds "::1" without a prefix length and "127.0.0.1/8"
		// unmasked; parsing it used to panic.
		{"private_ranges", []string{"private_ranges"},
			[]string{"192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.0/8", "fd00::/8", "::1/128"}, ""},
		{"bad length", []string{"10.0.0.0/33"}, nil, `"10.0.0.0/33"`},
		{"bad address", []string{"10.0.0.300"}, nil, `"10.0.0.300"`},
		{"a name", []string{"localhost"}, nil, "invalid IP address: 'localhost'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePrefixes(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("parsePrefixes(%q) = %v, want an error with %s", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []netip.Prefix
			for _, p := range tc.want {
				want = append(want, netip.MustParsePrefix(p))
			}
			if !slices.Equal(got, want) {
				t.Errorf("parsePrefixes(%q) = %v, want %v", tc.in, got, want)
			}
		})
	}
}

// TestSettingsAreCheckedBeforeLoading gives handlers a bad setting and files
// that do not exist: the error must be about the setting, so it was found
// before anything was read.
func TestSettingsAreCheckedBeforeLoading(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(h *Handler)
		want   string
	}{
		{"unknown_country", func(h *Handler) { h.UnknownCountry = "deny" }, "unknown_country"},
		{"blocked_by", func(h *Handler) { h.BlockedBy = "https://ops.example/a b" }, "blocked_by"},
		{"hosts", func(h *Handler) { h.Hosts = []string{"https://blog.example.net"} }, "hosts"},
		{"page", func(h *Handler) { h.Page = "/nonexistent/451.html" }, "page"},
		{"patterns", func(h *Handler) { h.Patterns = []string{"/status/post"} }, "patterns"},
		{"throttle_burst", func(h *Handler) { h.ThrottleBurst = -1 }, "throttle_burst"},
		{"throttle_max_duration", func(h *Handler) {
			d := caddy.Duration(-time.Minute)
			h.ThrottleMaxDuration = &d
		}, "throttle_max_duration"},
		{"exempt", func(h *Handler) { h.Exempt = []string{"10.0.0.0/33"} }, "exempt"},
		{"geoip_cache", func(h *Handler) { h.GeoIPCache = json.RawMessage("65536") }, "geoip_cache was removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{GeoIPDB: "/nonexistent/db.mmdb", Registers: registers("/nonexistent/register.csv")}
			tc.mutate(h)
			err := h.Provision(newTestContext(t))
			_ = h.Cleanup()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") {
				t.Errorf("Provision = %v, want an error about %s before the files are read", err, tc.want)
			}
			if err := h.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want+":") {
				t.Errorf("Validate = %v, want the same error", err)
			}
		})
	}
}

func TestRecoverProvision(t *testing.T) {
	provision := func(fail func()) (err error) {
		defer recoverProvision("geo_restrict", &err, zap.NewNop())
		fail()
		return errors.New("returned")
	}
	err := provision(func() { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "geo_restrict") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("after a panic: %v, want an error naming the module and the panic", err)
	}
	if err := provision(func() {}); err == nil || err.Error() != "returned" {
		t.Errorf("without a panic: %v, want the returned error", err)
	}
}
