package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"
)

// Storage is where last good copies are kept: a key-value store with
// slash-separated keys. Caddy's storage (certmagic.Storage, what
// caddy.Context.Storage returns) satisfies it as it is, whatever backend
// is configured; a backend shared by several nodes shares their copies.
//
// Load must return an error wrapping fs.ErrNotExist for a missing key.
// Delete of a key that is a prefix of others deletes them all.
type Storage interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// storagePrefix is the first part of every key this package writes.
const storagePrefix = "georestrict/last_good"

// chunkSize is the size of the pieces a copy is stored in. Caddy's storage
// API takes whole values, so a copy of any size is stored in pieces small
// enough to hold in memory one at a time and to fit every backend's value
// limit (Consul KV's is 512 KiB).
const chunkSize = 256 << 10

// record describes a stored copy. It is written last, after the copy's
// chunks, so a reader never finds a record without its chunks.
type record struct {
	Location     string    `json:"location"`
	SHA256       string    `json:"sha256"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	ModTime      time.Time `json:"mod_time,omitzero"`
	Fetched      time.Time `json:"fetched"`
	Signature    []byte    `json:"signature,omitempty"`
	Chunks       int       `json:"chunks"`

	// Previous is the copy this one replaced. Its chunks are kept until
	// the next save, so that a node of a fleet that has just read the
	// previous record can still read its chunks.
	Previous *chunkSet `json:"previous,omitempty"`
}

// chunkSet names a stored copy's chunks.
type chunkSet struct {
	SHA256 string `json:"sha256"`
	Chunks int    `json:"chunks"`
}

// storageDir returns the key under which the source's copy is kept: a hash
// of the location, so keys are short and plain ([0-9a-f/_]) for every
// backend, whatever the location holds.
func (s *Source) storageDir() string {
	loc := s.location
	if s.url == nil {
		if abs, err := filepath.Abs(s.path); err == nil {
			loc = "file:" + filepath.ToSlash(abs)
		}
	}
	sum := sha256.Sum256([]byte(loc))
	return storagePrefix + "/" + hex.EncodeToString(sum[:16])
}

func chunkKey(dir, hash string, i int) string {
	return dir + "/" + hash + "/" + strconv.Itoa(i)
}

// SaveLastGood stores v as the source's last good copy, for
// [Source.LoadLastGood] to return when the origin cannot be reached. Call
// it with a version once it has been accepted (parsed and validated), not
// merely fetched. The bytes are stored in pieces of 256 KiB and the record
// describing them last, so memory stays small for a copy of any size and
// readers never see half a copy; the copy before the previous one is then
// deleted. SaveLastGood does not wait for a check in progress.
func (s *Source) SaveLastGood(ctx context.Context, v *Version) error {
	st := s.opts.Storage
	if st == nil {
		return fmt.Errorf("saving %s: no storage configured", s.location)
	}
	dir := s.storageDir()
	old, err := loadRecord(ctx, st, dir)
	if err != nil {
		old = nil // an unreadable record is replaced
	}
	rec := record{
		Location:     v.Location,
		SHA256:       v.Hash,
		Size:         v.Size,
		ETag:         v.ETag,
		LastModified: v.lastModified,
		ModTime:      v.ModTime,
		Fetched:      v.Fetched,
		Signature:    v.Signature,
		Chunks:       int((v.Size + chunkSize - 1) / chunkSize),
	}
	sameBytes := old != nil && old.SHA256 == v.Hash
	if sameBytes {
		rec.Previous = old.Previous // only the record changes
	} else {
		if err := storeChunks(ctx, st, dir, v); err != nil {
			return fmt.Errorf("saving %s: %w", s.location, err)
		}
		if old != nil {
			rec.Previous = &chunkSet{SHA256: old.SHA256, Chunks: old.Chunks}
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("saving %s: %w", s.location, err)
	}
	if err := st.Store(ctx, dir+"/record.json", data); err != nil {
		return fmt.Errorf("saving %s: %w", s.location, err)
	}
	// The copy before the previous one is no longer named by any record.
	// Deleting it is best effort: a leftover wastes space, misleads nobody.
	if !sameBytes && old != nil && old.Previous != nil && old.Previous.SHA256 != v.Hash {
		deleteChunks(ctx, st, dir, *old.Previous)
	}
	return nil
}

func storeChunks(ctx context.Context, st Storage, dir string, v *Version) error {
	r, err := v.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]byte, chunkSize)
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := st.Store(ctx, chunkKey(dir, v.Hash, i), buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func deleteChunks(ctx context.Context, st Storage, dir string, set chunkSet) {
	for i := range set.Chunks {
		st.Delete(ctx, chunkKey(dir, set.SHA256, i))
	}
	st.Delete(ctx, dir+"/"+set.SHA256)
}

func loadRecord(ctx context.Context, st Storage, dir string) (*record, error) {
	data, err := st.Load(ctx, dir+"/record.json")
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("stored record: %w", err)
	}
	if len(rec.SHA256) != 2*sha256.Size || rec.Size < 0 || rec.Chunks != int((rec.Size+chunkSize-1)/chunkSize) {
		return nil, errors.New("stored record is damaged")
	}
	if _, err := hex.DecodeString(rec.SHA256); err != nil {
		return nil, errors.New("stored record is damaged")
	}
	return &rec, nil
}

// LoadLastGood returns the copy that [Source.SaveLastGood] stored last,
// as a version marked FromStorage, and makes it the source's current
// version: the next check asks the origin for something newer (with the
// copy's ETag and Last-Modified for a URL). Use it when the origin cannot
// be reached at start.
//
// The copy's hash is checked, and with a public key configured its
// signature too, so a copy damaged or altered in storage is refused. With
// no copy stored, the error wraps fs.ErrNotExist.
func (s *Source) LoadLastGood(ctx context.Context) (*Version, error) {
	st := s.opts.Storage
	if st == nil {
		return nil, fmt.Errorf("loading the last good copy of %s: no storage configured", s.location)
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	dir := s.storageDir()
	rec, err := loadRecord(ctx, st, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading the last good copy of %s: none stored: %w", s.location, err)
	}
	if err != nil {
		return nil, fmt.Errorf("loading the last good copy of %s: %w", s.location, err)
	}
	if rec.Size > s.opts.MaxSize {
		return nil, fmt.Errorf("loading the last good copy of %s: %d bytes: %w of %d bytes", s.location, rec.Size, errTooLarge, s.opts.MaxSize)
	}
	w := newSnapshotWriter(&s.opts, s.opts.PublicKey != nil)
	if err := loadChunks(ctx, st, dir, rec, w); err != nil {
		w.discard()
		return nil, fmt.Errorf("loading the last good copy of %s: %w", s.location, err)
	}
	if w.n != rec.Size || w.hash() != rec.SHA256 {
		w.discard()
		return nil, fmt.Errorf("loading the last good copy of %s: stored bytes do not match their record's size and hash", s.location)
	}
	if s.opts.PublicKey != nil {
		err := fmt.Errorf("%w: the stored copy has no signature", ErrSignature)
		if len(rec.Signature) != 0 {
			err = verifyDigest(s.opts.PublicKey, w.digest512(), rec.Signature)
		}
		if err != nil {
			w.discard()
			return nil, fmt.Errorf("loading the last good copy of %s: %w", s.location, err)
		}
	}
	v := &Version{
		Location:     s.location,
		Hash:         rec.SHA256,
		Size:         rec.Size,
		ETag:         rec.ETag,
		ModTime:      rec.ModTime,
		Fetched:      rec.Fetched,
		Signature:    rec.Signature,
		FromStorage:  true,
		lastModified: rec.LastModified,
		snap:         w.finish(),
	}
	s.last = state{known: true, hash: rec.SHA256, etag: rec.ETag, lastModified: rec.LastModified}
	return v, nil
}

func loadChunks(ctx context.Context, st Storage, dir string, rec *record, w *snapshotWriter) error {
	for i := range rec.Chunks {
		data, err := st.Load(ctx, chunkKey(dir, rec.SHA256, i))
		if err != nil {
			return fmt.Errorf("piece %d of %d: %w", i+1, rec.Chunks, err)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
