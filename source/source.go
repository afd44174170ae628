package source

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure a [Source]. The zero value is usable.
type Options struct {
	// PublicKey, when set, makes every version go with a detached
	// signature by its private key, in <file>.sig or <url>.sig; see
	// [Verify]. A version without one, or whose signature does not match,
	// is refused.
	PublicKey ed25519.PublicKey

	// MaxSize is the largest version accepted, in bytes. A larger one is
	// refused, never truncated. The default is 1 GiB.
	MaxSize int64

	// MemoryLimit is the size up to which a version's bytes are kept in
	// memory; larger versions go to a private temporary file in Dir. The
	// default is 4 MiB; a negative value keeps every version on disk.
	MemoryLimit int64

	// Dir is the directory for the temporary files of large versions.
	// The default is os.TempDir().
	Dir string

	// Timeout bounds one check of a URL source: the request, the body and
	// the signature. The default is one minute; raise it for registers of
	// hundreds of megabytes over slow links.
	Timeout time.Duration

	// Transport makes the HTTP requests of a URL source. The default is a
	// copy of http.DefaultTransport (so HTTPS_PROXY and the like apply)
	// whose idle connections are closed after every check; a transport
	// given here keeps its idle connections. Redirects are checked either
	// way.
	Transport http.RoundTripper

	// Storage, when set, keeps last good copies: see [Source.SaveLastGood]
	// and [Source.LoadLastGood].
	Storage Storage
}

const (
	defaultMaxSize     = 1 << 30
	defaultMemoryLimit = 4 << 20
	defaultTimeout     = time.Minute
)

// A Source is a register or a country database at a file path or an
// http(s) URL. Its checks ask whether the source has changed since the
// version it handed out last, and hand out a new [Version] when it has.
//
// A Source's methods are safe for concurrent use; checks run one at a time.
type Source struct {
	location string   // as configured, any password redacted
	url      *url.URL // nil for a file
	path     string   // the file's path
	opts     Options
	client   *http.Client
	ownTr    bool // the transport is ours to close idle connections on

	sem  chan struct{} // held while a check, or a load from storage, runs
	last state         // what the last version handed out (or refused by its bytes) looked like
}

// state is what a check compares against. Only the goroutine holding sem
// touches it.
type state struct {
	known bool
	hash  string

	// A file's last stat, and its signature file's.
	file, sig os.FileInfo
	// racy is set when the file was modified so shortly before it was read
	// that a later write in the same clock tick could keep size and time:
	// the next cheap check then hashes the file anyway (git's "racily
	// clean" entries).
	racy bool

	// A URL's validators.
	etag, lastModified string
}

// New returns a Source for location: a URL when it starts with http:// or
// https://, a file path otherwise. Other URL schemes are refused. New
// neither reads the file nor fetches the URL.
func New(location string, opts Options) (*Source, error) {
	if location == "" {
		return nil, fmt.Errorf("source: empty location")
	}
	if opts.PublicKey != nil && len(opts.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("source %s: public key is %d bytes, want %d", location, len(opts.PublicKey), ed25519.PublicKeySize)
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = defaultMaxSize
	}
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = defaultMemoryLimit
	}
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	s := &Source{location: location, opts: opts, sem: make(chan struct{}, 1)}

	scheme, _, isURL := strings.Cut(location, "://")
	if !isURL {
		s.path = filepath.Clean(location)
		return s, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	s.location = u.Redacted()
	if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return nil, fmt.Errorf("source %s: unsupported scheme %q: want a file path, or an http:// or https:// URL", s.location, scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("source %s: URL has no host", s.location)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("source %s: URL has a fragment, which is never sent to the server", s.location)
	}
	s.url = u
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		s.ownTr = true
	}
	s.client = &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	return s, nil
}

// Location returns the source's file path or URL, as configured, with any
// password in the URL replaced by "xxxxx".
func (s *Source) Location() string { return s.location }

// String returns the location.
func (s *Source) String() string { return s.location }

// Check looks cheaply for a new version. For a file it compares the
// file's identity, size and modification time (and those of its signature
// file) with the last check's, and only if one changed reads and hashes
// the file; a file whose bytes are those of the last version (say, after
// touch) is unchanged. For a URL it sends a conditional request (ETag,
// Last-Modified); 304 Not Modified, or the same bytes again, is unchanged.
//
// Check returns the new version, which the caller owns and must release,
// or nil and no error when nothing changed. The first check of a Source
// always reads the bytes. On error, the next check reads them again. A
// version the caller refuses (one that does not parse, say) still counts
// as handed out: the source reports a version again when its bytes change.
func (s *Source) Check(ctx context.Context) (*Version, error) {
	return s.check(ctx, false)
}

// CheckFull is Check without shortcuts: a file is read and hashed whatever
// its stat says (so an edit that kept the size and the modification time
// is caught), and a URL is fetched without validators. A version whose
// bytes are those of the last one is still unchanged.
func (s *Source) CheckFull(ctx context.Context) (*Version, error) {
	return s.check(ctx, true)
}

func (s *Source) check(ctx context.Context, full bool) (*Version, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	if s.url != nil {
		ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
		if s.ownTr {
			// A poll every minute gains nothing from a kept connection,
			// and an idle one would outlive the caller's context.
			defer s.client.CloseIdleConnections()
		}
		return s.checkURL(ctx, full)
	}
	return s.checkFile(ctx, full)
}

// lock waits for other checks of s to finish, or for ctx.
func (s *Source) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", s.location, context.Cause(ctx))
	}
}

func (s *Source) unlock() { <-s.sem }

// sigLocation names the signature of the source in errors.
func (s *Source) sigLocation() string {
	if s.url != nil {
		return sigURL(s.url).Redacted()
	}
	return s.location + ".sig"
}
