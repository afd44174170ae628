// Command report turns the measurements of bench/run.sh into a Markdown
// table: for each scenario and side, requests per second and p50 and p99
// latency as the median over rounds with the min–max, and the ratios of side
// B to side A, computed round by round (each round runs A then B back to
// back, so a noisy moment affects both) with their median and min–max.
//
// Usage:
//
//	report -scenarios scenarios.tsv -results results.tsv
//
// scenarios.tsv, one scenario per line, tab-separated:
//
//	key  title  sideA  sideB  minRPSRatio  maxP99Ratio  bodyKiB
//
// (a target given as "-" is not checked); results.tsv, one wrk run per line:
//
//	key  side(A|B)  round  rps  p50µs  p99µs  requests  unexpected  socketErrors
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/georestrict/caddy-georestrict/bench/internal/summary"
)

type scenario struct {
	key, title          string
	sideA, sideB        string
	minRPS, maxP99      float64 // 0: no target
	bodyKiB             float64
	a, b                map[int]run // by round
	unexpected, sockErr [2]int
}

type run struct{ rps, p50, p99 float64 }

func main() {
	scenPath := flag.String("scenarios", "", "scenarios file (tab-separated)")
	resPath := flag.String("results", "", "results file (tab-separated)")
	flag.Parse()
	if *scenPath == "" || *resPath == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: report -scenarios scenarios.tsv -results results.tsv")
		os.Exit(2)
	}
	scens, err := readScenarios(*scenPath)
	if err == nil {
		err = readResults(*resPath, scens)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	write(os.Stdout, scens)
}

func readTSV(path string, fields int, each func(line int, f []string) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != fields {
			return fmt.Errorf("%s: line %d: want %d tab-separated fields, got %d", path, n, fields, len(f))
		}
		if err := each(n, f); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, n, err)
		}
	}
	return sc.Err()
}

func readScenarios(path string) ([]*scenario, error) {
	var scens []*scenario
	err := readTSV(path, 7, func(_ int, f []string) error {
		s := &scenario{key: f[0], title: f[1], sideA: f[2], sideB: f[3], a: map[int]run{}, b: map[int]run{}}
		var err error
		if s.minRPS, err = optFloat(f[4]); err != nil {
			return err
		}
		if s.maxP99, err = optFloat(f[5]); err != nil {
			return err
		}
		if s.bodyKiB, err = optFloat(f[6]); err != nil {
			return err
		}
		scens = append(scens, s)
		return nil
	})
	return scens, err
}

func optFloat(s string) (float64, error) {
	if s == "-" || s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

func readResults(path string, scens []*scenario) error {
	byKey := map[string]*scenario{}
	for _, s := range scens {
		byKey[s.key] = s
	}
	return readTSV(path, 9, func(_ int, f []string) error {
		s, ok := byKey[f[0]]
		if !ok {
			return fmt.Errorf("unknown scenario %q", f[0])
		}
		var nums []float64 // round, rps, p50, p99, requests, unexpected, socket errors
		for i, v := range f[2:] {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("field %d: %w", i+3, err)
			}
			nums = append(nums, x)
		}
		round, r := int(nums[0]), run{rps: nums[1], p50: nums[2], p99: nums[3]}
		side := 0
		switch f[1] {
		case "A":
			s.a[round] = r
		case "B":
			s.b[round] = r
			side = 1
		default:
			return fmt.Errorf("side %q: want A or B", f[1])
		}
		s.unexpected[side] += int(nums[5])
		s.sockErr[side] += int(nums[6])
		return nil
	})
}

func write(w io.Writer, scens []*scenario) {
	fmt.Fprintln(w, "| scenario | side | req/s | p50 ms | p99 ms | B/A req/s | B/A p99 | target | errors |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var notes []string
	for _, s := range scens {
		if len(s.a) == 0 && len(s.b) == 0 {
			continue
		}
		var rpsRatio, p99Ratio []float64
		for round, a := range s.a {
			if b, ok := s.b[round]; ok && a.rps > 0 && a.p99 > 0 {
				rpsRatio = append(rpsRatio, b.rps/a.rps)
				p99Ratio = append(p99Ratio, b.p99/a.p99)
			}
		}
		rr, pr := summary.Of(rpsRatio), summary.Of(p99Ratio)
		for side, runs := range []map[int]run{s.a, s.b} {
			var rps, p50, p99 []float64
			for _, r := range runs {
				rps = append(rps, r.rps)
				p50 = append(p50, r.p50/1000)
				p99 = append(p99, r.p99/1000)
			}
			row := []string{s.title, s.sideA,
				summary.Of(rps).Span("%.0f"), summary.Of(p50).Span("%.2f"), summary.Of(p99).Span("%.2f"),
				"", "", "", errorsCell(s.unexpected[side], s.sockErr[side])}
			if side == 1 {
				row[0], row[1] = "", s.sideB
				row[5], row[6], row[7] = ratio(rr), ratio(pr), verdict(s, rr, pr)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
			if s.bodyKiB > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %.0f MiB/s of request bodies (median)",
					s.title, row[1], summary.Of(rps).Med*s.bodyKiB/1024))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

func ratio(s summary.Stats) string {
	if s == (summary.Stats{}) {
		return "n/a"
	}
	return s.Span("%.3f")
}

// verdict checks the medians of the round-by-round ratios against the
// scenario's targets.
func verdict(s *scenario, rr, pr summary.Stats) string {
	if s.minRPS == 0 && s.maxP99 == 0 {
		return "–"
	}
	var missed []string
	if s.minRPS > 0 && rr.Med < s.minRPS {
		missed = append(missed, fmt.Sprintf("req/s < %.2f", s.minRPS))
	}
	if s.maxP99 > 0 && pr.Med > s.maxP99 {
		missed = append(missed, fmt.Sprintf("p99 > %.2f", s.maxP99))
	}
	if len(missed) > 0 {
		return "**missed** (" + strings.Join(missed, ", ") + ")"
	}
	var want []string
	if s.minRPS > 0 {
		want = append(want, fmt.Sprintf("req/s ≥ %.2f", s.minRPS))
	}
	if s.maxP99 > 0 {
		want = append(want, fmt.Sprintf("p99 ≤ %.2f", s.maxP99))
	}
	return "met (" + strings.Join(want, ", ") + ")"
}

func errorsCell(unexpected, sock int) string {
	if unexpected == 0 && sock == 0 {
		return "0"
	}
	var parts []string
	if unexpected > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected status", unexpected))
	}
	if sock > 0 {
		parts = append(parts, fmt.Sprintf("%d socket", sock))
	}
	return strings.Join(parts, ", ")
}
