package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/georestrict/caddy-georestrict/source"
)

// Caddy's storage is a source.Storage as it is.
var _ source.Storage = certmagic.Storage(nil)

// storages returns the backends every storage test runs against: the
// in-memory one of these tests, and Caddy's default file storage.
func storages(t *testing.T) map[string]func() source.Storage {
	return map[string]func() source.Storage{
		"memory": func() source.Storage { return newMemStorage() },
		"certmagic.FileStorage": func() source.Storage {
			return &certmagic.FileStorage{Path: t.TempDir()}
		},
	}
}

// TestLastGood saves versions of several sizes and loads them back.
func TestLastGood(t *testing.T) {
	sizes := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 100},
		{"one piece exactly", 256 * kib},
		{"three pieces", 600 * kib},
	}
	for storageName, newStorage := range storages(t) {
		for _, sz := range sizes {
			t.Run(storageName+"/"+sz.name, func(t *testing.T) {
				data := make([]byte, sz.size)
				for i := range data {
					data[i] = byte(i * 7 / 3)
				}
				st := newStorage()
				o, srv := newOrigin(t, data, `"e1"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				loc := srv.URL + "/register.csv"
				opts := source.Options{Storage: st, MemoryLimit: 64 * kib, Dir: t.TempDir()}

				src := mustNew(t, loc, opts)
				fetched, err := src.Check(t.Context())
				fetched = wantVersion(t, fetched, err, data)
				if err := src.SaveLastGood(t.Context(), fetched); err != nil {
					t.Fatalf("SaveLastGood: %v", err)
				}

				// A restart with the origin down.
				srv.Close()
				src = mustNew(t, loc, opts)
				v, err := src.Check(t.Context())
				wantError(t, v, err, "connection refused")
				loaded, err := src.LoadLastGood(t.Context())
				loaded = wantVersion(t, loaded, err, data)
				if !loaded.FromStorage || fetched.FromStorage {
					t.Errorf("FromStorage = %v, %v; want true for the loaded version only", loaded.FromStorage, fetched.FromStorage)
				}
				if loaded.ETag != fetched.ETag || !loaded.ModTime.Equal(fetched.ModTime) ||
					!loaded.Fetched.Equal(fetched.Fetched) || loaded.Location != loc || loaded.Hash != fetched.Hash {
					t.Errorf("loaded %+v, want what was fetched: %+v", loaded, fetched)
				}

				// The origin is back with the same version: the first
				// check asks with the stored validators, and nothing is
				// new.
				restartAt(t, srv.Listener.Addr().String(), o)
				v, err = src.Check(t.Context())
				wantUnchanged(t, v, err)
				h := o.lastRequest()
				if h.Get("If-None-Match") != `"e1"` || h.Get("If-Modified-Since") != "Fri, 02 Jan 2026 03:04:05 GMT" {
					t.Errorf("first check after the restart sent %v, want the stored validators", h)
				}
			})
		}
	}
}

// TestLastGoodRotation checks that saving versions keeps the current and
// the previous copy and deletes older ones.
func TestLastGoodRotation(t *testing.T) {
	st := newMemStorage()
	path := filepath.Join(t.TempDir(), "register.csv")
	src := mustNew(t, path, source.Options{Storage: st})
	h1, h2, hSame := sha256hex(v1), sha256hex(v2), sha256hex(v1Same)
	steps := []struct {
		save []byte
		kept []string
	}{
		{v1, []string{h1}},
		{v2, []string{h1, h2}},
		{v1Same, []string{h2, hSame}},
		{v1Same, []string{h2, hSame}}, // the same bytes saved again
		{v1, []string{h1, hSame}},
		{v1Same, []string{h1, hSame}}, // back to the previous copy
	}
	for i, step := range steps {
		renameOver(t, path, step.save, time.Now())
		v, err := mustNew(t, path, source.Options{}).Check(t.Context())
		if err != nil || v == nil {
			t.Fatalf("step %d: Check: %v, %v", i, v, err)
		}
		if err := src.SaveLastGood(t.Context(), v); err != nil {
			t.Fatalf("step %d: SaveLastGood: %v", i, err)
		}
		v.Release()
		loaded, err := src.LoadLastGood(t.Context())
		wantVersion(t, loaded, err, step.save)

		var kept []string
		for _, k := range st.keys() {
			// georestrict/last_good/<location>/<sha256>/<piece>
			if parts := strings.Split(k, "/"); len(parts) == 5 && !slices.Contains(kept, parts[3]) {
				kept = append(kept, parts[3])
			}
		}
		slices.Sort(kept)
		slices.Sort(step.kept)
		if !slices.Equal(kept, step.kept) {
			t.Errorf("step %d: copies kept %v, want %v", i, kept, step.kept)
		}
	}
	// The previous copy is whole: a node that read the record before the
	// last save still finds all its pieces.
	for _, k := range st.keys() {
		if strings.Contains(k, "/"+h1+"/") {
			return
		}
	}
	t.Error("the previous copy's pieces are gone")
}

// TestLastGoodKeys checks that every key is plain, whatever the location.
func TestLastGoodKeys(t *testing.T) {
	st := newMemStorage()
	locations := []string{
		"../../etc/passwd",
		"/srv/registers/Реестр запрещённых.csv",
		"https://legal.example/a/../b?x=1&y=%2F..%2F",
		"https://user:secret@legal.example/register.csv",
	}
	for _, loc := range locations {
		src := mustNew(t, loc, source.Options{Storage: st})
		path := filepath.Join(t.TempDir(), "r")
		writeFile(t, path, v1, hourAgo)
		v, err := mustNew(t, path, source.Options{}).Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := src.SaveLastGood(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	plain := regexp.MustCompile(`^georestrict/last_good/[0-9a-f]{32}/(record\.json|[0-9a-f]{64}/[0-9]+)$`)
	dirs := map[string]bool{}
	for _, k := range st.keys() {
		if !plain.MatchString(k) {
			t.Errorf("key %q is not plain", k)
		}
		dirs[strings.Split(k, "/")[2]] = true
		if strings.Contains(k, "secret") {
			t.Errorf("key %q holds the password", k)
		}
	}
	if len(dirs) != len(locations) {
		t.Errorf("%d locations share %d storage directories", len(locations), len(dirs))
	}
	for _, k := range st.keys() {
		if strings.HasSuffix(k, "record.json") {
			data, _ := st.Load(t.Context(), k)
			if bytes.Contains(data, []byte("secret")) {
				t.Errorf("record %s holds the password: %s", k, data)
			}
		}
	}
}

// TestLastGoodRefused checks stored copies that must not be loaded.
func TestLastGoodRefused(t *testing.T) {
	pub, priv := testKey(1)
	otherPub, _ := testKey(2)
	data := bytes.Repeat([]byte("1,RU,/alice\n"), 30000) // two pieces
	recordKey := func(st *memStorage) string {
		for _, k := range st.keys() {
			if strings.HasSuffix(k, "/record.json") {
				return k
			}
		}
		t.Fatal("no record stored")
		return ""
	}
	editRecord := func(st *memStorage, edit func(map[string]any)) {
		k := recordKey(st)
		raw, _ := st.Load(context.Background(), k)
		var rec map[string]any
		json.Unmarshal(raw, &rec)
		edit(rec)
		raw, _ = json.Marshal(rec)
		st.Store(context.Background(), k, raw)
	}
	tests := []struct {
		name    string
		signed  bool
		loadKey []byte
		damage  func(st *memStorage)
		want    string
		is      error
	}{
		{
			name:   "nothing stored",
			damage: func(st *memStorage) { st.Delete(context.Background(), "georestrict") },
			want:   "none stored: file does not exist",
			is:     fs.ErrNotExist,
		},
		{
			name: "a piece altered",
			damage: func(st *memStorage) {
				for _, k := range st.keys() {
					if strings.HasSuffix(k, "/1") {
						v, _ := st.Load(context.Background(), k)
						v[10] ^= 1
						st.Store(context.Background(), k, v)
					}
				}
			},
			want: "do not match their record's size and hash",
		},
		{
			name: "a piece missing",
			damage: func(st *memStorage) {
				for _, k := range st.keys() {
					if strings.HasSuffix(k, "/1") {
						st.Delete(context.Background(), k)
					}
				}
			},
			want: "piece 2 of 2",
			is:   fs.ErrNotExist,
		},
		{
			name:   "record not JSON",
			damage: func(st *memStorage) { st.Store(context.Background(), recordKey(st), []byte("{")) },
			want:   "stored record",
		},
		{
			name:   "record with a size that does not match its pieces",
			damage: func(st *memStorage) { editRecord(st, func(r map[string]any) { r["size"] = 10 }) },
			want:   "stored record is damaged",
		},
		{
			name:    "unsigned copy, key configured",
			loadKey: pub,
			want:    "the stored copy has no signature",
			is:      source.ErrSignature,
		},
		{
			name:    "signed copy, other key configured",
			signed:  true,
			loadKey: otherPub,
			want:    "signed with another key",
			is:      source.ErrSignature,
		},
		{
			name:    "signature replaced in the record",
			signed:  true,
			loadKey: pub,
			damage: func(st *memStorage) {
				editRecord(st, func(r map[string]any) { r["signature"] = strings.Repeat("A", 86) + "==" })
			},
			want: "changed after signing",
			is:   source.ErrSignature,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStorage()
			path := filepath.Join(t.TempDir(), "register.csv")
			writeFile(t, path, data, hourAgo)
			var saveKey []byte
			if tc.signed {
				writeFile(t, path+".sig", signature(t, priv, data), hourAgo)
				saveKey = pub
			}
			src := mustNew(t, path, source.Options{Storage: st, PublicKey: saveKey})
			v, err := src.Check(t.Context())
			wantVersion(t, v, err, data)
			if err := src.SaveLastGood(t.Context(), v); err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				tc.damage(st)
			}
			loader := mustNew(t, path, source.Options{Storage: st, PublicKey: tc.loadKey})
			v, err = loader.LoadLastGood(t.Context())
			err = wantError(t, v, err, "loading the last good copy of "+path, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestLastGoodSigned checks that a signed copy comes back with its
// signature, verified.
func TestLastGoodSigned(t *testing.T) {
	pub, priv := testKey(1)
	for storageName, newStorage := range storages(t) {
		t.Run(storageName, func(t *testing.T) {
			st := newStorage()
			o, srv := newOrigin(t, v1, `"1"`, time.Time{})
			o.setSignature(signature(t, priv, v1))
			opts := source.Options{Storage: st, PublicKey: pub}
			src := mustNew(t, srv.URL+"/r.csv", opts)
			v, err := src.Check(t.Context())
			v = wantVersion(t, v, err, v1)
			if err := src.SaveLastGood(t.Context(), v); err != nil {
				t.Fatal(err)
			}
			o.breakWith(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
			src = mustNew(t, srv.URL+"/r.csv", opts)
			loaded, err := src.LoadLastGood(t.Context())
			loaded = wantVersion(t, loaded, err, v1)
			if !bytes.Equal(loaded.Signature, v.Signature) || len(loaded.Signature) != 64 {
				t.Errorf("loaded signature %x, want %x", loaded.Signature, v.Signature)
			}
		})
	}
}

// TestLastGoodNoStorage checks the error without storage.
func TestLastGoodNoStorage(t *testing.T) {
	src := mustNew(t, "register.csv", source.Options{})
	if _, err := src.LoadLastGood(t.Context()); err == nil || !strings.Contains(err.Error(), "no storage configured") {
		t.Errorf("LoadLastGood: %v", err)
	}
	if err := src.SaveLastGood(t.Context(), &source.Version{}); err == nil || !strings.Contains(err.Error(), "no storage configured") {
		t.Errorf("SaveLastGood: %v", err)
	}
}

// restartAt starts a server for h at addr, where one was closed: the
// origin coming back.
func restartAt(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
}
