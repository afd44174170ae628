package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// RegisterSource is one register file. In JSON it is the file's path, or an
// object when the file has options:
//
//	"registers": [
//		"/etc/georestrict/rkn.csv",
//		{"path": "/etc/georestrict/court-holds.csv", "allow_empty": true}
//	]
//
// A source with only a path is written back as the plain string, so configs
// that only name paths read and adapt as they always did.
type RegisterSource struct {
	// Where the register is: the path of a file (CSV, JSON or JSON Lines;
	// relative paths are relative to Caddy's working directory), or an
	// `http://` or `https://` URL, fetched with conditional requests, whose
	// last good copy is kept in Caddy's storage. Required.
	Path string `json:"path"`

	// How often to check the source for a new version, overriding the
	// handler's `refresh`. 0 turns checking off for this source.
	Refresh *caddy.Duration `json:"refresh,omitempty"`

	// The share of this source's orders (0 to 1) that a new version may drop
	// before it is held back instead of applied, overriding the handler's
	// `max_shrink`.
	MaxShrink *float64 `json:"max_shrink,omitempty"`

	// How the register is written: `csv` and `json` (this project's own
	// formats), `rkn-xml` (the Russian regulator's dump.xml), `rkn-csv` (the
	// public mirror's dump.csv), or `urls` (one URL a line). Default: `auto`,
	// told from the content.
	Format string `json:"format,omitempty"`

	// For a regulator's register or a URL list: the countries its orders apply
	// in (ISO 3166-1 codes). Default: `RU` for `rkn-xml` and `rkn-csv`;
	// required for `urls`.
	Countries []string `json:"countries,omitempty"`

	// For a regulator's register or a URL list: who ordered what an entry
	// names no authority for (a URL list names none).
	Authority string `json:"authority,omitempty"`

	// For a regulator's register or a URL list: the URL of each order's public
	// notice, with `{id}`, `{number}` and `{date}` filled in from the entry.
	Notice string `json:"notice,omitempty"`

	// For a regulator's register: enforce its entries that block a whole
	// domain which is one of `hosts`, as orders on every path. Default: such
	// entries are logged and counted, not enforced (networks block domains; a
	// platform withholds content).
	WholeSite bool `json:"whole_site,omitempty"`

	// Accept the file when it holds no orders. Default: false, and a file
	// without orders (a header and nothing else, an empty JSON array, an
	// empty file, or one whose URLs are all on hosts not in `hosts`) is
	// refused, so that a truncated export or an emptied spreadsheet cannot
	// lift every order it held. Set it for a register that may be empty,
	// such as one kept ready for future orders.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// UnmarshalJSON reads a path string or an object with the path and options.
func (s *RegisterSource) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*s = RegisterSource{}
		return json.Unmarshal(b, &s.Path)
	}
	type plain RegisterSource // without these methods
	var p plain
	if err := decodeNamed(b, &p); err != nil {
		if _, named := err.(*fieldError); named {
			return err
		}
		return fmt.Errorf(`register: want a path or {"path": ..., "allow_empty": true, ...}: %w`, err)
	}
	if p.Path == "" {
		return errors.New(`register: "path" is required`)
	}
	*s = RegisterSource(p)
	return nil
}

// MarshalJSON writes the plain path string when the source has no options.
func (s RegisterSource) MarshalJSON() ([]byte, error) {
	if s.pathOnly() {
		return json.Marshal(s.Path)
	}
	type plain RegisterSource
	return json.Marshal(plain(s))
}

// pathOnly reports a source with no options, written as its path alone.
func (s RegisterSource) pathOnly() bool {
	return s.Refresh == nil && s.MaxShrink == nil && s.Format == "" && len(s.Countries) == 0 &&
		s.Authority == "" && s.Notice == "" && !s.WholeSite && !s.AllowEmpty
}

// isURL reports a source fetched over HTTP rather than read from a file.
func (s RegisterSource) isURL() bool {
	return strings.HasPrefix(s.Path, "http://") || strings.HasPrefix(s.Path, "https://")
}

// refresh is how often the source is checked, given the handler's default.
func (s RegisterSource) refresh(def time.Duration) time.Duration {
	if s.Refresh != nil {
		return time.Duration(*s.Refresh)
	}
	return def
}

// maxShrink is the share of orders a new version may drop, given the handler's default.
func (s RegisterSource) maxShrink(def float64) float64 {
	if s.MaxShrink != nil {
		return *s.MaxShrink
	}
	return def
}

// parsePatterns compiles the configured templates and reserved names; nil
// for neither, which means blocklist's defaults. Reserved names alone keep
// the default templates.
func parsePatterns(templates, reserved []string) (*blocklist.Patterns, error) {
	if len(templates) == 0 && len(reserved) == 0 {
		return nil, nil
	}
	if len(templates) == 0 {
		templates = blocklist.DefaultPatterns().Templates()
	}
	var opts []blocklist.PatternOption
	if len(reserved) > 0 {
		opts = append(opts, blocklist.WithReserved(reserved...))
	}
	return blocklist.ParsePatterns(templates, opts...)
}

// registerPaths returns the paths of sources, for logs and metric labels.
func registerPaths(sources []RegisterSource) []string {
	paths := make([]string, len(sources))
	for i, s := range sources {
		paths[i] = s.Path
	}
	return paths
}

// Interface guards
var (
	_ json.Marshaler   = RegisterSource{}
	_ json.Unmarshaler = (*RegisterSource)(nil)
)

// blocklistSource is what blocklist.Load reads of a source, given its bytes.
func (s RegisterSource) blocklistSource(r io.Reader) blocklist.Source {
	f, _ := blocklist.ParseFormat(s.Format) // checked with the settings
	return blocklist.Source{
		Name: s.Path, Reader: r, Format: f, AllowEmpty: s.AllowEmpty,
		Countries: s.Countries, Authority: s.Authority, Notice: s.Notice, WholeSite: s.WholeSite,
	}
}
