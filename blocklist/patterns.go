package blocklist

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxPatternSegments bounds templates so that a request path is split once, into a fixed
// array on the stack, whatever the patterns.
const maxPatternSegments = 8

// Patterns are the site's URL templates: where accounts and posts appear in its URLs. They
// turn a request path into the posts and accounts it shows, and a URL in a register into a
// post or account target.
//
// A template is a path of literal segments and the placeholders {post} and {account}, each a
// whole segment (the one exception is "@{account}", a segment that must start with "@"),
// optionally followed by one query parameter that names a placeholder:
//
//	/{account}/status/{post}
//	/@{account}
//	/1.1/statuses/show.json?id={post}
//
// Literal segments compare case-insensitively. A template matches a path that starts with
// its segments: "/{account}/status/{post}" also matches "/someuser/status/123/photo/1".
//
// Reserved names are the site's own top-level routes ("/search", "/home", "/settings"),
// which "/{account}" would otherwise read as accounts. A reserved name is never an account:
// a register target "account:search" is refused, and a URL target whose account would be
// one is an exact path instead (or refused, when its meaning lies in its query, as with
// "/search?q=..."). See [DefaultReserved] and [WithReserved].
//
// Patterns are immutable and safe for concurrent use.
type Patterns struct {
	templates []string
	list      []pattern
	maxSegs   int
	has       [TargetPathPrefix + 1]bool // which placeholders appear at all
	reserved  []string                   // canonical (lower-case), in the order given
}

type pattern struct {
	segs      []patternSegment
	param     string     // query parameter (lower-case) holding a placeholder, or ""
	paramKind TargetKind // what that parameter holds
	literals  int        // literal segments and parameter: how specific the template is
}

type patternSegment struct {
	lit  string     // literal, in canonical (lower-case) form, when kind is 0
	kind TargetKind // TargetPost or TargetAccount for a placeholder
	at   bool       // "@{account}"
}

// defaultTemplates fit a Twitter-like site, with the Mastodon-style "@" forms.
var defaultTemplates = []string{
	"/{account}/status/{post}",
	"/{account}/statuses/{post}",
	"/i/web/status/{post}",
	"/i/status/{post}",
	"/api/v1/statuses/{post}",
	"/1.1/statuses/show.json?id={post}",
	"/1.1/statuses/show/{post}",
	"/1.1/users/show.json?screen_name={account}",
	"/@{account}/{post}",
	"/@{account}",
	"/{account}",
}

// defaultReserved are the top-level routes of Twitter/X and Mastodon that are not accounts:
// pages of the site (home, explore, search, notifications, settings), its sign-in and
// sharing endpoints, and the prefixes of its other routes (i, api, web, oauth).
var defaultReserved = []string{
	"about", "account", "admin", "api", "auth", "bookmarks", "compose", "conversations",
	"directory", "explore", "favourites", "filters", "hashtag", "home", "i", "intent",
	"lists", "login", "logout", "messages", "notifications", "oauth", "privacy", "public",
	"search", "settings", "share", "signup", "tags", "tos", "users", "web",
}

var defaultPatterns = func() *Patterns {
	p, err := ParsePatterns(defaultTemplates)
	if err != nil {
		panic("blocklist: default patterns: " + err.Error())
	}
	return p
}()

// DefaultPatterns returns the templates of a Twitter-like site:
//
//	/{account}/status/{post}
//	/{account}/statuses/{post}
//	/i/web/status/{post}
//	/i/status/{post}
//	/api/v1/statuses/{post}
//	/1.1/statuses/show.json?id={post}
//	/1.1/statuses/show/{post}
//	/1.1/users/show.json?screen_name={account}
//	/@{account}/{post}
//	/@{account}
//	/{account}
//
// with the reserved names of [DefaultReserved].
func DefaultPatterns() *Patterns { return defaultPatterns }

// DefaultReserved returns the route names that patterns reserve unless [WithReserved] says
// otherwise: the top-level routes of Twitter/X and Mastodon that are not accounts.
//
//	about account admin api auth bookmarks compose conversations directory explore
//	favourites filters hashtag home i intent lists login logout messages notifications
//	oauth privacy public search settings share signup tags tos users web
func DefaultReserved() []string { return slices.Clone(defaultReserved) }

// A PatternOption changes what [ParsePatterns] compiles.
type PatternOption func(*patternOptions)

type patternOptions struct {
	reserved []string
}

// WithReserved makes names the reserved route names (see [Patterns]), replacing
// [DefaultReserved]; with no names, none is reserved. Names compare case-insensitively and
// are written without "@".
func WithReserved(names ...string) PatternOption {
	names = slices.Clone(names)
	return func(o *patternOptions) { o.reserved = names }
}

// ParsePatterns compiles templates (see [Patterns]). Every bad template and reserved name
// is reported.
func ParsePatterns(templates []string, opts ...PatternOption) (*Patterns, error) {
	o := patternOptions{reserved: defaultReserved}
	for _, opt := range opts {
		opt(&o)
	}
	if len(templates) == 0 {
		return nil, errors.New("patterns: no templates (posts and accounts could never match)")
	}
	p := &Patterns{}
	var errs []error
	p.reserved, errs = parseReserved(o.reserved)
	seen := make(map[string]bool)
	for _, t := range templates {
		t = strings.TrimSpace(t)
		pat, err := parseTemplate(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("pattern %q: %w", t, err))
			continue
		}
		key := strings.ToLower(t)
		if seen[key] {
			errs = append(errs, fmt.Errorf("pattern %q: duplicate template", t))
			continue
		}
		seen[key] = true
		p.templates = append(p.templates, t)
		p.list = append(p.list, pat)
		p.maxSegs = max(p.maxSegs, len(pat.segs))
		for _, s := range pat.segs {
			p.has[s.kind] = true
		}
		p.has[pat.paramKind] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// parseReserved brings reserved names into the canonical form of accounts.
func parseReserved(names []string) ([]string, []error) {
	var errs []error
	out := make([]string, 0, len(names))
	for _, n := range names {
		c, err := plainSegment("reserved name", n)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case strings.HasPrefix(c, "@"):
			errs = append(errs, fmt.Errorf("reserved name %q: write it without @", n))
			continue
		case slices.Contains(out, c):
			errs = append(errs, fmt.Errorf("reserved name %q given twice", n))
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

// isReserved reports whether account, in canonical form, is a reserved route name.
func (p *Patterns) isReserved(account string) bool { return slices.Contains(p.reserved, account) }

func parseTemplate(t string) (pattern, error) {
	var pat pattern
	if !strings.HasPrefix(t, "/") {
		return pat, errors.New(`must start with "/"`)
	}
	path, query, hasQuery := strings.Cut(t, "?")
	path = strings.TrimSuffix(path, "/")
	var seen [TargetPathPrefix + 1]bool
	placeholder := func(kind TargetKind) error {
		if seen[kind] {
			return fmt.Errorf("duplicate placeholder {%s}", kind)
		}
		seen[kind] = true
		return nil
	}
	if path != "" {
		for _, s := range strings.Split(path[1:], "/") {
			seg, err := parseTemplateSegment(s)
			if err != nil {
				return pat, err
			}
			if seg.kind != 0 {
				if err := placeholder(seg.kind); err != nil {
					return pat, err
				}
			}
			pat.segs = append(pat.segs, seg)
		}
	}
	if len(pat.segs) > maxPatternSegments {
		return pat, fmt.Errorf("more than %d segments", maxPatternSegments)
	}
	if hasQuery {
		name, value, ok := strings.Cut(query, "=")
		kind := placeholderKind(value)
		switch {
		case !ok || name == "" || strings.ContainsAny(name, "&=%+{}; "):
			return pat, fmt.Errorf("query %q: want one name={placeholder} parameter", query)
		case kind == 0:
			return pat, fmt.Errorf("query %q: value must be {post} or {account}", query)
		}
		if err := placeholder(kind); err != nil {
			return pat, err
		}
		pat.param, pat.paramKind = strings.ToLower(name), kind
		pat.literals++
	}
	for _, s := range pat.segs {
		if s.kind == 0 || s.at {
			pat.literals++
		}
	}
	if !seen[TargetPost] && !seen[TargetAccount] {
		return pat, errors.New("no {post} or {account} placeholder")
	}
	return pat, nil
}

func placeholderKind(s string) TargetKind {
	switch s {
	case "{post}":
		return TargetPost
	case "{account}":
		return TargetAccount
	}
	return 0
}

func parseTemplateSegment(s string) (patternSegment, error) {
	if kind := placeholderKind(s); kind != 0 {
		return patternSegment{kind: kind}, nil
	}
	if s == "@{account}" {
		return patternSegment{kind: TargetAccount, at: true}, nil
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && !strings.ContainsAny(s[1:len(s)-1], "{}") {
		return patternSegment{}, fmt.Errorf("unknown placeholder %s (want {post} or {account})", s)
	}
	if strings.ContainsAny(s, "{}") {
		return patternSegment{}, fmt.Errorf("segment %q: a placeholder must be a whole segment", s)
	}
	if s == "" {
		return patternSegment{}, errors.New("empty segment")
	}
	// Literals are compared with the values of request segments, so they must be plain
	// segments: "%41", "." or "a;b" could never be seen.
	lit, err := plainSegment("segment", s)
	if err != nil || strings.Trim(s, " ") != s {
		return patternSegment{}, fmt.Errorf("segment %q can never appear in a canonical path", s)
	}
	return patternSegment{lit: lit}, nil
}

// Templates returns the templates, as given.
func (p *Patterns) Templates() []string { return slices.Clone(p.templates) }

// Reserved returns the reserved route names, lower-cased.
func (p *Patterns) Reserved() []string { return slices.Clone(p.reserved) }
