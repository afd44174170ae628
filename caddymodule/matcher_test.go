package caddymodule

import (
	"strings"
	"testing"
)

// TestMatchCountryCodes: geo_country takes the codes a register may name.
func TestMatchCountryCodes(t *testing.T) {
	tests := []struct {
		name      string
		countries []string
		err       string // part of the error; "" for none
	}{
		{"assigned, either case", []string{"RU", "by"}, ""},
		{"kosovo", []string{"XK"}, ""},
		{"unknown", []string{"unknown"}, ""},
		{"netherlands antilles", []string{"RU", "AN"}, `"AN" is not an ISO 3166-1 alpha-2 country code or XK`},
		{"typo", []string{"RX"}, `"RX"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &MatchCountry{Countries: tc.countries}
			err := m.Provision(newTestContext(t))
			_ = m.Cleanup()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Provision: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Provision error = %v, want %q", err, tc.err)
			}
		})
	}
}
