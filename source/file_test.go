package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/source"
)

var (
	v1     = []byte("id,countries,target\n1,RU,/alice/status/1\n")
	v1Same = []byte("id,countries,target\n1,RU,/alice/status/2\n") // v1's size
	v2     = []byte("id,countries,target\n1,RU,/alice/status/1\n2,TR,/bob\n")
)

type checkFunc func(*source.Source, context.Context) (*source.Version, error)

var (
	check     checkFunc = (*source.Source).Check
	checkFull checkFunc = (*source.Source).CheckFull
)

// TestFileChanges checks what a check sees of each way a file can change
// after a first version was handed out.
func TestFileChanges(t *testing.T) {
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name   string
		mtime  time.Time // of the first version; default hourAgo
		change func(t *testing.T, path string)
		check  checkFunc
		want   []byte // nil: no new version
		later  []byte // what a full check finds next; nil: nothing
	}{
		{
			name:   "nothing",
			change: func(*testing.T, string) {},
			check:  check,
		},
		{
			name:   "nothing, full check",
			change: func(*testing.T, string) {},
			check:  checkFull,
		},
		{
			name: "touch",
			change: func(t *testing.T, path string) {
				now := time.Now()
				os.Chtimes(path, now, now)
			},
			check: check,
		},
		{
			name:   "edit in place, other size",
			change: func(t *testing.T, path string) { overwriteInPlace(t, path, v2, hourAgo) },
			check:  check,
			want:   v2,
		},
		{
			name:   "edit in place, other mtime",
			change: func(t *testing.T, path string) { overwriteInPlace(t, path, v1Same, hourAgo.Add(time.Second)) },
			check:  check,
			want:   v1Same,
		},
		{
			// The documented limit of the cheap check: only a full check
			// sees this edit.
			name:   "edit in place keeping size and mtime",
			change: func(t *testing.T, path string) { overwriteInPlace(t, path, v1Same, hourAgo) },
			check:  check,
			later:  v1Same,
		},
		{
			name:   "edit in place keeping size and mtime, full check",
			change: func(t *testing.T, path string) { overwriteInPlace(t, path, v1Same, hourAgo) },
			check:  checkFull,
			want:   v1Same,
		},
		{
			// The first read came less than two seconds after the
			// modification time (here: before it), so a later write in
			// the same tick could keep size and mtime: the next cheap
			// check hashes the file anyway.
			name:   "edit in place keeping size and mtime, in the tick of the last read",
			mtime:  future,
			change: func(t *testing.T, path string) { overwriteInPlace(t, path, v1Same, future) },
			check:  check,
			want:   v1Same,
		},
		{
			name:   "rename over, same size and mtime",
			change: func(t *testing.T, path string) { renameOver(t, path, v1Same, hourAgo) },
			check:  check,
			want:   v1Same,
		},
		{
			name:   "rename over, same bytes",
			change: func(t *testing.T, path string) { renameOver(t, path, v1, time.Now()) },
			check:  check,
		},
		{
			name: "deleted and restored with the same bytes",
			change: func(t *testing.T, path string) {
				os.Remove(path)
				writeFile(t, path, v1, time.Now())
			},
			check: check,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "register.csv")
			mtime := tc.mtime
			if mtime.IsZero() {
				mtime = hourAgo
			}
			writeFile(t, path, v1, mtime)
			src := mustNew(t, path, source.Options{})
			ctx := t.Context()

			first, err := src.Check(ctx)
			first = wantVersion(t, first, err, v1)
			if !first.ModTime.Equal(mtime) {
				t.Errorf("ModTime = %v, want %v", first.ModTime, mtime)
			}
			if first.Location != path || first.ETag != "" || first.FromStorage || first.Signature != nil || first.Fetched.IsZero() {
				t.Errorf("first version = %+v", first)
			}

			tc.change(t, path)
			v, err := tc.check(src, ctx)
			if tc.want == nil {
				wantUnchanged(t, v, err)
			} else {
				wantVersion(t, v, err, tc.want)
			}
			// A full check finds what the check could not see, then
			// nothing more.
			v, err = src.CheckFull(ctx)
			if tc.later == nil {
				wantUnchanged(t, v, err)
			} else {
				wantVersion(t, v, err, tc.later)
				v, err = src.CheckFull(ctx)
				wantUnchanged(t, v, err)
			}
		})
	}
}

// TestFileErrors checks files that cannot be a version, and that a check
// after the error reads the file again.
func TestFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    source.Options
		prepare func(t *testing.T, path string)
		want    string
		isErr   error
	}{
		{
			name:    "missing",
			prepare: func(*testing.T, string) {},
			want:    "no such file",
			isErr:   fs.ErrNotExist,
		},
		{
			name:    "a directory",
			prepare: func(t *testing.T, path string) { os.Mkdir(path, 0o755) },
			want:    "not a regular file",
		},
		{
			name:    "over the size limit",
			opts:    source.Options{MaxSize: int64(len(v2) - 1)},
			prepare: func(t *testing.T, path string) { writeFile(t, path, v2, hourAgo) },
			want:    "larger than the size limit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "register.csv")
			tc.prepare(t, path)
			src := mustNew(t, path, tc.opts)
			v, err := src.Check(t.Context())
			err = wantError(t, v, err, path, tc.want)
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Errorf("error %v is not %v", err, tc.isErr)
			}

			os.Remove(path)
			writeFile(t, path, v1, hourAgo)
			v, err = src.Check(t.Context())
			wantVersion(t, v, err, v1)
		})
	}
}

// TestFileVanishes checks that a file deleted after a version is an error
// at every check, not a silent "unchanged".
func TestFileVanishes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "register.csv")
	writeFile(t, path, v1, hourAgo)
	src := mustNew(t, path, source.Options{})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, v1)
	os.Remove(path)
	for range 2 {
		v, err := src.Check(t.Context())
		wantError(t, v, err, "no such file")
	}
}

// TestSnapshot checks a version's bytes, in memory and on disk: readers
// are independent, a release waits for open readers, Open after Release
// fails, and nothing is left in the directory.
func TestSnapshot(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64*kib) // 1 MiB
	tests := []struct {
		name        string
		memoryLimit int64
	}{
		{"in memory", 2 * mib},
		{"on disk", -1},
		{"spilled to disk", 256 * kib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			snapDir := t.TempDir()
			path := filepath.Join(dir, "dump.xml")
			writeFile(t, path, data, hourAgo)
			src := mustNew(t, path, source.Options{Dir: snapDir, MemoryLimit: tc.memoryLimit})
			v, err := src.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}

			// The version does not depend on the file any more.
			os.Remove(path)

			// Two readers at once, each from the start.
			r1, err := v.Open()
			if err != nil {
				t.Fatal(err)
			}
			r2, err := v.Open()
			if err != nil {
				t.Fatal(err)
			}
			half := make([]byte, len(data)/2)
			if _, err := io.ReadFull(r1, half); err != nil {
				t.Fatal(err)
			}
			all, err := io.ReadAll(r2)
			if err != nil || !bytes.Equal(all, data) {
				t.Fatalf("second reader: %d bytes, %v; want the %d bytes", len(all), err, len(data))
			}
			r2.Close()

			// Released with a reader open: the reader goes on.
			if err := v.Release(); err != nil {
				t.Fatalf("Release: %v", err)
			}
			if err := v.Release(); err != nil {
				t.Fatalf("second Release: %v", err)
			}
			if _, err := v.Open(); err == nil {
				t.Error("Open after Release: no error")
			}
			rest, err := io.ReadAll(r1)
			if err != nil || !bytes.Equal(append(half, rest...), data) {
				t.Fatalf("first reader after Release: %d bytes, %v", len(half)+len(rest), err)
			}
			ra, ok := r1.(io.ReaderAt)
			if !ok {
				t.Fatal("reader is not an io.ReaderAt")
			}
			b := make([]byte, 16)
			if n, err := ra.ReadAt(b, 16); n != 16 || err != nil || !bytes.Equal(b, data[16:32]) {
				t.Errorf("ReadAt(16) = %d, %v, %q; want bytes 16 to 32", n, err, b)
			}
			if err := r1.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r1.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if left := dirEntries(t, snapDir); len(left) != 0 {
				t.Errorf("left in the snapshot directory: %v", left)
			}
		})
	}
}

// TestSnapshotConcurrentReaders reads one version from many goroutines
// while it is released, for the race detector.
func TestSnapshotConcurrentReaders(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 300*kib)
	path := filepath.Join(t.TempDir(), "dump.xml")
	writeFile(t, path, data, hourAgo)
	src := mustNew(t, path, source.Options{Dir: t.TempDir(), MemoryLimit: -1})
	v, err := src.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for range 8 {
		wg.Go(func() {
			r, err := v.Open()
			if err != nil {
				return // released already: allowed
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("concurrent reader: %d bytes, %v", len(got), err)
			}
			mu.Lock()
			opened++
			mu.Unlock()
		})
	}
	v.Release()
	wg.Wait()
	t.Logf("%d of 8 readers opened the version before its release", opened)
}

// TestFileNotHeldOpen checks that no check keeps the file open: a file
// replaced by rename is not pinned, and its space is freed once replaced.
func TestFileNotHeldOpen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/fd")
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	writeFile(t, path, v1, hourAgo)
	src := mustNew(t, path, source.Options{})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, v1)
	renameOver(t, path, v2, hourAgo)
	if open := openFilesUnder(t, filepath.Dir(path)); len(open) != 0 {
		t.Errorf("open after a check: %v", open)
	}
	v, err = src.Check(t.Context())
	wantVersion(t, v, err, v2)
	if open := openFilesUnder(t, filepath.Dir(path)); len(open) != 0 {
		t.Errorf("open after a check: %v", open)
	}
}

// openFilesUnder lists the files under dir that this process has open.
func openFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open = append(open, target)
		}
	}
	return open
}

// TestFileCancelled checks that a check with a done context reads nothing.
func TestFileCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "register.csv")
	writeFile(t, path, v1, hourAgo)
	src := mustNew(t, path, source.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	v, err := src.Check(ctx)
	err = wantError(t, v, err, path)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	v, err = src.Check(t.Context())
	wantVersion(t, v, err, v1)
}

// TestNew checks which locations are files, which URLs, which refused.
func TestNew(t *testing.T) {
	tests := []struct {
		location string
		want     string // Location(), or the error's text
		err      bool
	}{
		{location: "register.csv", want: "register.csv"},
		{location: "/etc/georestrict/register.csv", want: "/etc/georestrict/register.csv"},
		{location: "https://legal.example/register.csv", want: "https://legal.example/register.csv"},
		{location: "HTTP://legal.example/r.csv", want: "http://legal.example/r.csv"},
		{location: "https://user:secret@legal.example/r.csv", want: "https://user:xxxxx@legal.example/r.csv"},
		{location: "", err: true, want: "empty location"},
		{location: "ftp://legal.example/r.csv", err: true, want: `unsupported scheme "ftp"`},
		{location: "file:///etc/passwd", err: true, want: `unsupported scheme "file"`},
		{location: "https:///r.csv", err: true, want: "no host"},
		{location: "https://legal.example/r.csv#x", err: true, want: "fragment"},
		{location: "https://user:secret@legal.example/r.csv#x", err: true, want: "user:xxxxx@"},
	}
	for _, tc := range tests {
		t.Run(tc.location, func(t *testing.T) {
			s, err := source.New(tc.location, source.Options{})
			if tc.err {
				if err == nil {
					t.Fatalf("New: no error, want %q", tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
					t.Errorf("New: %v, want an error with %q and no password", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.Location() != tc.want {
				t.Errorf("Location() = %q, want %q", s.Location(), tc.want)
			}
		})
	}
	if _, err := source.New("r.csv", source.Options{PublicKey: make([]byte, 31)}); err == nil {
		t.Error("New with a 31-byte public key: no error")
	}
}
