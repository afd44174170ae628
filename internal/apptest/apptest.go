// Package apptest models the applications behind the gateway for georestrict's property
// tests, independently of the code under test: for any request path, if some plausible
// application would serve a withheld item for it, the gateway must withhold it (or refuse the
// path).
//
// An application is a router (how it turns the raw path into segments), a post id parser and
// an account comparison. The routers are Go's own http.ServeMux, run for real, and models of
// the other families: decode first and split (Werkzeug, Django), split and decode each segment
// (routers that match the escaped path), a normalising proxy in front (nginx), WHATWG URL
// parsing, servlet containers (Tomcat: path parameters, "..;"), and Windows stacks
// (backslashes). The id parsers are those of Go, Python, Ruby and PHP, JavaScript and MySQL;
// accounts compare as MySQL's accent- and case-insensitive default collation does (x/text's
// implementation of the Unicode Collation Algorithm), or as a Python application folds them
// (NFKD, casefold, strip).
//
// It is a test helper: nothing in the plugin imports it.
package apptest

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// What the tests' register withholds, in RU.
const (
	Post    = 123
	Account = "someuser"
	Path    = "/banned"
)

// Register is the register of the property tests, in CSV.
const Register = "id,countries,target\n" +
	"post,RU,post:123\n" +
	"account,RU,account:someuser\n" +
	"path,RU,path:/banned\n"

// Bases are the paths Spelling starts from: withheld items, and others.
var Bases = []string{"/someuser/status/123", "/other/status/123", "/someuser", "/someuser/likes", "/banned", "/other/status/124", "/someuser2"}

// routed is what a router hands the application: the segments of the path, as the
// application's handlers receive them (decoded).
type routed struct {
	segs     []string
	redirect string // a router that answers with a redirect sends the client here instead
}

// A Router is one family of applications' routers.
type Router struct {
	Name  string
	route func(raw string) (routed, bool)
}

// Routers are the modelled routers.
var Routers = []Router{
	{"net/http.ServeMux", serveMuxRoute},
	{"decode, then split (Werkzeug, Django)", func(raw string) (routed, bool) {
		p, ok := unescapeOnce(raw)
		return routed{segs: split(p)}, ok
	}},
	{"decode, merge slashes (Werkzeug merge_slashes)", func(raw string) (routed, bool) {
		p, ok := unescapeOnce(raw)
		return routed{segs: dropEmpty(split(p))}, ok
	}},
	{"split, then decode each segment (escaped-path routers)", func(raw string) (routed, bool) {
		var segs []string
		for _, s := range split(raw) {
			d, ok := unescapeOnce(s)
			if !ok {
				return routed{}, false
			}
			segs = append(segs, d)
		}
		return routed{segs: segs}, true
	}},
	{"nginx in front: decode, merge, resolve dots", func(raw string) (routed, bool) {
		p, ok := unescapeOnce(raw)
		return routed{segs: split(path.Clean("/" + p))}, ok
	}},
	{"WHATWG URL parser: resolve dots on the raw path, then decode", func(raw string) (routed, bool) {
		var out []string
		for _, s := range split(raw) {
			switch strings.ToLower(s) {
			case ".", "%2e":
				continue
			case "..", ".%2e", "%2e.", "%2e%2e":
				if len(out) > 0 {
					out = out[:len(out)-1]
				}
				continue
			}
			d, ok := unescapeOnce(s)
			if !ok {
				return routed{}, false
			}
			out = append(out, d)
		}
		return routed{segs: out}, true
	}},
	{"Tomcat: cut ;params, decode, normalise", func(raw string) (routed, bool) {
		var b strings.Builder
		for i, s := range split(raw) {
			if i > 0 || strings.HasPrefix(raw, "/") {
				b.WriteByte('/')
			}
			s, _, _ = strings.Cut(s, ";")
			b.WriteString(s)
		}
		p, ok := unescapeOnce(b.String())
		return routed{segs: split(path.Clean("/" + p))}, ok
	}},
	{"IIS: decode, backslashes are slashes, normalise", func(raw string) (routed, bool) {
		p, ok := unescapeOnce(raw)
		return routed{segs: split(path.Clean("/" + strings.ReplaceAll(p, `\`, "/")))}, ok
	}},
}

func split(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func dropEmpty(segs []string) []string {
	var out []string
	for _, s := range segs {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// unescapeOnce decodes percent-escapes once, as servers do; ok is false for an invalid escape,
// which Go's server (and so Caddy) refuses before any handler runs.
func unescapeOnce(s string) (string, bool) {
	u, err := url.PathUnescape(s)
	return u, err == nil
}

// serveMuxRoute runs a real http.ServeMux with the application's routes. Wildcards receive
// their segment decoded; a path that is not clean gets a redirect to the cleaned one.
func serveMuxRoute(raw string) (routed, bool) {
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return routed{}, false
	}
	var got routed
	mux := http.NewServeMux()
	post := func(w http.ResponseWriter, r *http.Request) {
		got.segs = []string{r.PathValue("account"), "status", r.PathValue("post")}
	}
	mux.HandleFunc("GET /{account}/status/{post}", post)
	mux.HandleFunc("GET /{account}/status/{post}/{rest...}", post)
	mux.HandleFunc("GET /{account}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		// An account's other pages: the remainder is one value, decoded as a whole.
		got.segs = []string{r.PathValue("account"), r.PathValue("rest")}
	})
	mux.HandleFunc("GET /{account}", func(w http.ResponseWriter, r *http.Request) {
		got.segs = []string{r.PathValue("account")}
	})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, &http.Request{Method: http.MethodGet, URL: u, Host: "app.example"})
	if w.Code/100 == 3 {
		got.redirect = w.Header().Get("Location")
	}
	return got, true
}

// What the applications do with the segments. A post id is read by one of the lenient parsers
// applications use; an account is compared as databases compare it.

// postReadings returns every number some application's id parser reads from s.
func postReadings(s string) []uint64 {
	var out []uint64
	add := func(n uint64, ok bool) {
		if ok {
			out = append(out, n)
		}
	}
	// Go's strconv, Java's Long.parseLong (ASCII), PHP's ctype checks: the strict reading.
	add(parseUint(s))
	// Python's int(): surrounding white space, a sign, underscores between digits, digits of
	// any script. Werkzeug's int converter (\d+) then int() reads fullwidth digits too.
	add(pythonInt(s))
	// Ruby's to_i, PHP's (int), C's atoi: leading white space and sign, then leading digits.
	add(leadingInt(strings.TrimLeft(s, " "), true))
	// JavaScript's parseInt: also "0x" hexadecimal.
	if t := strings.TrimSpace(s); strings.HasPrefix(strings.ToLower(t), "0x") {
		n, err := strconv.ParseUint(hexPrefix(t[2:]), 16, 64)
		add(n, err == nil)
	}
	// MySQL comparing a string with a BIGINT column: as doubles.
	if f, ok := mysqlDouble(s); ok && f == math.Trunc(f) && f >= 0 && f < 1<<63 {
		add(uint64(f), true)
	}
	return out
}

func parseUint(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func pythonInt(s string) (uint64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	s = strings.TrimPrefix(s, "+")
	var b strings.Builder
	prevDigit := false
	for i, r := range s {
		switch {
		case unicode.IsDigit(r):
			b.WriteByte('0' + digitValue(r))
			prevDigit = true
		case r == '_' && prevDigit && i+1 < len(s):
			prevDigit = false
		default:
			return 0, false
		}
	}
	if !prevDigit {
		return 0, false
	}
	return parseUint(b.String())
}

func leadingInt(s string, underscores bool) (uint64, bool) {
	s = strings.TrimPrefix(s, "+")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' {
			b.WriteByte(c)
			continue
		}
		if c == '_' && underscores && b.Len() > 0 && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9' {
			continue
		}
		break
	}
	if b.Len() == 0 {
		return 0, false
	}
	return parseUint(b.String())
}

func hexPrefix(s string) string {
	i := 0
	for i < len(s) && strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
		i++
	}
	return s[:i]
}

// mysqlDouble reads the longest prefix of s that is a decimal floating-point literal, after
// leading spaces, as MySQL converts strings to numbers.
func mysqlDouble(s string) (float64, bool) {
	s = strings.TrimLeft(s, " ")
	best := ""
	for i := 1; i <= len(s); i++ {
		if _, err := strconv.ParseFloat(s[:i], 64); err == nil && !strings.ContainsAny(s[:i], "xXpPnN_iI") {
			best = s[:i]
		}
	}
	if best == "" {
		return 0, false
	}
	f, _ := strconv.ParseFloat(best, 64)
	return f, true
}

// accountCollator compares handles as MySQL's default collation (utf8mb4_0900_ai_ci) does:
// ignoring case, accents and width. It is x/text's implementation of the Unicode Collation
// Algorithm, independent of the gateway's folding.
var accountCollator = collate.New(language.Und, collate.Loose)

func sameAccount(a, b string) bool {
	if a == b || strings.EqualFold(a, b) {
		return true
	}
	if !utf8.ValidString(a) {
		return false
	}
	return accountCollator.CompareString(a, b) == 0 || accountCollator.CompareString(strings.TrimRight(a, " "), b) == 0 ||
		pythonFold(a) == b
}

// pythonFold compares handles as a Python application might fold them before looking one up:
// unicodedata.normalize("NFKD"), combining marks and format characters dropped, casefold(),
// strip(). Applied after the "@" is stripped, it reads "@\u00a0someuser " as someuser.
func pythonFold(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
			return -1
		}
		return unicode.ToLower(r)
	}, norm.NFKD.String(s))
	return strings.TrimFunc(s, unicode.IsSpace)
}

// servesWithheld reports what withheld item an application would serve for segments, if any.
func servesWithheld(segs []string) string {
	if len(segs) > 0 && segs[0] != "" {
		acct := strings.TrimLeft(segs[0], "@")
		if sameAccount(acct, Account) {
			return "account " + acct
		}
	}
	if len(segs) >= 3 && strings.EqualFold(segs[1], "status") {
		for _, n := range postReadings(segs[2]) {
			if n == Post {
				return "post " + strconv.Quote(segs[2])
			}
		}
	}
	joined := "/" + strings.Join(segs, "/")
	if strings.EqualFold(strings.TrimSuffix(joined, "/"), Path) {
		return "path " + joined
	}
	return ""
}

// ServedWithheld returns the router and item of the first application that would serve a
// withheld item for raw (following a router's redirects, as clients do), or "".
func ServedWithheld(raw string) string {
	for _, rt := range Routers {
		target := raw
		for hop := 0; hop < 3; hop++ {
			got, ok := rt.route(target)
			if !ok {
				break
			}
			if got.redirect != "" {
				target = got.redirect
				continue
			}
			if item := servesWithheld(got.segs); item != "" {
				return rt.Name + " serves " + item + " for " + target
			}
			break
		}
	}
	return ""
}

// Spelling mutates a path the ways clients can spell it, driven by rnd. The mutations are
// deliberately more than any one application accepts: the routers decide which spellings
// reach a withheld item.
func Spelling(rnd *rand.Rand, base string) string {
	segs := split(base)
	steps := 1 + rnd.IntN(4)
	for range steps {
		i := rnd.IntN(len(segs) + 1)
		if i == len(segs) {
			segs = append(segs, "")
		}
		switch rnd.IntN(19) {
		case 0: // percent-encode a byte, maybe twice
			segs[i] = encodeByte(rnd, segs[i])
		case 1: // flip the case of the letters
			segs[i] = flipCase(rnd, segs[i])
		case 2: // an empty segment before it
			segs = insert(segs, i, "")
		case 3: // a dot segment before it
			segs = insert(segs, i, pick(rnd, ".", "%2e", "%2E"))
		case 4: // a detour: x/.. before it
			segs = insert(segs, i, "x", pick(rnd, "..", "%2e%2e", ".%2E", "..;", "..;x=1"))
		case 5: // a trailing dot-dot or dot
			segs = append(segs, pick(rnd, "..", ".", "%2e%2e"))
		case 6: // join it to the next one with an encoded slash or a backslash
			if i+1 < len(segs) {
				segs[i] = segs[i] + pick(rnd, "%2F", "%2f", `\`, "%5C", "%5c", "%252F") + segs[i+1]
				segs = append(segs[:i+1], segs[i+2:]...)
			}
		case 7: // path parameters
			segs[i] += pick(rnd, ";", ";jsessionid=1", ";x")
		case 8: // spaces around it, or what decomposes into one (U+00A8, a space and a diaeresis)
			segs[i] = pick(rnd, "%20", "", "%C2%A0", "%E3%80%80", "%C2%A8") + segs[i] + pick(rnd, "%20", "", "+", "%C2%A8")
		case 9: // another account: anything, or nothing
			segs[0] = pick(rnd, "", "%20", ".", "..", ";", "x%2Fy", "a%5Cb", "other", "%2e")
		case 10: // other digits
			segs[i] = otherDigits(rnd, segs[i])
		case 11: // a lenient number
			if n, err := strconv.Atoi(segs[i]); err == nil {
				segs[i] = pick(rnd, "0"+segs[i], "+"+segs[i], segs[i]+"abc", segs[i]+".json",
					strconv.Itoa(n/10)+"_"+strconv.Itoa(n%10), "0x"+strconv.FormatInt(int64(n), 16),
					segs[i]+".0", strconv.FormatFloat(float64(n)/100, 'f', -1, 64)+"e2", "%20"+segs[i])
			}
		case 12: // fullwidth letters
			segs[i] = fullwidth(segs[i])
		case 13: // an accent or an invisible character
			if len(segs[i]) > 1 {
				k := 1 + rnd.IntN(len(segs[i])-1)
				segs[i] = segs[i][:k] + pick(rnd, "%CC%81", "%E2%80%8B", "%C2%AD", "%EF%B8%8F") + segs[i][k:]
			}
		case 14: // an extra segment after it
			segs = insert(segs, i+1, pick(rnd, "photo", "1", "x"))
		case 15: // a leading "@"
			segs[i] = "@" + segs[i]
		case 16: // a format suffix
			segs[i] += pick(rnd, ".json", ".rss", ".html")
		case 17: // a fullwidth dot segment or solidus
			segs = insert(segs, i, pick(rnd, "%EF%BC%8E", "x/%EF%BC%8E%EF%BC%8E"))
		case 18: // double-encode everything
			segs[i] = strings.ReplaceAll(segs[i], "%", "%25")
		}
	}
	return "/" + strings.Join(segs, "/")
}

func pick(rnd *rand.Rand, options ...string) string { return options[rnd.IntN(len(options))] }

func insert(segs []string, i int, add ...string) []string {
	return append(segs[:i], append(add, segs[i:]...)...)
}

func encodeByte(rnd *rand.Rand, s string) string {
	if s == "" {
		return s
	}
	i := rnd.IntN(len(s))
	if s[i] == '%' {
		return s[:i] + "%25" + s[i+1:]
	}
	enc := "%" + strings.ToUpper(strconv.FormatUint(uint64(s[i])>>4, 16)+strconv.FormatUint(uint64(s[i])&15, 16))
	if rnd.IntN(2) == 0 {
		enc = strings.ToLower(enc)
	}
	return s[:i] + enc + s[i+1:]
}

func flipCase(rnd *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' && rnd.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// otherDigits writes the ASCII digits of s in another script, percent-encoded as UTF-8.
func otherDigits(rnd *rand.Rand, s string) string {
	zero := []rune{'０', '٠', '۰', '०', '০', '๐', '𝟎'}[rnd.IntN(7)]
	var b strings.Builder
	for _, r := range s {
		if '0' <= r && r <= '9' {
			b.WriteString(url.PathEscape(string(zero + r - '0')))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func fullwidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			b.WriteString(url.PathEscape(string(r - 'A' + 'Ａ')))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// digitValue returns the value of a decimal digit of any script: Unicode lays them out in runs
// of ten, from zero to nine.
func digitValue(r rune) byte {
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10)
		}
	}
	return 0
}

// Handler is the application behind the gateway, with every modelled router: the request's
// X-App header picks one (an index into Routers; default 0). It reads the path as the
// server received it, answers the router's redirects with 307 as a client would be sent,
// and otherwise answers 200, with the header X-Served-Withheld naming the withheld item it
// served, if any.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.Header.Get("X-App"))
		if i < 0 || i >= len(Routers) {
			http.Error(w, "no such router", http.StatusBadRequest)
			return
		}
		got, ok := Routers[i].route(r.URL.EscapedPath())
		switch {
		case !ok:
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		case got.redirect != "":
			w.Header().Set("Location", got.redirect)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		if item := servesWithheld(got.segs); item != "" {
			w.Header().Set("X-Served-Withheld", item)
		}
		_, _ = w.Write([]byte(Routers[i].Name + ": " + strings.Join(got.segs, " | ")))
	})
}
