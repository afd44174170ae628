package blocklist

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// A source without orders would lift every order it held: it is refused unless it says
// that it may be empty.
func TestLoadEmptySources(t *testing.T) {
	const (
		hdr     = "id,countries,target\n"
		allow   = " (a source that may have none must say so with allow_empty)"
		noneErr = "no orders" + allow
	)
	type file struct {
		name, data string
		allowEmpty bool
	}
	tests := []struct {
		name   string
		files  []file
		hosts  []string
		err    string // with the directory left out of file names
		orders int
	}{
		{"header only", []file{{"a.csv", hdr, false}}, nil, "register a.csv: " + noneErr, 0},
		{"header only, allowed", []file{{"a.csv", hdr, true}}, nil, "", 0},
		{"empty cells only", []file{{"a.csv", hdr + ",,\n,,\n", false}}, nil, "register a.csv: " + noneErr, 0},
		{"empty file", []file{{"a.csv", "", false}}, nil, "register a.csv: the file is empty: no orders" + allow, 0},
		{"empty file, allowed", []file{{"a.csv", "", true}}, nil, "", 0},
		{"blank lines and a BOM", []file{{"a.jsonl", "\ufeff\n \r\n\t\n", false}}, nil, "register a.jsonl: the file is empty: no orders" + allow, 0},
		{"excel sep line only", []file{{"a.csv", "sep=;\r\n", false}}, nil, "register a.csv: " + noneErr, 0},
		{"empty JSON array", []file{{"a.json", "[ ]\n", false}}, nil, "register a.json: " + noneErr, 0},
		{"empty JSON array, allowed", []file{{"a.json", "[]", true}}, nil, "", 0},
		{"blank .json, allowed", []file{{"a.json", "\n", true}}, nil, "", 0},
		{"every URL on another host", []file{{"a.csv", hdr + "x,RU,https://other.example/a\ny,RU,https://other.example/b/status/1\n", false}},
			[]string{"twitter.example"}, "register a.csv: no orders: all 2 URL targets are on hosts other than hosts (check hosts; a source that may have none must say so with allow_empty)", 0},
		{"every URL on another host, allowed", []file{{"a.csv", hdr + "x,RU,https://other.example/a\n", true}}, []string{"twitter.example"}, "", 0},
		{"one URL of ours is enough", []file{{"a.csv", hdr + "x,RU,https://other.example/a\ny,RU,https://twitter.example/b\n", false}}, []string{"twitter.example"}, "", 1},
		{"only the empty source is named", []file{{"a.csv", hdr + "x,RU,post:1\n", false}, {"b.jsonl", "", false}}, nil,
			"register b.jsonl: the file is empty: no orders" + allow, 0},
		{"an allowed empty source merges", []file{{"a.csv", hdr + "x,RU,post:1\n", false}, {"b.csv", hdr, true}}, nil, "", 1},
		{"a broken file reports its own problems only", []file{{"a.csv", hdr + "x,RX,post:1\n", false}}, nil,
			`register a.csv: line 2: countries: unknown country code "RX"`, 0},
		{"allow_empty does not excuse a broken file", []file{{"a.csv", hdr + "x,RU,bogus\n", true}}, nil,
			`register a.csv: line 2: target: malformed target "bogus": want post:<id>, account:<handle>, @handle, path:/..., path:/prefix* or an http(s) URL`, 0},
		{"UTF-16 is refused even when empty is allowed", []file{{"a.csv", utf16LE("\ufeff" + hdr), true}}, nil,
			`register a.csv: the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var sources []Source
			for _, f := range tc.files {
				sources = append(sources, Source{Name: writeFile(t, dir, f.name, f.data), AllowEmpty: f.allowEmpty})
			}
			r, err := Load(context.Background(), sources, Options{Hosts: tc.hosts})
			if tc.err != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") != tc.err {
					t.Fatalf("got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Len() != tc.orders {
				t.Errorf("%d orders, want %d", r.Len(), tc.orders)
			}
		})
	}
}

// LoadFiles is Load of sources that must hold orders.
func TestLoadFilesRefusesEmpty(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.csv", "id,countries,target\n")
	if _, err := loadFiles([]string{p}, Options{}); err == nil || !strings.Contains(err.Error(), "no orders") {
		t.Errorf("got %v", err)
	}
	if _, err := Load(context.Background(), nil, Options{}); err == nil || err.Error() != "register: no sources" {
		t.Errorf("no sources: got %v", err)
	}
}

// The ids of orders skipped for a foreign host are kept for the load log, the first 20.
func TestSkippedForeignHostIDs(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,countries,target\nours,RU,https://twitter.example/someuser\n")
	var want []string
	for i := range 25 {
		id := "rkn-" + formatInt(i)
		b.WriteString(id + ",RU,https://other.example/" + formatInt(i) + "\n")
		if i < 20 {
			want = append(want, id)
		}
	}
	b.WriteString("bad,RX,https://other.example/x\n") // refused rows are errors, not skipped ones
	dir := t.TempDir()
	p := writeFile(t, dir, "a.csv", b.String())
	if _, err := loadFiles([]string{p}, Options{Hosts: []string{"twitter.example"}}); err == nil {
		t.Fatal("a bad country on a foreign row was accepted")
	}
	p = writeFile(t, dir, "a.csv", strings.TrimSuffix(b.String(), "bad,RX,https://other.example/x\n"))
	r, err := loadFiles([]string{p}, Options{Hosts: []string{"twitter.example"}})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.SkippedForeignHost != 25 || !slices.Equal(st.SkippedForeignHostIDs, want) {
		t.Errorf("skipped %d %q, want 25 %q", st.SkippedForeignHost, st.SkippedForeignHostIDs, want)
	}
	st.SkippedForeignHostIDs[0] = "changed"
	if r.Stats().SkippedForeignHostIDs[0] != "rkn-0" {
		t.Error("Stats hands out the register's own slice")
	}
}

// A load stops when its context is done, however large the register, and leaves no
// goroutine behind: Caddy cancels a config's context when it stops.
func TestLoadCancelled(t *testing.T) {
	data, _ := genRegister(200_000)
	for _, format := range []string{"csv", "jsonl", "json"} {
		text := string(registerAs(t, data, format))
		t.Run(format, func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r, err := Load(ctx, []Source{{Name: "o." + format, Reader: strings.NewReader(text)}}, Options{Hosts: []string{"twitter.example"}})
			if r != nil || !errors.Is(err, context.Canceled) {
				t.Fatalf("Load with a cancelled context = %v, %v; want no register and context.Canceled", r, err)
			}
			// Cancelled while it runs, at whatever point that is.
			for _, after := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
				ctx, cancel := context.WithTimeout(context.Background(), after)
				r, err := Load(ctx, []Source{{Name: "o." + format, Reader: strings.NewReader(text)}}, Options{Hosts: []string{"twitter.example"}})
				cancel()
				if err == nil && r.Len() != 200_000 || err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("cancelled after %v: %v orders, %v", after, r.Len(), err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines before the loads, %d after", before, runtime.NumGoroutine())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// A register is sized from its source before it is read, whatever kind of reader tells the
// size: without a size, its tables grow by doubling, copying as they go, which a gateway
// loading a million orders under traffic feels.
func TestSourceSizeHint(t *testing.T) {
	data, _ := genRegister(5_000)
	for _, format := range []string{"csv", "jsonl", "json"} {
		text := string(registerAs(t, data, format))
		p := writeFile(t, t.TempDir(), "orders."+format, text)
		for name, r := range map[string]func() io.Reader{
			"file (Name)":      func() io.Reader { return nil },
			"strings.Reader":   func() io.Reader { return strings.NewReader(text) },
			"io.SectionReader": func() io.Reader { return io.NewSectionReader(strings.NewReader(text), 0, int64(len(text))) },
		} {
			t.Run(format+"/"+name, func(t *testing.T) {
				in, err := openSource(Source{Name: p, Reader: r()})
				if err != nil {
					t.Fatal(err)
				}
				defer in.close()
				if in.hint < 5_000 || in.hint > 6_000 {
					t.Errorf("sized for %d orders, want 5,000 or a little more", in.hint)
				}
			})
		}
	}
}
