// Command genregister writes a synthetic register of legal orders for the
// load benchmarks in bench/run.sh: CSV with the header that georestrict
// reads (or, with -format, the same orders as JSON Lines or a JSON array),
// shaped like a large national register (mostly posts, then accounts, exact
// paths and a few path prefixes, in Russia and its neighbours), plus a few
// fixed orders that the benchmark's blocked and upload traffic relies on.
//
// Usage:
//
//	genregister [-n 1000000] [-distinct] [-format csv|jsonl|json] [-o register.csv]
//
// The orders share a thousand decisions (authority, reference, notice and
// reason), as a platform's own register of court orders might; with
// -distinct every order has its own reference, notice and reason, as in a
// regulator's register, where each entry is one decision.
//
// The output is deterministic for given flags, so runs compare like with like.
// No generated order covers the allowed traffic of the benchmark
// (/someuser/status/999999999999, /api/upload): generated post ids are 17+
// digits long and handles are user<n>.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// fixedOrders are what the benchmark's requests hit on purpose: post 123 is
// withheld in Russia (the 451 runs), and uploads under /media/upload are
// throttled there (the upload run posts to /api/upload, which no order covers).
var fixedOrders = []string{
	"bench-block-post,RU,post:123,block,Roskomnadzor,2-1687/2024,https://notice.example/rkn/bench-block-post,Prohibited information.,,",
	"bench-throttle-upload,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,27-31-2024/Id4082-24,,Uploads slowed down.,,",
}

const header = "id,countries,target,action,authority,reference,notice,reason,start,end\n"

// fieldNames are header's columns, the keys of the JSON formats.
var fieldNames = strings.Split(strings.TrimSuffix(header, "\n"), ",")

var (
	authorities = []string{"Roskomnadzor", "Prosecutor General", "Moscow City Court", "FNS", "MVD"}
	countries   = []string{"RU", "RU", "RU", "RU BY", "RU|BY|KZ"}
)

func main() {
	n := flag.Int("n", 1_000_000, "number of orders in all, fixed ones included")
	distinct := flag.Bool("distinct", false, "give every order its own decision (reference, notice, reason)")
	format := flag.String("format", "csv", "csv, jsonl (JSON Lines) or json (a JSON array, an element a line)")
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	if flag.NArg() > 0 || *n < len(fixedOrders) || *format != "csv" && *format != "jsonl" && *format != "json" {
		fmt.Fprintf(os.Stderr, "usage: genregister [-n orders (at least %d)] [-distinct] [-format csv|jsonl|json] [-o file]\n", len(fixedOrders))
		os.Exit(2)
	}

	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genregister:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := write(w, *n, *distinct, *format); err != nil {
		fmt.Fprintln(os.Stderr, "genregister:", err)
		os.Exit(1)
	}
}

// write writes a register of n orders to w in format.
func write(w io.Writer, n int, distinct bool, format string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var line, obj []byte
	var err error
	emit := func(i int, csvLine []byte) {
		if err != nil {
			return
		}
		switch format {
		case "csv":
			_, err = bw.Write(csvLine)
			return
		case "json":
			sep := ",\n"
			if i == 0 {
				sep = "[\n"
			}
			bw.WriteString(sep)
		}
		if obj, err = appendJSON(obj[:0], csvLine); err == nil {
			_, err = bw.Write(obj)
		}
		if format == "jsonl" {
			bw.WriteByte('\n')
		}
	}
	if format == "csv" {
		bw.WriteString(header)
	}
	for i, o := range fixedOrders {
		emit(i, append([]byte(o), '\n'))
	}
	for i := range n - len(fixedOrders) {
		line = appendOrder(line[:0], i, distinct)
		emit(len(fixedOrders)+i, line)
	}
	if err != nil {
		return err
	}
	if format == "json" {
		bw.WriteString("\n]\n")
	}
	return bw.Flush()
}

// appendJSON appends the order of a generated CSV line as a JSON object,
// without its empty fields. No generated field holds a comma or a quote, so
// the line splits at its commas.
func appendJSON(b, csvLine []byte) ([]byte, error) {
	fields := bytes.Split(bytes.TrimSuffix(csvLine, []byte("\n")), []byte(","))
	if len(fields) != len(fieldNames) {
		return nil, errors.New("a generated line has a comma in a field: " + string(csvLine))
	}
	b = append(b, '{')
	for i, f := range fields {
		if len(f) == 0 {
			continue
		}
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		v, err := json.Marshal(string(f))
		if err != nil {
			return nil, err
		}
		b = append(b, '"')
		b = append(b, fieldNames[i]...)
		b = append(b, '"', ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// appendOrder appends the i-th generated order as a CSV line: 85% posts,
// 10% accounts, 4% exact paths, 1% path prefixes; one in fifty with a time
// window, which the matcher evaluates per request. With distinct, the
// decision number in the reference, notice and reason is the order's own.
func appendOrder(b []byte, i int, distinct bool) []byte {
	decision := i % 1000
	number := decision
	if distinct {
		number = i
	}
	b = append(b, "rkn-"...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ',')
	b = append(b, countries[decision%len(countries)]...)
	b = append(b, ',')
	switch k := i % 100; {
	case k < 85:
		// Snowflake-like ids, far from the benchmark's 123 and 999999999999.
		b = append(b, "post:"...)
		b = strconv.AppendUint(b, 1_700_000_000_000_000_000+uint64(i)*7919, 10)
	case k < 95:
		b = append(b, "account:user"...)
		b = strconv.AppendInt(b, int64(i), 10)
	case k < 99:
		b = append(b, "path:/pages/"...)
		b = strconv.AppendInt(b, int64(i), 10)
	default:
		b = append(b, "path:/media/"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, "/*"...)
	}
	b = append(b, ",block,"...)
	b = append(b, authorities[decision%len(authorities)]...)
	b = append(b, ",2-6-27/2024-05-24-"...)
	b = strconv.AppendInt(b, int64(number), 10)
	b = append(b, "-AI,https://notice.example/rkn/"...)
	b = strconv.AppendInt(b, int64(number), 10)
	b = append(b, ",Access restricted on demand of "...)
	b = append(b, authorities[decision%len(authorities)]...)
	if distinct {
		b = append(b, " (decision "...)
		b = strconv.AppendInt(b, int64(number), 10)
		b = append(b, ')')
	}
	b = append(b, ',')
	if i%50 == 0 {
		b = append(b, "2024-05-01,2099-01-01"...)
	} else {
		b = append(b, ',')
	}
	return append(b, '\n')
}
