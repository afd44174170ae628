package blocklist

import (
	"errors"
	"strconv"
	"strings"
)

// Error is the one error type of loading a register: a problem located so that the people
// who maintain the register can find it, by source (a file's path or a URL), physical line
// (of the field, for CSV; of the object, for JSON), element of a JSON array, and field.
// Load reports several at once, joined (errors.Join); problems with the register as a whole
// have no source.
type Error struct {
	Source string // "" when the problem concerns the register as a whole
	Line   int    // 1-based; 0 when the problem concerns the whole source
	Index  int    // element of a JSON array, or -1
	Field  string // "" when the problem concerns the whole row
	Err    error
}

// Error reads like `register orders.csv: line 12: countries: unknown country code "RX"`, or
// for a JSON array `register orders.json: line 14: [3].countries: ...`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("register")
	if e.Source != "" {
		b.WriteByte(' ')
		b.WriteString(e.Source)
	}
	if e.Line > 0 {
		b.WriteString(": line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Index >= 0 || e.Field != "" {
		b.WriteString(": ")
		if e.Index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.Index))
			b.WriteByte(']')
			if e.Field != "" {
				b.WriteByte('.')
			}
		}
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

var (
	errNotUTF8 = errors.New("not valid UTF-8 (save the file as UTF-8)")
	errUTF16   = errors.New(`the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`)
)

// maxErrors caps how many problems are spelled out: enough to fix a file in one go, not so
// many that a wrong delimiter buries the log.
const maxErrors = 20

type errorList struct {
	errs []error
	more int
}

func (l *errorList) add(err error) {
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, err)
		return
	}
	l.more++
}

func (l *errorList) len() int   { return len(l.errs) + l.more }
func (l *errorList) room() bool { return len(l.errs) < maxErrors }

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.more > 0 {
		errs = append(errs[:len(errs):len(errs)], errors.New("and "+strconv.Itoa(l.more)+" more errors"))
	}
	return errors.Join(errs...)
}
