package blocklist

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Action is what an order makes the gateway do.
type Action uint8

const (
	// ActionBlock withholds the content: the gateway answers 451 Unavailable For Legal Reasons.
	ActionBlock Action = iota + 1
	// ActionThrottle slows uploads (and, with "both", responses) down to Order.Rate.
	ActionThrottle
)

func (a Action) String() string {
	switch a {
	case ActionBlock:
		return "block"
	case ActionThrottle:
		return "throttle"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// TargetKind says what an order names.
type TargetKind uint8

const (
	// TargetPost is one post, wherever the site's patterns show it.
	TargetPost TargetKind = iota + 1
	// TargetAccount is an account: its profile and every path under it.
	TargetAccount
	// TargetPath is one exact canonical path.
	TargetPath
	// TargetPathPrefix is every canonical path that starts with Value.
	TargetPathPrefix
)

func (k TargetKind) String() string {
	switch k {
	case TargetPost:
		return "post"
	case TargetAccount:
		return "account"
	case TargetPath:
		return "path"
	case TargetPathPrefix:
		return "path prefix"
	}
	return "TargetKind(" + strconv.Itoa(int(k)) + ")"
}

// Target is what an order withholds, in canonical form: a numeric post id without leading
// zeros, lower-case post ids and handles without "@", canonical paths (see [CanonicalPath]).
type Target struct {
	Kind  TargetKind
	Value string
}

// String renders t in register syntax ("post:123", "account:someuser", "path:/x",
// "path:/media/*"), so it can be written back to a register and read as the same target.
func (t Target) String() string {
	switch t.Kind {
	case TargetPost:
		return "post:" + t.Value
	case TargetAccount:
		return "account:" + t.Value
	case TargetPath:
		return "path:" + escapePath(t.Value)
	case TargetPathPrefix:
		return "path:" + escapePath(t.Value) + "*"
	}
	return t.Kind.String() + ":" + t.Value
}

// escapePath escapes what a canonical path may contain but a path target cannot spell
// literally: "%" (decoded from "%25"), "?", "#", "*", and bytes that are not UTF-8 (old
// Russian sites percent-encode windows-1251).
func escapePath(p string) string {
	if !strings.ContainsAny(p, "%?#*") && utf8.ValidString(p) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '%', r == '?', r == '#', r == '*':
			fmt.Fprintf(&b, "%%%02X", p[i])
		default:
			b.WriteString(p[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Order is one legal order, as the code that enforces and explains it needs it. Orders returned
// by a [Register] are copies: changing one does not change the register.
type Order struct {
	ID        string
	Countries []string // upper-case ISO 3166-1 alpha-2 codes, or ["*"] for everywhere
	Target    Target
	Action    Action
	// Rate is the allowed rate in bytes per second when Action is ActionThrottle.
	Rate int64
	// ThrottleResponse is set by "throttle <rate> both": responses are slowed down too.
	ThrottleResponse bool

	Authority string // who ordered it, e.g. "Roskomnadzor"
	Reference string // decision number and date
	Notice    string // absolute http(s) URL of the public notice
	Reason    string // text shown to the user

	// The order applies from Start (inclusive) until End (exclusive); a zero time leaves that
	// side open.
	Start, End time.Time

	// Source is where the order was read, "orders.csv:12", for logs and errors.
	Source string
}

// parseAction parses the action column: "block" (also the meaning of an empty value),
// "throttle <rate>" or "throttle <rate> both". Rates are written like 64KiB/s, 1.5MiB/s,
// 512kbit/s or 2Mbit/s; see parseRate.
func parseAction(s string) (a Action, rate int64, both bool, err error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ActionBlock, 0, false, nil
	}
	switch strings.ToLower(f[0]) {
	case "block":
		if len(f) > 1 {
			return 0, 0, false, fmt.Errorf("block takes no arguments, got %q", strings.Join(f[1:], " "))
		}
		return ActionBlock, 0, false, nil
	case "throttle":
		if len(f) < 2 {
			return 0, 0, false, errors.New(`throttle needs a rate, e.g. "throttle 64KiB/s"`)
		}
		// Allow "64 KiB/s" as well as "64KiB/s": people copy rates out of prose.
		i := 2
		num, unit := f[1], ""
		if len(f) > 2 && !strings.EqualFold(f[2], "both") && f[1] != "" && isRateNumber(f[1]) {
			unit, i = f[2], 3
		}
		rate, err := parseRate(num + unit)
		if err != nil {
			return 0, 0, false, err
		}
		switch {
		case len(f) == i:
		case len(f) == i+1 && strings.EqualFold(f[i], "both"):
			both = true
		default:
			return 0, 0, false, fmt.Errorf(`unexpected %q after the rate (only "both" may follow)`, strings.Join(f[i:], " "))
		}
		return ActionThrottle, rate, both, nil
	}
	return 0, 0, false, fmt.Errorf(`unknown action %q (want "block" or "throttle <rate> [both]")`, f[0])
}

// rateUnits are the accepted spellings. Byte units need a capital B because a lower-case b
// conventionally means bits; binary prefixes are unambiguous in any case.
var rateUnits = []struct {
	name      string
	perSecond float64
	fold      bool
}{
	{"B/s", 1, false},
	{"kB/s", 1e3, false},
	{"KB/s", 1e3, false},
	{"MB/s", 1e6, false},
	{"GB/s", 1e9, false},
	{"KiB/s", 1 << 10, true},
	{"MiB/s", 1 << 20, true},
	{"GiB/s", 1 << 30, true},
	{"bit/s", 1.0 / 8, true},
	{"kbit/s", 1e3 / 8, true},
	{"Mbit/s", 1e6 / 8, true},
	{"Gbit/s", 1e9 / 8, true},
}

// rateUnitNames lists the units for errors.
var rateUnitNames = func() string {
	names := make([]string, len(rateUnits))
	for i, u := range rateUnits {
		names[i] = u.name
	}
	return strings.Join(names, ", ")
}()

func isRateNumber(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0:
			dot = true
		default:
			return false
		}
	}
	return len(s) > 0 && s[len(s)-1] != '.'
}

// parseRate parses a transfer rate such as "64KiB/s" into bytes per second. Units: B/s,
// kB/s (=1000 B/s; KB/s is read the same), MB/s, GB/s, KiB/s, MiB/s, GiB/s, bit/s, kbit/s,
// Mbit/s, Gbit/s (see rateUnits). The number is a plain decimal (no sign or exponent); the result must be at
// least 1 B/s.
func parseRate(s string) (int64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if !isRateNumber(num) {
		return 0, fmt.Errorf("bad rate %q: want a number and a unit, e.g. 64KiB/s", s)
	}
	for _, u := range rateUnits {
		if unit != u.name && !(u.fold && strings.EqualFold(unit, u.name)) {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad rate %q: %w", s, err)
		}
		bps := math.Round(v * u.perSecond)
		if bps < 1 {
			return 0, fmt.Errorf("bad rate %q: less than 1 B/s", s)
		}
		if bps >= math.MaxInt64 {
			return 0, fmt.Errorf("bad rate %q: too large", s)
		}
		return int64(bps), nil
	}
	return 0, fmt.Errorf("bad rate %q: unknown unit %q (want %s)", s, unit, rateUnitNames)
}
