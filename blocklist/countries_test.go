package blocklist

import (
	"slices"
	"strings"
	"testing"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

func TestIsCountry(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"RU", true},
		{"ru", true},
		{"GB", true},
		{"XK", true}, // Kosovo: user-assigned, but what country databases answer
		{"xk", true},
		{"AN", false}, // the Netherlands Antilles, dissolved in 2010
		{"UK", false}, // exceptionally reserved; the United Kingdom is GB
		{"EU", false},
		{"ZZ", false},
		{"RX", false},
		{"", false},
		{"R", false},
		{"RUS", false},
		{"*", false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := IsCountry(tc.code); got != tc.want {
				t.Errorf("IsCountry(%q) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
	// Every code a register may name has a name for the 451 page.
	n := 0
	for i := range iso3166.Size {
		code := iso3166.Code(i)
		if !IsCountry(code) {
			continue
		}
		n++
		if c, ok := iso3166.Lookup(code); !ok || c.English == "" {
			t.Errorf("%s may be named in a register but has no entry in iso3166", code)
		}
	}
	if n != 250 {
		t.Errorf("%d codes may be named, want the 249 assigned codes and XK", n)
	}
}

func TestParseCountries(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // the codes, or "*"
		err      string
	}{
		{"one", "RU", []string{"RU"}, ""},
		{"sorted, upper-cased, separators", "ru|XK, by\tKZ", []string{"BY", "KZ", "RU", "XK"}, ""},
		{"duplicates merge", "RU ru", []string{"RU"}, ""},
		{"everywhere", "*", []string{"*"}, ""},
		{"empty", " | ", nil, "required"},
		{"typo", "RU RX", nil, `unknown country code "RX"`},
		{"United Kingdom", "uk", nil, `unknown country code "uk" (the United Kingdom is GB)`},
		{"Netherlands Antilles", "AN", nil, `unknown country code "AN" (the Netherlands Antilles were dissolved: name CW, SX or BQ)`},
		{"star and codes", "* RU", nil, `"*" cannot be combined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, anywhere, codes, err := parseCountries(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseCountries(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCountries(%q): %v", tc.in, err)
			}
			if !slices.Equal(codes, tc.want) {
				t.Errorf("codes = %q, want %q", codes, tc.want)
			}
			if anywhere != (tc.want[0] == "*") {
				t.Errorf("anywhere = %v", anywhere)
			}
			for _, c := range codes {
				if c != "*" && !set.has(iso3166.Index(c)) {
					t.Errorf("%s is not in the set", c)
				}
			}
		})
	}
}

// TestKosovoOrder: an order in XK applies to clients that the country
// database places in Kosovo, and only to them.
func TestKosovoOrder(t *testing.T) {
	r := mustRegister(t, "id,countries,target\nxk-1,XK,post:1\n", Options{})
	if o, ok := applies(r, "XK", "/a/status/1", "", testNow); !ok || o.ID != "xk-1" || !slices.Equal(o.Countries, []string{"XK"}) {
		t.Errorf("in XK: %+v, %v; want order xk-1 for XK", o, ok)
	}
	if _, ok := applies(r, "RS", "/a/status/1", "", testNow); ok {
		t.Error("an order in XK applies in RS")
	}
	if !r.HasCountry("xk") || r.HasCountry("RS") {
		t.Error("HasCountry")
	}
}
