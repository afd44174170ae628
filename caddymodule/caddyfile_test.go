package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var updateGolden = flag.Bool("update", false, "rewrite the expected JSON of the Caddyfile adapt tests")

// TestCaddyfileAdapt adapts every testdata/adapt/*.caddyfiletest: a Caddyfile,
// a line of dashes, then either the JSON it must adapt to or the error it
// must fail with (a file:line in it included).
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			caddyfile = strings.TrimSpace(caddyfile) + "\n"
			expected = strings.TrimSpace(expected)

			if strings.HasPrefix(expected, "{") {
				if *updateGolden {
					out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
					if err != nil {
						t.Fatal(err)
					}
					var buf strings.Builder
					buf.WriteString(caddyfile + "----------\n")
					buf.WriteString(indentJSON(t, out) + "\n")
					if err := os.WriteFile(file, []byte(buf.String()), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				caddytest.AssertAdapt(t, caddyfile, "caddyfile", expected)
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
			if err == nil {
				t.Fatalf("adapted without error, want one containing %q", expected)
			}
			if !strings.Contains(err.Error(), expected) {
				t.Errorf("error %q\ndoes not contain %q", err, expected)
			}
		})
	}
}

func indentJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
