package caddymodule

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/source"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "geo-restrict",
		Usage: "validate|explain|keygen|sign|verify ...",
		Short: "Checks, explains and signs georestrict registers",
		Long: `
Commands for the people who keep georestrict's registers:

  validate   loads registers as the gateway would and reports every problem
  explain    says what the geo_restrict handlers of a config decide for a request
  keygen     makes the key pair that registers are signed with
  sign       signs registers (writes <register>.sig)
  verify     checks registers against their signatures

Run 'caddy geo-restrict <command> --help' for a command's flags.
`,
		CobraFunc: func(cmd *cobra.Command) {
			validate := &cobra.Command{
				Use:   "validate [--format <format>] [--hosts <host>,...] [--countries <cc>,...] <register>...",
				Short: "Loads registers as one and reports every problem",
				Long: `
Loads the registers as the gateway loads a handler's registers: as one, so
that order ids must be unique across them. Every problem is printed, with
its file, line and field, and the exit status is 1. Otherwise a summary is
printed: each register's orders by action and by country, and for the
regulators' registers what they say of themselves and the entries that are
not enforced.

--format is the registers' format (auto, csv, json, rkn-xml, rkn-csv, urls;
default auto: told from the content). --hosts are the app's host names, as
the handler's hosts: URLs on other hosts are not orders. --countries are
where the orders of a regulator's register or a URL list apply (default RU
for rkn-xml and rkn-csv; required for urls). The site's URL templates are
the default ones.
`,
				Args: cobra.MinimumNArgs(1),
				RunE: runCommand(cmdValidate),
			}
			validate.Flags().StringP("format", "f", "", "Format of the registers (default auto)")
			validate.Flags().StringSlice("hosts", nil, "The app's host names, comma-separated")
			validate.Flags().StringSlice("countries", nil, "Countries of a regulator's register or a URL list, comma-separated")
			cmd.AddCommand(validate)

			explain := &cobra.Command{
				Use:   "explain --config <path> [--adapter <name>] --ip <ip> --url <url or path>",
				Short: "Explains what each geo_restrict handler of a config decides for a request",
				Long: `
Loads the geo_restrict handlers of a config (adapted with --adapter, as
'caddy run' does), with their country databases and registers as they are
now, and prints what each decides for a request from --ip for --url (a path
such as /someuser/status/1, or an http(s) URL), and why: the same JSON as
the admin API's GET /geo_restrict/explain. Nothing is started: the registers
are loaded once, without refresh, and let go.
`,
				Args: cobra.NoArgs,
				RunE: runCommand(cmdExplain),
			}
			explain.Flags().StringP("config", "c", "", "Configuration file (required)")
			explain.Flags().StringP("adapter", "a", "", "Name of the config adapter")
			explain.Flags().String("ip", "", "Client IP address (required)")
			explain.Flags().String("url", "", "URL or path asked for (required)")
			cmd.AddCommand(explain)

			keygen := &cobra.Command{
				Use:   "keygen --private <file> --public <file>",
				Short: "Makes a key pair for signing registers",
				Long: `
Makes an Ed25519 key pair: the private key (PEM, PKCS #8, readable by its
owner only) signs registers and stays with the people who answer for them;
the public key (PEM) goes to the gateways, as verify_key. Neither file may
exist yet. The public key is also printed in base64, as verify_key takes it
on one line.
`,
				Args: cobra.NoArgs,
				RunE: runCommand(cmdKeygen),
			}
			keygen.Flags().String("private", "", "File to write the private key to (required)")
			keygen.Flags().String("public", "", "File to write the public key to (required)")
			cmd.AddCommand(keygen)

			sign := &cobra.Command{
				Use:   "sign --key <private key file> <register>...",
				Short: "Signs registers",
				Long: `
Signs each register with the private key and writes the signature beside
it, in <register>.sig (replacing one that is there). Sign a register once it
is final: any change to its bytes afterwards makes the gateways refuse it.
`,
				Args: cobra.MinimumNArgs(1),
				RunE: runCommand(cmdSign),
			}
			sign.Flags().StringP("key", "k", "", "Private key file (required)")
			cmd.AddCommand(sign)

			verify := &cobra.Command{
				Use:   "verify --key <public key or file> <register>...",
				Short: "Checks registers against their signatures",
				Long: `
Checks each register (a file, or an http(s) URL) against its signature,
<register>.sig, as a gateway with verify_key does, and says which pass and
which fail. The exit status is 1 when any fails. --key is the public key in
base64, or a file that holds it.
`,
				Args: cobra.MinimumNArgs(1),
				RunE: runCommand(cmdVerify),
			}
			verify.Flags().StringP("key", "k", "", "Public key, base64 or a file (required)")
			cmd.AddCommand(verify)
		},
	})
}

// commandFunc is a command that writes what it has to say to w.
type commandFunc func(w io.Writer, fl caddycmd.Flags) (int, error)

// runCommand runs f as Caddy runs its own commands (an error is logged and
// makes the exit status 1), with the command's output writer.
func runCommand(f commandFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
			return f(cmd.OutOrStdout(), fl)
		})(cmd, args)
	}
}

func required(fl caddycmd.Flags, names ...string) error {
	for _, name := range names {
		if fl.String(name) == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	return nil
}

func cmdValidate(w io.Writer, fl caddycmd.Flags) (int, error) {
	format, err := blocklist.ParseFormat(fl.String("format"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--format: %w", err)
	}
	hosts, _ := fl.GetStringSlice("hosts")
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--hosts: %w", err)
		}
	}
	countries, _ := fl.GetStringSlice("countries")
	for i, c := range countries {
		countries[i] = strings.ToUpper(c)
		if c != "*" && !blocklist.IsCountry(c) {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--countries: unknown country code %q", c)
		}
	}
	paths := fl.Args()
	sources := make([]blocklist.Source, len(paths))
	for i, p := range paths {
		sources[i] = blocklist.Source{Name: p, Format: format, Countries: countries}
	}
	reg, err := blocklist.Load(context.Background(), sources, blocklist.Options{Hosts: hosts})
	if err != nil {
		problems := leafErrors(err)
		for _, e := range problems {
			fmt.Fprintln(w, e)
		}
		return caddy.ExitCodeFailedStartup, fmt.Errorf("%s refused: %d problems", strings.Join(paths, ", "), len(problems))
	}
	writeSummary(w, reg)
	return caddy.ExitCodeSuccess, nil
}

// leafErrors lists the problems in err, which Load joins.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// writeSummary describes a register that loaded, source by source.
func writeSummary(w io.Writer, reg *blocklist.Register) {
	for _, c := range reg.Census() {
		fmt.Fprintf(w, "%s: %d orders\n", c.Source, c.Orders)
		if c.Orders > 0 {
			fmt.Fprintf(w, "\tby action:  %s\n", counts(c.ByAction))
			fmt.Fprintf(w, "\tby country: %s\n", counts(c.ByCountry))
		}
	}
	st := reg.Stats()
	for _, h := range st.Headers {
		fmt.Fprintf(w, "published: %s", h.Format)
		if h.UpdateTime != "" {
			fmt.Fprintf(w, ", updated %s", h.UpdateTime)
		}
		if h.FormatVersion != "" {
			fmt.Fprintf(w, ", format version %s", h.FormatVersion)
		}
		fmt.Fprintln(w)
	}
	if len(st.Unenforced) > 0 {
		fmt.Fprintf(w, "not enforced: %s\n", counts(st.Unenforced))
	}
	if len(st.Skipped) > 0 {
		fmt.Fprintln(w, "entries for the site that are not orders (the first of them):")
		for _, s := range st.Skipped {
			fmt.Fprintf(w, "\t%s:%d: %s: %s\n", s.Source, s.Line, s.ID, s.Reason)
		}
	}
	if st.SkippedForeignHost > 0 {
		fmt.Fprintf(w, "orders skipped for a host not in --hosts: %d (the first: %s)\n",
			st.SkippedForeignHost, strings.Join(st.SkippedForeignHostIDs, ", "))
	}
	fmt.Fprintf(w, "ok: %d orders (%d block, %d throttle)\n", st.Orders, st.Blocks, st.Throttles)
}

// counts writes "RU 3, BY 1" with keys in order.
func counts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func cmdExplain(w io.Writer, fl caddycmd.Flags) (int, error) {
	if err := required(fl, "config", "ip", "url"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	in, err := parseExplainRequest(fl.String("ip"), fl.String("url"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	cfgJSON, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	out, err := explainConfig(cfgJSON, in)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	if err := enc.Encode(out); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// configJSON is what explain reads of a config: its storage, and the HTTP
// servers' routes.
type configJSON struct {
	StorageRaw json.RawMessage `json:"storage,omitempty"`
	Apps       struct {
		HTTP *struct {
			Servers map[string]serverJSON `json:"servers"`
		} `json:"http"`
	} `json:"apps"`
}

type serverJSON struct {
	Listen []string    `json:"listen"`
	Routes []routeJSON `json:"routes"`
	Errors *struct {
		Routes []routeJSON `json:"routes"`
	} `json:"errors"`
	NamedRoutes map[string]*routeJSON `json:"named_routes"`
}

type routeJSON struct {
	Match  []map[string]json.RawMessage `json:"match"`
	Handle []json.RawMessage            `json:"handle"`
}

// explainConfig explains in for every geo_restrict handler of a JSON config:
// each is provisioned (refresh off, in a context with the config's
// storage, which URL sources read their last good copies from), explained
// and cleaned up.
func explainConfig(cfgJSON []byte, in explainRequest) (explainResult, error) {
	var cfg configJSON
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return explainResult{}, fmt.Errorf("reading the config: %w", err)
	}
	found, err := configHandlers(cfg)
	if err != nil {
		return explainResult{}, err
	}
	out := in.result()
	if len(found) == 0 {
		return out, nil
	}
	pctx, err := caddy.ProvisionContext(&caddy.Config{StorageRaw: cfg.StorageRaw})
	if err != nil {
		return out, err
	}
	ctx, cancel := caddy.NewContext(pctx)
	defer cancel()
	for _, f := range found {
		h, err := offlineHandler(f.raw)
		if err != nil {
			return out, fmt.Errorf("%s: %w", f.site.Name, err)
		}
		err = h.Provision(ctx)
		if err == nil {
			out.Handlers = append(out.Handlers, explainHandler(h, f.site, in))
		}
		_ = h.Cleanup()
		if err != nil {
			return out, fmt.Errorf("%s: %w", f.site.Name, err)
		}
	}
	return out, nil
}

// configHandlers finds the geo_restrict handlers in a config's JSON, as
// activeHandlers finds them in the running config.
func configHandlers(cfg configJSON) ([]foundHandler, error) {
	if cfg.Apps.HTTP == nil {
		return nil, nil
	}
	var found []foundHandler
	for _, name := range sortedKeys(cfg.Apps.HTTP.Servers) {
		srv := cfg.Apps.HTTP.Servers[name]
		w := newSiteWalker(name, srv.Listen)
		if err := w.jsonRoutes(srv.Routes, nil); err != nil {
			return nil, fmt.Errorf("server %s: %w", name, err)
		}
		if srv.Errors != nil {
			if err := w.jsonRoutes(srv.Errors.Routes, nil); err != nil {
				return nil, fmt.Errorf("server %s: %w", name, err)
			}
		}
		for _, rn := range sortedKeys(srv.NamedRoutes) {
			if r := srv.NamedRoutes[rn]; r != nil {
				if err := w.jsonRoute(*r, nil); err != nil {
					return nil, fmt.Errorf("server %s: %w", name, err)
				}
			}
		}
		found = append(found, w.found...)
	}
	return found, nil
}

func (w *siteWalker) jsonRoutes(routes []routeJSON, hosts []string) error {
	for _, r := range routes {
		if err := w.jsonRoute(r, hosts); err != nil {
			return err
		}
	}
	return nil
}

func (w *siteWalker) jsonRoute(r routeJSON, hosts []string) error {
	var own []string
	for _, set := range r.Match {
		if raw, ok := set["host"]; ok {
			var hs []string
			if err := json.Unmarshal(raw, &hs); err != nil {
				return fmt.Errorf("host matcher: %w", err)
			}
			own = append(own, hs...)
		}
	}
	hosts = innerHosts(hosts, own)
	for _, raw := range r.Handle {
		var hd struct {
			Handler string      `json:"handler"`
			Routes  []routeJSON `json:"routes"`
		}
		if err := json.Unmarshal(raw, &hd); err != nil {
			return fmt.Errorf("handler: %w", err)
		}
		switch hd.Handler {
		case "geo_restrict":
			w.add(hosts, nil, raw)
		case "subroute":
			if err := w.jsonRoutes(hd.Routes, hosts); err != nil {
				return err
			}
		}
	}
	return nil
}

// offlineHandler decodes a geo_restrict handler's JSON as Caddy does
// (unknown fields are errors), with refresh off: an offline explain loads
// each register once.
func offlineHandler(raw json.RawMessage) (*Handler, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	delete(fields, "handler")
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	h := new(Handler)
	if err := caddy.StrictUnmarshalJSON(b, h); err != nil {
		return nil, err
	}
	off := caddy.Duration(0)
	h.Refresh = &off
	for i := range h.Registers {
		h.Registers[i].Refresh = nil
	}
	return h, nil
}

func cmdKeygen(w io.Writer, fl caddycmd.Flags) (int, error) {
	if err := required(fl, "private", "public"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	pub, err := source.GenerateKey(fl.String("private"), fl.String("public"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	text, err := os.ReadFile(fl.String("public"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if _, err := source.ParsePublicKey(text); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("the public key just written does not read back: %w", err)
	}
	fmt.Fprintf(w, "private key: %s (keep it with the people who sign registers, off the servers)\n", fl.String("private"))
	fmt.Fprintf(w, "public key:  %s\n", fl.String("public"))
	fmt.Fprintf(w, "verify_key %s\n", base64.StdEncoding.EncodeToString(pub))
	return caddy.ExitCodeSuccess, nil
}

func cmdSign(w io.Writer, fl caddycmd.Flags) (int, error) {
	if err := required(fl, "key"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	text, err := os.ReadFile(fl.String("key"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("reading the private key: %w", err)
	}
	key, err := source.ParsePrivateKey(text)
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("%s: %w", fl.String("key"), err)
	}
	var failed []string
	for _, p := range fl.Args() {
		if err := signFile(key, p); err != nil {
			fmt.Fprintf(w, "FAILED %s: %v\n", p, err)
			failed = append(failed, p)
			continue
		}
		fmt.Fprintf(w, "signed %s: %s.sig\n", p, p)
	}
	if len(failed) > 0 {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("not signed: %s", strings.Join(failed, ", "))
	}
	return caddy.ExitCodeSuccess, nil
}

// signFile writes the signature of the file at path to path.sig. The
// signature is written to a temporary file and renamed into place, so that
// a gateway never reads half of it.
func signFile(key ed25519.PrivateKey, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	sig, err := source.Sign(key, f)
	f.Close()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".sig-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(sig); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path+".sig")
}

func cmdVerify(w io.Writer, fl caddycmd.Flags) (int, error) {
	if err := required(fl, "key"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	key, err := parseVerifyKey(fl.String("key"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--key: %w", err)
	}
	var failed []string
	for _, location := range fl.Args() {
		if err := verifyLocation(key, location); err != nil {
			fmt.Fprintf(w, "FAILED %s: %v\n", location, err)
			failed = append(failed, location)
			continue
		}
		fmt.Fprintf(w, "ok %s\n", location)
	}
	if len(failed) > 0 {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("not verified: %s", strings.Join(failed, ", "))
	}
	return caddy.ExitCodeSuccess, nil
}

// verifyLocation reads a register and its signature exactly as a gateway
// with verify_key does, through package source.
func verifyLocation(key ed25519.PublicKey, location string) error {
	src, err := source.New(location, source.Options{PublicKey: key, MemoryLimit: -1})
	if err != nil {
		return err
	}
	v, err := src.CheckFull(context.Background())
	if err != nil {
		return err
	}
	return v.Release()
}
