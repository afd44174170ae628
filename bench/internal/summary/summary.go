// Package summary is how the benchmark reports sum up rounds: the median,
// with the range, since a noisy machine makes a mean misleading.
package summary

import (
	"fmt"
	"slices"
)

// Stats is the median, minimum and maximum of some values.
type Stats struct{ Med, Min, Max float64 }

// Of summarises xs; no values give the zero Stats.
func Of(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{m, s[0], s[len(s)-1]}
}

// Span formats s as "median (min–max)", each with the verb f, e.g. "%.3f".
func (s Stats) Span(f string) string {
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Med, s.Min, s.Max)
}
