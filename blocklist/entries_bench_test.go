package blocklist

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readAllEntries reads r to the end and returns how many entries it holds.
func readAllEntries(b *testing.B, r io.Reader, f Format) int {
	er, err := NewEntryReader("bench", r, f)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		_, err := er.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkReadExcerpts reads the regulator's real registers (skipped where they are not,
// see rknExcerpts) from memory: the throughput of parsing alone.
func BenchmarkReadExcerpts(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
		data   func(b *testing.B) []byte
	}{
		{"rkn-xml-2015", FormatRKNXML, func(b *testing.B) []byte { return readExcerpt(b, "rkn_dump_2015-08-01.xml") }},
		{"rkn-xml-2024", FormatRKNXML, func(b *testing.B) []byte { data, _ := partWithHead(b); return data }},
		{"rkn-csv-2016", FormatRKNCSV, func(b *testing.B) []byte { return readExcerpt(b, "zi_dump_2016-06-13.csv") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := bc.data(b)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			entries := 0
			for b.Loop() {
				entries = readAllEntries(b, bytes.NewReader(data), bc.format)
			}
			b.ReportMetric(float64(entries), "entries")
		})
	}
}

// synthDumpSize is the size of the synthetic dump.xml: the size of Roskomnadzor's register
// in the 2020s.
const synthDumpSize = 500 << 20

// writeSynthDump writes in dir a dump.xml of synthDumpSize bytes: the entries of the real
// excerpts (or, where they are not, of the fixture xmlDoc), repeated with fresh ids,
// windows-1251 like the real one.
func writeSynthDump(b *testing.B, dir string) string {
	var entries [][]byte // each from just after `<content id="N` to the next entry
	for _, name := range []string{"rkn_dump_2015-08-01.xml", "rkn_dump.xml.03_2024-06-11.part"} {
		data, err := os.ReadFile(filepath.Join(rknExcerpts, name))
		if err != nil {
			continue
		}
		entries = append(entries, splitContents(data)...)
	}
	if len(entries) == 0 {
		// Without the excerpts, the test fixture, moved to another site: like the real dump,
		// this one is about other sites, and its entries repeated would repeat the ids of
		// orders kept for this one.
		entries = splitContents(cp1251Bytes(b, strings.ReplaceAll(xmlDoc, "twitter.example", "elsewhere.example")))
	}
	path := filepath.Join(dir, "dump.xml")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`<?xml version="1.0" encoding="windows-1251"?>` + "\n" +
		`<reg:register updateTime="2024-06-11T17:20:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru" xmlns:tns="http://rsoc.ru">` + "\n")
	written, id := 0, 1<<24
	for written < synthDumpSize {
		for _, e := range entries {
			n, _ := w.WriteString(`<content id="`)
			m, _ := w.WriteString(strconv.Itoa(id))
			k, _ := w.Write(e)
			written += n + m + k
			id++
		}
	}
	w.WriteString("</reg:register>\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// splitContents returns the <content> elements of a dump, each without `<content id="N`
// and with what follows up to the next one.
func splitContents(data []byte) [][]byte {
	var entries [][]byte
	const open = `<content id="`
	for {
		i := bytes.Index(data, []byte(open))
		if i < 0 {
			return entries
		}
		data = data[i+len(open):]
		id := bytes.IndexByte(data, '"')
		end := bytes.Index(data, []byte("</content>"))
		if id < 0 || end < 0 {
			return entries
		}
		end += len("</content>")
		for end < len(data) && (data[end] == '\n' || data[end] == ' ') {
			end++
		}
		entries = append(entries, data[id:end])
		data = data[end:]
	}
}

// BenchmarkReadSynthDump reads a 500 MB dump.xml from a file, as a loader would, and
// reports the heap it needed at its peak beyond what was in use before (sampled every
// millisecond from runtime/metrics; the reader keeps nothing, so this is all the reader's).
// It is skipped with -short: writing the file takes a few seconds and half a gigabyte of
// temporary space.
func BenchmarkReadSynthDump(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 500 MB file")
	}
	path := writeSynthDump(b, b.TempDir())
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var peak uint64
	entries := 0
	for b.Loop() {
		runtime.GC()
		base := heapObjects()
		stop := sampleHeap(&peak, base)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		entries = readAllEntries(b, f, FormatRKNXML)
		f.Close()
		stop()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(entries), "entries")
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap records in peak the most heap in use beyond base until stop is called.
func sampleHeap(peak *uint64, base uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapObjects(); h > base && h-base > *peak {
				*peak = h - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// BenchmarkLoadSynthDump loads the 500 MB dump.xml as a register for one site, through Load,
// as the gateway does: every URL's host is compared with the site's, and the orders kept
// (none here: the dump is other sites') built. It reports the peak heap beyond what was in
// use before. Skipped with -short.
func BenchmarkLoadSynthDump(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 500 MB file")
	}
	path := writeSynthDump(b, b.TempDir())
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var peak uint64
	var unenforced int
	for b.Loop() {
		runtime.GC()
		stop := sampleHeap(&peak, heapObjects())
		r, err := Load(context.Background(), []Source{{Name: path}}, Options{Hosts: []string{"twitter.example", "mobile.twitter.example"}})
		stop()
		if err != nil {
			b.Fatal(err)
		}
		unenforced = r.Stats().Unenforced[UnenforcedOtherHost]
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(unenforced), "other-host-entries")
}
