package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// racyWindow is how close to the read a modification time must be for a
// same-size rewrite in the same clock tick to be possible. Two seconds
// covers the coarsest common timestamps (FAT). A modification time in the
// future (a skewed clock) counts as racy too: such a file is hashed at
// every check until its time has passed, which costs time, never a
// missed change.
const racyWindow = 2 * time.Second

// checkFile checks a file source. The file is opened by path on every
// check and closed before returning, so a file replaced by rename (editors,
// geoipupdate) is seen at once, and the old one is never held open.
func (s *Source) checkFile(ctx context.Context, full bool) (*Version, error) {
	v, err := s.readFileIfChanged(ctx, full)
	if err != nil {
		// Read everything again next time, even if the stat is the same.
		s.last.file = nil
	}
	return v, err
}

func (s *Source) readFileIfChanged(ctx context.Context, full bool) (*Version, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.location, pathless(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", s.location)
	}
	var sigFi os.FileInfo
	if s.opts.PublicKey != nil {
		sigFi, err = os.Stat(s.path + ".sig")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("verifying %s: %w: no signature file %s", s.location, ErrSignature, s.sigLocation())
		}
		if err != nil {
			return nil, fmt.Errorf("verifying %s: %w", s.location, pathless(err))
		}
	}
	if !full && s.last.known && !s.last.racy && sameStat(s.last.file, fi) &&
		(s.opts.PublicKey == nil || sameStat(s.last.sig, sigFi)) {
		return nil, nil
	}

	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.location, pathless(err))
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.location, err)
	}
	if before.Size() > s.opts.MaxSize {
		return nil, fmt.Errorf("reading %s: %d bytes: %w of %d bytes", s.location, before.Size(), errTooLarge, s.opts.MaxSize)
	}
	start := time.Now()
	w := newSnapshotWriter(&s.opts, s.opts.PublicKey != nil)
	err = w.expect(before.Size())
	if err == nil {
		_, err = w.ReadFrom(ctxReader{ctx, f})
	}
	if err == nil {
		after, serr := f.Stat()
		switch {
		case serr != nil:
			err = serr
		case !sameStat(before, after) || w.n != after.Size():
			err = errors.New("the file changed while it was read; it is read again at the next check")
		}
	}
	if err != nil {
		w.discard()
		return nil, fmt.Errorf("reading %s: %w", s.location, err)
	}
	hash := w.hash()
	racy := start.Sub(before.ModTime()) < racyWindow
	if sigFi != nil {
		racy = racy || start.Sub(sigFi.ModTime()) < racyWindow
	}
	if s.last.known && hash == s.last.hash {
		// The version in force, touched or rewritten: no news, and its
		// signature was checked when it was handed out.
		w.discard()
		s.last.file, s.last.sig, s.last.racy = before, sigFi, racy
		return nil, nil
	}

	var sig []byte
	if s.opts.PublicKey != nil {
		sig, sigFi, err = readSignatureFile(s.path + ".sig")
		if err == nil {
			err = verifyDigest(s.opts.PublicKey, w.digest512(), sig)
		}
		if err != nil {
			w.discard()
			return nil, fmt.Errorf("verifying %s: signature %s: %w", s.location, s.sigLocation(), err)
		}
		racy = racy || start.Sub(sigFi.ModTime()) < racyWindow
	}
	s.last = state{known: true, hash: hash, file: before, sig: sigFi, racy: racy}
	return &Version{
		Location:  s.location,
		Hash:      hash,
		Size:      w.n,
		ModTime:   before.ModTime(),
		Fetched:   start,
		Signature: sig,
		snap:      w.finish(),
	}, nil
}

// readSignatureFile reads and decodes a .sig file, and returns its stat.
func readSignatureFile(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: no signature file", ErrSignature)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	text, err := io.ReadAll(io.LimitReader(f, maxSignatureFile+1))
	if err != nil {
		return nil, nil, err
	}
	sig, err := decodeSignature(text)
	if err != nil {
		return nil, nil, err
	}
	return sig, fi, nil
}

// sameStat reports whether two stats are of the same file with the same
// size and modification time.
func sameStat(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) &&
		a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// ctxReader stops a long read when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// pathless drops the operation and path from an *fs.PathError, for errors
// that name the path already. errors.Is still finds fs.ErrNotExist and the
// like in what remains.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
