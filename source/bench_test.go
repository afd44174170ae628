package source_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/georestrict/caddy-georestrict/source"
)

// bigFile writes a 100 MB register-like file and returns its path.
func bigFile(b *testing.B) string {
	b.Helper()
	line := []byte(`<content id="123456" includeTime="2026-03-10T08:00:00" entryType="1"><url><![CDATA[https://x.example/status/1]]></url></content>` + "\n")
	data := bytes.Repeat(line, 100*mib/len(line)+1)[:100*mib]
	path := filepath.Join(b.TempDir(), "dump.xml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSnapshot measures how fast a new 100 MB version is taken from a
// file: read, hashed (SHA-256, and SHA-512 when signed) and copied into a
// snapshot in memory or in a temporary file. The MB/s column is the
// throughput. The file is in the page cache, so this is the cost of the
// code and the snapshot, not of the disk it is read from.
func BenchmarkSnapshot(b *testing.B) {
	path := bigFile(b)
	pub, priv := testKey(1)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := source.Sign(priv, f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".sig", sig, 0o644); err != nil {
		b.Fatal(err)
	}
	tests := []struct {
		name string
		opts source.Options
	}{
		{"memory", source.Options{MemoryLimit: 200 * mib}},
		{"disk", source.Options{MemoryLimit: -1, Dir: b.TempDir()}},
		{"disk+signature", source.Options{MemoryLimit: -1, Dir: b.TempDir(), PublicKey: pub}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(100 * mib)
			b.ReportAllocs()
			for b.Loop() {
				src, err := source.New(path, tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				v, err := src.Check(b.Context())
				if err != nil || v == nil {
					b.Fatalf("Check: %v, %v", v, err)
				}
				v.Release()
			}
		})
	}
}

// BenchmarkSign measures signing a 100 MB file (what "sign" costs a legal
// team): one SHA-512 pass, streamed.
func BenchmarkSign(b *testing.B) {
	path := bigFile(b)
	_, priv := testKey(1)
	b.SetBytes(100 * mib)
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = source.Sign(priv, f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckUnchanged measures the cheap check of a 100 MB file that
// has not changed: two stats, whatever the size.
func BenchmarkCheckUnchanged(b *testing.B) {
	path := bigFile(b)
	src, err := source.New(path, source.Options{MemoryLimit: -1, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	v, err := src.Check(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	v.Release()
	// Let the modification time age past the racy window.
	old := hourAgo
	os.Chtimes(path, old, old)
	if v, err := src.Check(b.Context()); err != nil || v != nil {
		b.Fatalf("Check after touch: %v, %v", v, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, err := src.Check(b.Context()); err != nil || v != nil {
			b.Fatalf("Check: %v, %v", v, err)
		}
	}
}
