package blocklist

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Authorities as they appear in Roskomnadzor's register; the rest is made up.
var benchAuthorities = []string{"Роскомнадзор", "Генпрокуратура", "ФНС", "Мосгорсуд", "МВД"}

// genRegister writes a synthetic register of n orders shaped like a real one: mostly posts
// (snowflake ids, some as URLs), then accounts, exact paths and a few prefixes; a thousand
// decisions shared between them; Russia and neighbours, never "*", so that other countries
// have no orders. It returns the CSV and the total length of the ids.
func genRegister(n int) ([]byte, int) { return genRegisterOf(n, false) }

// genRegisterOf is genRegister; with distinct, every order has its own decision (reference,
// notice and reason), as in a regulator's register, where each entry is one decision.
func genRegisterOf(n int, distinct bool) ([]byte, int) {
	var b strings.Builder
	b.Grow(n * 180)
	b.WriteString("id,countries,target,action,authority,reference,notice,reason,start,end\n")
	idBytes := 0
	countries := []string{"RU", "RU", "RU", "RU|BY", "RU BY KZ"}
	for i := range n {
		id := "rkn-" + strconv.Itoa(i)
		idBytes += len(id)
		decision := i % 1000
		number := decision
		if distinct {
			number = i
		}
		var target string
		switch k := i % 100; {
		case k < 60:
			target = "post:" + strconv.FormatUint(benchPost(i), 10)
		case k < 75:
			target = "https://twitter.example/user" + strconv.Itoa(i) + "/status/" + strconv.FormatUint(benchPost(i), 10) + "?s=20"
		case k < 90:
			target = "@User_" + strconv.Itoa(i)
		case k < 99:
			target = "path:/pages/" + strconv.Itoa(i)
		default:
			target = "path:/media/" + strconv.Itoa(i) + "/*"
		}
		action := ""
		if decision%10 == 0 {
			action = "throttle 64KiB/s"
		}
		reason := "Доступ ограничен по требованию " + benchAuthorities[decision%len(benchAuthorities)]
		if distinct {
			reason += " (решение " + strconv.Itoa(number) + ")"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,2-6-27/2024-05-24-%d-АИ,https://notice.example/rkn/%d,%s,2024-05-%02d,\n",
			id, countries[decision%len(countries)], target, action, benchAuthorities[decision%len(benchAuthorities)],
			number, number, reason, 1+decision%28)
	}
	return []byte(b.String()), idBytes
}

func benchPost(i int) uint64 { return 1700000000000000000 + uint64(i)*7919 }

var (
	benchOnce     sync.Once
	benchRegister *Register
)

func loadBenchRegister(b *testing.B) *Register {
	benchOnce.Do(func() {
		data, _ := genRegister(100_000)
		p := filepath.Join(b.TempDir(), "orders.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		r, err := loadFiles([]string{p}, Options{Hosts: []string{"twitter.example"}})
		if err != nil {
			b.Fatal(err)
		}
		benchRegister = r
	})
	return benchRegister
}

func BenchmarkMatch(b *testing.B) {
	r := loadBenchRegister(b)
	listedPost := strconv.FormatUint(benchPost(0), 10)
	cases := []struct {
		name, country, path, query string
		hit                        bool
	}{
		{"allow/clean", "RU", "/someone/status/1800000000000000001", "", false},
		{"allow/clean-deep", "RU", "/someone/status/1800000000000000001/photo/1", "", false},
		{"allow/upper-case", "RU", "/SomeOne/status/1800000000000000001", "", false},
		{"allow/dirty", "RU", "/x/../SomeOne//status/%31800000000000000001;x/", "", false},
		{"allow/api-query", "RU", "/1.1/statuses/show.json", "id=1800000000000000001&tweet_mode=extended", false},
		{"allow/static", "RU", "/static/js/main.3f2a1b.js", "", false},
		{"allow/no-orders-country", "DE", "/someone/status/1800000000000000001", "", false},
		{"block/post", "RU", "/someone/status/" + listedPost, "", true},
		{"block/account", "RU", "/User_80", "", true},
		{"block/prefix", "RU", "/media/99/x.jpg", "", true},
	}
	for _, tc := range cases {
		if _, ok := applies(r, tc.country, tc.path, tc.query, testNow); ok != tc.hit {
			b.Fatalf("%s: Match = %v, want %v", tc.name, ok, tc.hit)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(tc.country, tc.path, tc.query, testNow)
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.Match(tc.country, tc.path, tc.query, testNow)
				}
			})
		})
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"fast", "/someuser/status/1800000000000000001/photo/1"},
		{"dirty", "/x/../SomeUser//%73tatus/1800000000000000001;jsessionid=1/"},
		{"non-ASCII", "/hashtag/%D0%9F%D0%A0%D0%98%D0%92%D0%95%D0%A2"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CanonicalPath(tc.path)
			}
		})
	}
}

// jsonLines rewrites a CSV register as JSON Lines, the same orders field for field.
func jsonLinesText(b testing.TB, data []byte) []byte {
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	for _, row := range rows[1:] {
		out.WriteByte('{')
		for i, v := range row {
			if v == "" {
				continue
			}
			if out.Bytes()[out.Len()-1] != '{' {
				out.WriteByte(',')
			}
			k, _ := json.Marshal(rows[0][i])
			val, _ := json.Marshal(v)
			out.Write(k)
			out.WriteByte(':')
			out.Write(val)
		}
		out.WriteString("}\n")
	}
	return out.Bytes()
}

// registerAs returns a generated CSV register written as format: csv,
// jsonl or json.
func registerAs(tb testing.TB, data []byte, format string) []byte {
	switch format {
	case "jsonl":
		return jsonLinesText(tb, data)
	case "json":
		return jsonArrayText(tb, data)
	}
	return data
}

// jsonArrayText is jsonLinesText as a JSON array, one element a line.
func jsonArrayText(b testing.TB, data []byte) []byte {
	lines := bytes.TrimSuffix(jsonLinesText(b, data), []byte("\n"))
	return slices.Concat([]byte("[\n"), bytes.ReplaceAll(lines, []byte("}\n{"), []byte("},\n{")), []byte("\n]\n"))
}

// BenchmarkLoad measures Load on generated registers, as CSV, JSON Lines and a JSON array,
// and, in CSV, one in which every order has its own decision (distinct-csv). It reports the
// heap the register keeps per order beyond the ids' own bytes (heapB/order), and beyond all
// of its own text: ids, target values and each distinct authority, reference, notice and
// reason once (heapB/order-beyond-text, with textB/order that text).
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, format := range []string{"csv", "jsonl", "json", "distinct-csv"} {
			b.Run(strconv.Itoa(n)+"/"+format, func(b *testing.B) { benchmarkLoad(b, n, format) })
		}
	}
}

func benchmarkLoad(b *testing.B, n int, format string) {
	loadAsCaddyDoes(b)
	data, idBytes := genRegisterOf(n, format == "distinct-csv")
	data = registerAs(b, data, strings.TrimPrefix(format, "distinct-"))
	p := filepath.Join(b.TempDir(), "orders."+strings.TrimPrefix(format, "distinct-"))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	data = nil
	opts := Options{Hosts: []string{"twitter.example"}}
	b.ReportAllocs()
	b.SetBytes(fileSize(b, p))
	cpu := processCPU(b)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	for b.Loop() {
		if _, err := loadFiles([]string{p}, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// What a load costs a gateway's processors, garbage collection included: on
	// two cores the wall time hides the work done alongside.
	b.ReportMetric((processCPU(b)-cpu).Seconds()/float64(b.N), "cpu-s/op")
	// Collections during a load: in a gateway, each one's mark phase makes requests
	// assist, and its stops delay them.
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.NumGC-gcs)/float64(b.N), "gcs/op")
	// What the register keeps: Go heap (after collection) and the mapping its bulk is kept
	// in outside the heap (offheap.go); both are resident memory.
	before := heapAfterGC()
	r, err := loadFiles([]string{p}, opts)
	if err != nil {
		b.Fatal(err)
	}
	heap := float64(int64(heapAfterGC()) - int64(before))
	kept := heap + float64(r.Stats().OffHeap)
	b.ReportMetric((kept-float64(idBytes))/float64(r.Len()), "B/order")
	text := float64(ownText(r))
	b.ReportMetric(text/float64(r.Len()), "textB/order")
	b.ReportMetric((kept-text)/float64(r.Len()), "B/order-beyond-text")
	b.ReportMetric(heap/float64(r.Len()), "heapB/order")
	runtime.KeepAlive(r)
}

// ownText is the text a register must keep in any form: every id and target value, and
// every distinct authority, reference, notice and reason once.
func ownText(r *Register) int {
	n := 0
	seen := make(map[string]bool)
	r.orders(func(o Order) bool {
		n += len(o.ID) + len(o.Target.Value)
		for _, s := range [...]string{o.Authority, o.Reference, o.Notice, o.Reason} {
			if !seen[s] {
				seen[s] = true
				n += len(s)
			}
		}
		return true
	})
	return n
}

func fileSize(b *testing.B, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
