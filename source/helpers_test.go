package source_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/source"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// hourAgo is a modification time far enough in the past that a check never
// treats the file as racily modified.
var hourAgo = time.Now().Add(-time.Hour).Truncate(time.Second)

// writeFile writes data to path and sets its modification time.
func writeFile(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// overwriteInPlace rewrites the file's bytes through the same inode, as a
// tool that opens with O_TRUNC does, then sets its modification time.
func overwriteInPlace(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes data to a temporary file next to path and renames it
// over path, as editors and geoipupdate do.
func renameOver(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data, mtime)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// contents reads a version's bytes.
func contents(t testing.TB, v *source.Version) []byte {
	t.Helper()
	r, err := v.Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading version: %v", err)
	}
	return data
}

// mustNew returns a Source or fails the test.
func mustNew(t testing.TB, location string, opts source.Options) *source.Source {
	t.Helper()
	s, err := source.New(location, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", location, err)
	}
	return s
}

// wantVersion checks that a check returned a new version with these bytes,
// and releases it.
func wantVersion(t testing.TB, v *source.Version, err error, want []byte) *source.Version {
	t.Helper()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if v == nil {
		t.Fatalf("check: no new version, want one of %d bytes", len(want))
	}
	t.Cleanup(func() { v.Release() })
	if got := contents(t, v); !bytes.Equal(got, want) {
		t.Fatalf("version holds %q, want %q", abbrev(got), abbrev(want))
	}
	if v.Size != int64(len(want)) {
		t.Errorf("Size = %d, want %d", v.Size, len(want))
	}
	if v.Hash != sha256hex(want) {
		t.Errorf("Hash = %s, want %s", v.Hash, sha256hex(want))
	}
	return v
}

// wantUnchanged checks that a check found nothing new.
func wantUnchanged(t testing.TB, v *source.Version, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if v != nil {
		t.Fatalf("check: new version %s (%q), want none", v, abbrev(contents(t, v)))
	}
}

// wantError checks that a check failed with an error whose text holds
// every one of parts.
func wantError(t testing.TB, v *source.Version, err error, parts ...string) error {
	t.Helper()
	if v != nil {
		t.Fatalf("check: new version %s, want an error", v)
	}
	if err == nil {
		t.Fatalf("check: no error, want one with %q", parts)
	}
	t.Logf("error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
	return err
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// testKey returns a key pair made from a fixed seed.
func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// signature returns the .sig contents for data.
func signature(t testing.TB, priv ed25519.PrivateKey, data []byte) []byte {
	t.Helper()
	sig, err := source.Sign(priv, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// memStorage is a Storage in memory with certmagic's semantics: a missing
// key is fs.ErrNotExist, and deleting a prefix deletes what is under it.
type memStorage struct {
	mu     sync.Mutex
	values map[string][]byte
}

func newMemStorage() *memStorage { return &memStorage{values: map[string][]byte{}} }

func (m *memStorage) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[key] = bytes.Clone(value)
	return nil
}

func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return bytes.Clone(v), nil
}

func (m *memStorage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.values {
		if k == key || strings.HasPrefix(k, key+"/") {
			delete(m.values, k)
		}
	}
	return nil
}

func (m *memStorage) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dirEntries lists the names in dir.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, filepath.Join(dir, e.Name()))
	}
	return names
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
