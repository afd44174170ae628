package caddymodule

import "testing"

func TestBoxCountry(t *testing.T) {
	for _, country := range []string{"RU", "XK", "AA", "ZZ", ""} {
		t.Run(country, func(t *testing.T) {
			if got := boxCountry(country); got != any(country) {
				t.Fatalf("boxCountry(%q) = %v", country, got)
			}
			if n := testing.AllocsPerRun(100, func() { _ = boxCountry(country) }); n != 0 {
				t.Fatalf("boxCountry(%q) allocates %v times", country, n)
			}
		})
	}
}
