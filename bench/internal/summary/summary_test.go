package summary

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want Stats
	}{
		{"none", nil, Stats{}},
		{"one", []float64{2}, Stats{2, 2, 2}},
		{"odd", []float64{3, 1, 2}, Stats{2, 1, 3}},
		{"even", []float64{4, 1, 3, 2}, Stats{2.5, 1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.xs); got != tc.want {
				t.Errorf("Of(%v) = %+v, want %+v", tc.xs, got, tc.want)
			}
		})
	}
	xs := []float64{3, 1, 2}
	Of(xs)
	if xs[0] != 3 || xs[1] != 1 {
		t.Errorf("Of sorted its argument: %v", xs)
	}
}

func TestSpan(t *testing.T) {
	if got, want := (Stats{0.5, 0.25, 1}).Span("%.2f"), "0.50 (0.25–1.00)"; got != want {
		t.Errorf("Span = %q, want %q", got, want)
	}
}
