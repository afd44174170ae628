package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const userAgent = "caddy-georestrict (+https://github.com/georestrict/caddy-georestrict)"

// maxRedirects is as many as net/http follows by default.
const maxRedirects = 10

// checkURL checks a URL source. ctx carries the check's timeout.
func (s *Source) checkURL(ctx context.Context, full bool) (*Version, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", s.location, err)
	}
	req.Header.Set("User-Agent", userAgent)
	conditional := false
	if !full && s.last.known {
		if s.last.etag != "" {
			req.Header.Set("If-None-Match", s.last.etag)
			conditional = true
		}
		if s.last.lastModified != "" {
			req.Header.Set("If-Modified-Since", s.last.lastModified)
			conditional = true
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", s.location, s.fetchError(ctx, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetching %s: server answered %s", s.location, resp.Status)
	case resp.ContentLength > s.opts.MaxSize:
		return nil, fmt.Errorf("fetching %s: Content-Length %d: %w of %d bytes", s.location, resp.ContentLength, errTooLarge, s.opts.MaxSize)
	}

	fetched := time.Now()
	w := newSnapshotWriter(&s.opts, s.opts.PublicKey != nil)
	err = w.expect(resp.ContentLength)
	var n int64
	if err == nil {
		n, err = w.ReadFrom(resp.Body)
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		// net/http reports a short body as io.ErrUnexpectedEOF; this
		// guards against a body that, however, ends quietly.
		err = fmt.Errorf("body of %d bytes where Content-Length said %d", n, resp.ContentLength)
	}
	if err != nil {
		w.discard()
		return nil, fmt.Errorf("fetching %s: after %d bytes: %w", s.location, n, s.fetchError(ctx, err))
	}
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	hash := w.hash()
	if s.last.known && hash == s.last.hash {
		w.discard()
		s.last.etag, s.last.lastModified = etag, lastModified
		return nil, nil
	}

	var sig []byte
	if s.opts.PublicKey != nil {
		sig, err = s.fetchSignature(ctx)
		if err == nil {
			err = verifyDigest(s.opts.PublicKey, w.digest512(), sig)
		}
		if err != nil {
			w.discard()
			return nil, fmt.Errorf("verifying %s: signature %s: %w", s.location, s.sigLocation(), err)
		}
	}
	v := &Version{
		Location:     s.location,
		Hash:         hash,
		Size:         n,
		ETag:         etag,
		Fetched:      fetched,
		Signature:    sig,
		lastModified: lastModified,
		snap:         w.finish(),
	}
	if t, err := http.ParseTime(lastModified); err == nil {
		v.ModTime = t
	}
	s.last = state{known: true, hash: hash, etag: etag, lastModified: lastModified}
	return v, nil
}

// fetchSignature fetches and decodes <url>.sig.
func (s *Source) fetchSignature(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sigURL(s.url).String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.fetchError(ctx, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, fmt.Errorf("%w: no signature (server answered %s)", ErrSignature, resp.Status)
	default:
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxSignatureFile+1))
	if err != nil {
		return nil, s.fetchError(ctx, err)
	}
	return decodeSignature(text)
}

// fetchError makes an error of net/http say what happened in words: the
// URL is already in the message, and a timeout names the limit.
func (s *Source) fetchError(ctx context.Context, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within the timeout of %v: %w", s.opts.Timeout, err)
	}
	return err
}

// sigURL returns the URL of u's signature: u with ".sig" added to its path.
// The query, if any, stays as it is.
func sigURL(u *url.URL) *url.URL {
	s := *u
	s.Path += ".sig"
	if s.RawPath != "" {
		s.RawPath += ".sig"
	}
	return &s
}

// checkRedirect follows redirects as net/http does, but only to http and
// https URLs, and never from https to http: a register fetched over TLS
// must not be handed over to the network in clear on a server's word.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	switch req.URL.Scheme {
	case "http":
		if via[len(via)-1].URL.Scheme == "https" {
			return fmt.Errorf("refusing a redirect from https to http (%s)", req.URL.Redacted())
		}
	case "https":
	default:
		return fmt.Errorf("refusing a redirect to %s: only http and https are followed", req.URL.Redacted())
	}
	return nil
}
