package blocklist

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkLoadFile loads the register files named in $BENCH_REGISTER (separated by
// commas), such as bench/genregister writes, and reports the wall and CPU time of a load,
// the live heap the register keeps (after collection), the memory it keeps outside the heap
// (offheap.go) and the process's peak resident memory (Linux). Skipped without $BENCH_REGISTER. Run it alone, one file at a time, so
// that the peak is this load's:
//
//	go run ./bench/genregister -distinct -o /tmp/distinct.csv
//	BENCH_REGISTER=/tmp/distinct.csv go test -run '^$' -bench LoadFile -benchtime 3x ./blocklist
func BenchmarkLoadFile(b *testing.B) {
	env := os.Getenv("BENCH_REGISTER")
	if env == "" {
		b.Skip("set BENCH_REGISTER to register files")
	}
	loadAsCaddyDoes(b)
	paths := strings.Split(env, ",")
	var size int64
	for _, p := range paths {
		size += fileSize(b, p)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	before := heapAfterGC()
	cpu := processCPU(b)
	var r *Register
	for b.Loop() {
		r = nil
		var err error
		if r, err = loadFiles(paths, Options{Hosts: []string{"twitter.example"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((processCPU(b)-cpu).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(int64(heapAfterGC())-int64(before))/(1<<20), "heap-MB")
	b.ReportMetric(float64(r.Stats().OffHeap)/(1<<20), "offheap-MB")
	b.ReportMetric(float64(r.Len()), "orders")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	}
	runtime.KeepAlive(r)
}

// peakRSS is the process's peak resident memory, from /proc (Linux), or 0.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// BenchmarkGCWithRegister measures what holding a register costs a process's garbage
// collector. It holds no register, a million orders with a thousand decisions, or a million
// orders each with its own decision, then allocates as a server does (short-lived linked
// objects, 1 MiB per op) and reports from runtime/metrics:
//
//   - gc-cycles/op: collections per MiB allocated (a larger live heap makes them rarer);
//   - mark-cpu-µs/cycle: CPU time spent marking, per collection: what the heap costs each
//     time, which a register the collector must look into makes longer;
//   - mark-cpu-µs/op: the same per MiB allocated: what the process pays in all;
//   - scan-heap-MB: heap the collector must scan (/gc/scan/heap), and live-heap-MB.
func BenchmarkGCWithRegister(b *testing.B) {
	for _, tc := range []struct {
		name     string
		n        int
		distinct bool
	}{
		{"none", 0, false},
		{"1000000", 1_000_000, false},
		{"1000000-distinct", 1_000_000, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var r *Register
			if tc.n > 0 {
				data, _ := genRegisterOf(tc.n, tc.distinct)
				p := filepath.Join(b.TempDir(), "orders.csv")
				if err := os.WriteFile(p, data, 0o644); err != nil {
					b.Fatal(err)
				}
				data = nil
				var err error
				if r, err = loadFiles([]string{p}, Options{Hosts: []string{"twitter.example"}}); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			before := readGCMetrics()
			b.ReportAllocs()
			for b.Loop() {
				allocateGarbage()
			}
			b.StopTimer()
			after := readGCMetrics()
			cycles := after.cycles - before.cycles
			mark := (after.mark - before.mark) * 1e6
			b.ReportMetric(float64(cycles)/float64(b.N), "gc-cycles/op")
			if cycles > 0 {
				b.ReportMetric(mark/float64(cycles), "mark-cpu-µs/cycle")
			}
			b.ReportMetric(mark/float64(b.N), "mark-cpu-µs/op")
			runtime.GC()
			end := readGCMetrics()
			b.ReportMetric(float64(end.scanHeap)/(1<<20), "scan-heap-MB")
			b.ReportMetric(float64(end.live)/(1<<20), "live-heap-MB")
			b.ReportMetric(float64(r.Stats().OffHeap)/(1<<20), "offheap-MB")
			runtime.KeepAlive(r)
		})
	}
}

type gcMetrics struct {
	cycles         uint64
	mark           float64 // seconds
	scanHeap, live uint64
}

func readGCMetrics() gcMetrics {
	s := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
		{Name: "/gc/scan/heap:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	return gcMetrics{
		cycles:   s[0].Value.Uint64(),
		mark:     s[1].Value.Float64() + s[2].Value.Float64() + s[3].Value.Float64(),
		scanHeap: s[4].Value.Uint64(),
		live:     s[5].Value.Uint64(),
	}
}

type garbageNode struct {
	next *garbageNode
	_    [48]byte
}

var garbageSink *garbageNode

// allocateGarbage allocates 1 MiB in 64-byte objects, linked as the values of a request are,
// and keeps the last list until the next call.
func allocateGarbage() {
	var head *garbageNode
	for range (1 << 20) / 64 {
		head = &garbageNode{next: head}
	}
	garbageSink = head
}
