package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/georestrict/caddy-georestrict/bench/internal/summary"
)

// The targets of the throttle scenario (issue 13, target 7), checked on the
// medians over rounds.
const (
	maxCPURatio  = 1.5  // gateway CPU / plain Caddy's, uploads alone
	maxP99Ratio  = 2.0  // other traffic's p99, gateway / plain Caddy
	rateBound    = 0.05 // the gateway's uploads within ±5% of the ordered rate
	resultFields = 16
)

// result is one side of one round, a line of the results file (tab-separated):
//
//	side(A|B)  label  round  uploads  ordered  cpuQuiet  rateQuiet  cpuLoad  rateLoad  rps  p50µs  p99µs  requests  errors  failed  rssKiB
type result struct {
	side, label                  string
	round, uploads               int
	ordered, cpuQuiet, rateQuiet float64
	cpuLoad, rateLoad, rps       float64
	p50, p99                     float64 // µs
	requests, errors, failed     int
	rssKiB                       float64
}

// writeReport prints the results file at path as a Markdown table: per side
// the median (min–max) over rounds, and the gateway's ratios to plain Caddy
// round by round, with the targets.
func writeReport(w io.Writer, path string) error {
	results, err := readResults(path)
	if err != nil {
		return err
	}
	var a, b []result
	for _, r := range results {
		if r.side == "A" {
			a = append(a, r)
		} else {
			b = append(b, r)
		}
	}
	if len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("%s: want results of both sides", path)
	}

	fmt.Fprintln(w, "| side | uploads | CPU, uploads alone (cores) | upload rate / ordered | CPU under other traffic | upload rate / ordered, under other traffic | other traffic req/s | p50 ms | p99 ms | RSS MiB | errors |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, side := range [][]result{a, b} {
		col := func(f func(r result) float64) summary.Stats {
			var xs []float64
			for _, r := range side {
				xs = append(xs, f(r))
			}
			return summary.Of(xs)
		}
		errs, failed := 0, 0
		for _, r := range side {
			errs += r.errors
			failed += r.failed
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			side[0].label, side[0].uploads,
			col(func(r result) float64 { return r.cpuQuiet }).Span("%.3f"),
			col(func(r result) float64 { return r.rateQuiet / r.ordered }).Span("%.3f"),
			col(func(r result) float64 { return r.cpuLoad }).Span("%.2f"),
			col(func(r result) float64 { return r.rateLoad / r.ordered }).Span("%.3f"),
			col(func(r result) float64 { return r.rps }).Span("%.0f"),
			col(func(r result) float64 { return r.p50 / 1000 }).Span("%.2f"),
			col(func(r result) float64 { return r.p99 / 1000 }).Span("%.2f"),
			col(func(r result) float64 { return r.rssKiB / 1024 }).Span("%.0f"),
			errorsCell(errs, failed))
	}

	var cpu, p99 []float64
	for _, ra := range a {
		for _, rb := range b {
			if rb.round == ra.round && ra.cpuQuiet > 0 && ra.p99 > 0 {
				cpu = append(cpu, rb.cpuQuiet/ra.cpuQuiet)
				p99 = append(p99, rb.p99/ra.p99)
			}
		}
	}
	var rate []float64
	for _, r := range b {
		rate = append(rate, r.rateQuiet/r.ordered)
	}
	c, p, q := summary.Of(cpu), summary.Of(p99), summary.Of(rate)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- B/A CPU with the uploads alone: %s, target ≤ %.1f: %s\n", c.Span("%.3f"), maxCPURatio, met(c.Med <= maxCPURatio))
	fmt.Fprintf(w, "- B/A p99 of the other traffic: %s, target ≤ %.1f: %s\n", p.Span("%.3f"), maxP99Ratio, met(p.Med <= maxP99Ratio))
	fmt.Fprintf(w, "- B's upload rate / ordered: %s, target 1 ± %.0f%%: %s\n", q.Span("%.3f"), rateBound*100, met(q.Med >= 1-rateBound && q.Med <= 1+rateBound))
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func errorsCell(errs, failed int) string {
	if errs == 0 && failed == 0 {
		return "0"
	}
	return fmt.Sprintf("%d other-traffic errors, %d uploads failed (all rounds)", errs, failed)
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != resultFields {
			return nil, fmt.Errorf("%s:%d: want %d tab-separated fields, got %d", path, line, resultFields, len(fields))
		}
		var n [resultFields]float64
		for i := 2; i < resultFields; i++ {
			if n[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
				return nil, fmt.Errorf("%s:%d: field %d: %w", path, line, i+1, err)
			}
		}
		if fields[0] != "A" && fields[0] != "B" {
			return nil, fmt.Errorf("%s:%d: side %q: want A or B", path, line, fields[0])
		}
		out = append(out, result{
			side: fields[0], label: fields[1], round: int(n[2]), uploads: int(n[3]),
			ordered: n[4], cpuQuiet: n[5], rateQuiet: n[6], cpuLoad: n[7], rateLoad: n[8],
			rps: n[9], p50: n[10], p99: n[11], requests: int(n[12]), errors: int(n[13]),
			failed: int(n[14]), rssKiB: n[15],
		})
	}
	return out, sc.Err()
}
