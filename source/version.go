package source

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"

	"github.com/georestrict/caddy-georestrict/internal/pace"
)

// Version is one immutable snapshot of a source's bytes, with what is known
// about where they came from. The bytes live in memory or in a private
// temporary file (see [Options]); read them with [Version.Open], as often
// and from as many goroutines as needed, and call [Version.Release] when
// the version is no longer needed.
//
// The fields describe the snapshot and must not be changed.
type Version struct {
	// Location is the source's file path or URL, as configured, with any
	// password in the URL replaced by "xxxxx".
	Location string

	// Hash is the lower-case hex SHA-256 of the bytes. Two versions with
	// the same Hash have the same bytes.
	Hash string

	// Size is the length of the bytes.
	Size int64

	// ETag is the URL's entity tag as the server sent it, quotes
	// included; empty for files and for servers that send none.
	ETag string

	// ModTime is the file's modification time, or the time of the URL's
	// Last-Modified header; zero when the server sent none.
	ModTime time.Time

	// Fetched is when the bytes were read from the origin. A version
	// loaded from storage keeps the time its bytes were first fetched.
	Fetched time.Time

	// Signature is the raw 64-byte Ed25519ph signature the bytes were
	// verified with; nil when no public key is configured.
	Signature []byte

	// FromStorage reports that the version was loaded from storage (see
	// [Source.LoadLastGood]), not from the origin.
	FromStorage bool

	lastModified string // the Last-Modified header as sent, echoed in If-Modified-Since
	snap         *snapshot
}

// errReleased is what Open returns once the version is released.
var errReleased = errors.New("version already released")

// Open returns a reader of the version's bytes, from the start. Each
// reader is independent. The reader also implements io.ReaderAt and
// io.Seeker. Close it when done: a released version's temporary file is
// removed only once its last reader is closed.
func (v *Version) Open() (io.ReadCloser, error) {
	if v == nil || v.snap == nil {
		return nil, fmt.Errorf("opening version: %w", errReleased)
	}
	r, err := v.snap.open()
	if err != nil {
		return nil, fmt.Errorf("opening version %s of %s: %w", short(v.Hash), v.Location, err)
	}
	return r, nil
}

// Release gives up the version: Open fails from now on, and the memory or
// temporary file goes away when the last open reader is closed. Release
// may be called more than once.
func (v *Version) Release() error {
	if v == nil || v.snap == nil {
		return nil
	}
	return v.snap.release()
}

// String returns the location and the start of the hash, for logs.
func (v *Version) String() string {
	return v.Location + "@" + short(v.Hash)
}

// short returns the first 12 hex digits of a hash: enough to tell versions
// apart in a log line.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// snapshot holds a version's bytes: in memory, or in a temporary file that
// is read only through ReadAt, so any number of readers can share the one
// descriptor without a path to reopen (on Unix the file is unlinked as soon
// as it is created, so nothing is left behind if the process dies).
type snapshot struct {
	size int64
	data []byte   // when in memory
	file *os.File // when on disk
	path string   // the file's name while it still has one

	mu       sync.Mutex
	refs     int // the owner's reference and one per open reader
	released bool
}

func (s *snapshot) open() (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil, errReleased
	}
	s.refs++
	r := &reader{snap: s}
	if s.file != nil {
		r.SectionReader = io.NewSectionReader(s.file, 0, s.size)
	} else {
		r.SectionReader = io.NewSectionReader(bytes.NewReader(s.data), 0, s.size)
	}
	return r, nil
}

func (s *snapshot) release() error {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return nil
	}
	s.released = true
	return s.unref() // unlocks
}

// unref drops one reference with s.mu held, unlocks, and frees the bytes
// when none is left.
func (s *snapshot) unref() error {
	s.refs--
	if s.refs > 0 {
		s.mu.Unlock()
		return nil
	}
	f, path := s.file, s.path
	s.file, s.path, s.data = nil, "", nil
	s.mu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	if path != "" {
		err = errors.Join(err, os.Remove(path))
	}
	return err
}

// reader is one open reader of a snapshot.
type reader struct {
	*io.SectionReader
	snap *snapshot
	once sync.Once
}

func (r *reader) Close() error {
	var err error
	r.once.Do(func() {
		r.snap.mu.Lock()
		err = r.snap.unref()
	})
	return err
}

// snapshotWriter takes a version's bytes once, hashing them as they pass,
// and keeps them in memory up to memLimit bytes, in a temporary file in dir
// beyond that. A version larger than maxSize is refused, not truncated.
type snapshotWriter struct {
	dir      string
	memLimit int64
	maxSize  int64

	sum256 hash.Hash
	sum512 hash.Hash // only when a signature is to be checked
	buf    []byte
	file   *os.File
	path   string
	n      int64
}

// copyPiece is how much ReadFrom copies and hashes between two pauses:
// about 100 µs of work.
const copyPiece = 64 << 10

// errTooLarge is wrapped by every refusal of a version over the size limit.
var errTooLarge = errors.New("larger than the size limit")

func newSnapshotWriter(o *Options, withSignature bool) *snapshotWriter {
	w := &snapshotWriter{dir: o.Dir, memLimit: o.MemoryLimit, maxSize: o.MaxSize, sum256: sha256.New()}
	if withSignature {
		w.sum512 = sha512.New()
	}
	return w
}

func (w *snapshotWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.maxSize {
		return 0, fmt.Errorf("%w of %d bytes", errTooLarge, w.maxSize)
	}
	w.sum256.Write(p)
	if w.sum512 != nil {
		w.sum512.Write(p)
	}
	if w.file == nil && w.n+int64(len(p)) > w.memLimit {
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	if w.file != nil {
		n, err := w.file.Write(p)
		w.n += int64(n)
		if err != nil {
			return n, fmt.Errorf("writing snapshot: %w", err)
		}
		return n, nil
	}
	w.buf = append(w.buf, p...)
	w.n += int64(len(p))
	return len(p), nil
}

// expect tells the writer how many bytes are announced (a file's size, a
// Content-Length), so that a version kept in memory is allocated once and
// one bound for disk goes there at once.
func (w *snapshotWriter) expect(n int64) error {
	if n < 0 || w.n > 0 || w.file != nil {
		return nil
	}
	if n > w.memLimit {
		return w.spill()
	}
	w.buf = make([]byte, 0, n)
	return nil
}

// spill moves what is buffered into a new temporary file.
func (w *snapshotWriter) spill() error {
	f, err := os.CreateTemp(w.dir, "georestrict-source-*")
	if err != nil {
		return fmt.Errorf("creating snapshot: %w", err)
	}
	w.file, w.path = f, f.Name()
	// Where the system lets an open file be unlinked, do it now: the
	// descriptor keeps the bytes, and a crash leaves nothing behind.
	if os.Remove(w.path) == nil {
		w.path = ""
	}
	if _, err := f.Write(w.buf); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	w.buf = nil
	return nil
}

// ReadFrom copies r with a buffer large enough for disk and hash
// throughput; io.Copy would use 32 KiB. It pauses between pieces (see
// internal/pace): copying and hashing a version of hundreds of megabytes
// takes the processor for a good part of a second, which requests share.
func (w *snapshotWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, copyPiece)
	var total int64
	var pacer pace.Pacer
	for {
		if total >= copyPiece {
			pacer.Pause()
		}
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// hash returns the hex SHA-256 of what was written so far.
func (w *snapshotWriter) hash() string {
	return hex.EncodeToString(w.sum256.Sum(nil))
}

// digest512 returns the SHA-512 of what was written, for Ed25519ph.
func (w *snapshotWriter) digest512() []byte {
	return w.sum512.Sum(nil)
}

// finish turns what was written into a snapshot the version owns.
func (w *snapshotWriter) finish() *snapshot {
	s := &snapshot{size: w.n, data: w.buf, file: w.file, path: w.path, refs: 1}
	if s.data == nil && s.file == nil {
		s.data = []byte{}
	}
	w.buf, w.file, w.path = nil, nil, ""
	return s
}

// discard drops what was written.
func (w *snapshotWriter) discard() {
	if w.file != nil {
		w.file.Close()
	}
	if w.path != "" {
		os.Remove(w.path)
	}
	w.buf, w.file, w.path = nil, nil, ""
}
