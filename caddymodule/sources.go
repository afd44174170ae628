package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

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
	// Path of the register file: CSV, JSON or JSON Lines. Relative paths are
	// relative to Caddy's working directory. Required.
	Path string `json:"path"`

	// Accept the file when it holds no orders. Default: false, and a file
	// without orders (a header and nothing else, an empty JSON array, an
	// empty file, or one whose URLs are all on hosts not in `hosts`) is
	// refused, so that a truncated export or an emptied spreadsheet cannot
	// lift every order it held. Set it for a register that may be empty,
	// such as one kept ready for future orders.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// UnmarshalJSON reads a path string or a {"path", "allow_empty"} object.
func (s *RegisterSource) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*s = RegisterSource{}
		return json.Unmarshal(b, &s.Path)
	}
	type plain RegisterSource // without these methods
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf(`register: want a path or {"path": ..., "allow_empty": true}: %w`, err)
	}
	if p.Path == "" {
		return errors.New(`register: "path" is required`)
	}
	*s = RegisterSource(p)
	return nil
}

// MarshalJSON writes the plain path string when the source has no options.
func (s RegisterSource) MarshalJSON() ([]byte, error) {
	if !s.AllowEmpty {
		return json.Marshal(s.Path)
	}
	type plain RegisterSource
	return json.Marshal(plain(s))
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

// blocklistSources turns configured sources into what blocklist.Load reads.
func blocklistSources(sources []RegisterSource) []blocklist.Source {
	out := make([]blocklist.Source, len(sources))
	for i, s := range sources {
		out[i] = blocklist.Source{Name: s.Path, AllowEmpty: s.AllowEmpty}
	}
	return out
}

// Interface guards
var (
	_ json.Marshaler   = RegisterSource{}
	_ json.Unmarshaler = (*RegisterSource)(nil)
)
