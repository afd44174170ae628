package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reading dump.csv, the public mirror's copy of the register (see EntryReader).

// csvColumns are dump.csv's fields, in their order.
var csvColumns = [...]string{"ip", "domain", "url", "org", "number", "date"}

const (
	colIP = iota
	colDomain
	colURL
	colOrg
	colNumber
	colDate
)

type csvState struct {
	enc    encoding
	fields [len(csvColumns)]csvField
}

// csvField is a field of the row being read, as it stands in the buffer.
type csvField struct {
	start, end int  // in the row, without the quotes
	quoted     bool // and so with '"' doubled inside
}

func (d *EntryReader) csvHeader() error {
	for {
		b := d.in.avail()
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 && d.in.fill() {
			continue
		}
		if d.in.err != nil {
			return d.ioErr()
		}
		if nl < 0 {
			nl = len(b)
		}
		line := b[:nl]
		d.csv.enc = encCP1251
		if bytes.HasPrefix(line, []byte(bom)) {
			d.csv.enc = encUTF8
			line = line[len(bom):]
		}
		rest, ok := bytes.CutPrefix(line, []byte("Updated:"))
		if !ok {
			return &Error{Source: d.name, Line: 1, Index: -1, Err: errors.New(`the file does not start with "Updated:" as dump.csv does`)}
		}
		v, bad := appendText(nil, rest, d.csv.enc)
		if bad >= 0 {
			return &Error{Source: d.name, Line: 1, Index: -1, Err: errors.New(badText(rest[bad], d.csv.enc))}
		}
		d.header.UpdateTime = string(bytes.Trim(v, " \t\r\n"))
		d.in.pos += min(nl+1, len(b))
		return nil
	}
}

// csvNext reads the next row into d.e, skipping blank lines.
func (d *EntryReader) csvNext() error {
	for {
		b := d.in.avail()
		blank := 0
		for blank < len(b) && (b[blank] == '\n' || b[blank] == '\r' && blank+1 < len(b) && b[blank+1] == '\n') {
			blank++
		}
		d.in.pos += blank
		if blank == len(b) || len(b)-blank == 1 && b[blank] == '\r' && !d.in.eof {
			if d.in.fill() {
				continue
			}
			if d.in.err != nil {
				return d.ioErr()
			}
			if d.in.pos == d.in.end {
				return io.EOF
			}
			continue // a lone CR at the end of the file: a row
		}
		n, err := d.csvRow(d.in.avail(), d.in.eof)
		if err == errShort {
			if !d.in.fill() && d.in.err != nil {
				return d.ioErr()
			}
			continue
		}
		if err != nil {
			return err
		}
		d.in.pos += n
		return nil
	}
}

// csvRow reads the row at the start of b, which holds the rest of the file if eof is set. It
// returns the length of the row with its line end, or errShort if the row may go on beyond b.
func (d *EntryReader) csvRow(b []byte, eof bool) (int, error) {
	start := d.in.offset(0)
	fields := &d.csv.fields
	nf, i := 0, 0
	lineEnd := -1 // of the line i is on
	for {
		f := csvField{start: i}
		if i < len(b) && b[i] == '"' {
			f.quoted = true
			i++
			for {
				q := bytes.IndexByte(b[i:], '"')
				if q < 0 {
					if eof {
						return 0, d.csvErr(start, d.in.offset(f.start), csvColumns[min(nf, len(csvColumns)-1)], fmt.Errorf("unexpected end of file inside a quoted field: %w", errTruncated))
					}
					return 0, errShort
				}
				i += q + 1
				if i < len(b) && b[i] == '"' {
					i++
					continue
				}
				if i == len(b) && !eof {
					return 0, errShort
				}
				break
			}
			f.start++
			f.end = i - 1
			if i+1 == len(b) && b[i] == '\r' && !eof {
				return 0, errShort // CRLF, or a CR before more
			}
			if i < len(b) && b[i] != ';' && b[i] != '\n' && !(b[i] == '\r' && (i+1 == len(b) || b[i+1] == '\n')) {
				return 0, d.csvErr(start, d.in.offset(i), csvColumns[min(nf, len(csvColumns)-1)], errors.New(`text after the closing quote of a quoted field`))
			}
		} else {
			if lineEnd < i {
				switch lineEnd = bytes.IndexByte(b[i:], '\n'); {
				case lineEnd >= 0:
					lineEnd += i
				case !eof:
					return 0, errShort
				default:
					lineEnd = len(b)
				}
			}
			j := bytes.IndexByte(b[i:lineEnd], ';')
			if j < 0 {
				j = lineEnd - i
			}
			i += j
			f.end = i
		}
		if nf < len(fields) {
			fields[nf] = f
		}
		nf++
		if i < len(b) && b[i] == ';' {
			i++
			continue
		}
		// The end of the row: a line end or the end of the file.
		rowEnd := i
		if i < len(b) && b[i] == '\r' {
			i++
		}
		if i < len(b) && b[i] == '\n' {
			i++
		}
		if nf != len(fields) {
			return 0, d.csvErr(start, -1, "", fmt.Errorf("%d fields, not the %d of dump.csv (ip;domain;url;org;number;date)", nf, len(fields)))
		}
		// A CRLF line end is not part of the last field.
		if last := &fields[nf-1]; !last.quoted && last.end == rowEnd && last.end > last.start && b[last.end-1] == '\r' {
			last.end--
		}
		return i, d.csvValues(b, start)
	}
}

// csvErr reports a problem in the row that starts at start; at is where in it, or -1.
func (d *EntryReader) csvErr(start, at int64, field string, err error) error {
	line := d.in.lineAt(start)
	if at >= 0 {
		line = d.in.lineAt(at)
	}
	return &Error{Source: d.name, Line: line, Index: -1, Field: field, Err: err}
}

// csvValues decodes the fields of the row in b into the entry.
func (d *EntryReader) csvValues(b []byte, start int64) error {
	t := &d.text
	d.e.Offset = start
	d.e.Line = d.in.lineAt(start)
	for col := range d.csv.fields {
		f := &d.csv.fields[col]
		raw := b[f.start:f.end]
		mark := t.mark()
		var bad int
		if f.quoted {
			t.buf, bad = appendUnquoted(t.buf, raw, d.csv.enc)
		} else {
			t.buf, bad = appendText(t.buf, raw, d.csv.enc)
		}
		if bad >= 0 {
			return d.csvErr(start, d.in.offset(f.start+bad), csvColumns[col], errors.New(badText(raw[bad], d.csv.enc)))
		}
		switch col {
		case colIP:
			t.splitValues(mark, func(s span) {
				if bytes.IndexByte(t.buf[s.off:s.off+s.n], '/') >= 0 {
					t.subnets = append(t.subnets, s)
				} else {
					t.ips = append(t.ips, s)
				}
			})
		case colDomain:
			t.splitValues(mark, func(s span) { t.domains = append(t.domains, s) })
		case colURL:
			t.splitURLs(mark)
		case colOrg:
			t.scalar(valOrg, mark)
		case colNumber:
			t.scalar(valNumber, mark)
		case colDate:
			t.scalar(valDate, mark)
		}
	}
	switch {
	case len(t.urls) > 0:
		t.block = BlockURL
	case len(t.domains) > 0:
		t.block = BlockDomain
		for _, s := range t.domains {
			if bytes.HasPrefix(t.buf[s.off:], []byte("*.")) {
				t.block = BlockDomainMask
			}
		}
	case len(t.ips) > 0 || len(t.subnets) > 0:
		t.block = BlockIP
	}
	return nil
}

// appendUnquoted is appendText for a quoted field, with its doubled quotes made single.
func appendUnquoted(dst, raw []byte, enc encoding) ([]byte, int) {
	at := 0
	for {
		q := bytes.Index(raw, []byte(`""`))
		if q < 0 {
			dst, bad := appendText(dst, raw, enc)
			if bad >= 0 {
				bad += at
			}
			return dst, bad
		}
		var bad int
		dst, bad = appendText(dst, raw[:q+1], enc)
		if bad >= 0 {
			return dst, at + bad
		}
		raw = raw[q+2:]
		at += q + 2
	}
}

// splitValues splits the text from mark on, which holds values joined by '|', and adds each
// value that is not blank.
func (t *entryText) splitValues(mark int, add func(span)) {
	end := len(t.buf)
	for from := mark; from <= end; {
		j := bytes.IndexByte(t.buf[from:end], '|')
		to := end
		if j >= 0 {
			to = from + j
		}
		if s, ok := trimSpan(t.buf, from, to); ok {
			add(s)
		}
		from = to + 1
	}
}

// splitURLs splits the text from mark on into URLs: a '|' separates two where another URL,
// with its scheme, follows it, and is part of the URL anywhere else (a "|" in a query).
// Each URL is HTML-unescaped in place.
func (t *entryText) splitURLs(mark int) {
	end := len(t.buf)
	from := mark
	for k := mark; k <= end; k++ {
		if k < end {
			j := bytes.IndexByte(t.buf[k:end], '|')
			if j < 0 {
				k = end
			} else if k += j; !startsWithScheme(bytes.TrimLeft(t.buf[k+1:end], " \t")) {
				continue
			}
		}
		if s, ok := trimSpan(t.buf, from, k); ok {
			v := htmlUnescape(t.buf[s.off : s.off+s.n])
			s.n = uint32(len(v))
			t.urls = append(t.urls, s)
		}
		from = k + 1
	}
}

// startsWithScheme reports whether b starts with a URL scheme and "://".
func startsWithScheme(b []byte) bool {
	if len(b) == 0 || !('a' <= b[0]|0x20 && b[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case 'a' <= c|0x20 && c|0x20 <= 'z', '0' <= c && c <= '9', c == '+', c == '-', c == '.':
		case c == ':':
			return bytes.HasPrefix(b[i:], []byte("://"))
		default:
			return false
		}
	}
	return false
}

// trimSpan returns b[from:to] without blank space around it, and whether anything is left.
func trimSpan(b []byte, from, to int) (span, bool) {
	for from < to && isSpace(b[from]) {
		from++
	}
	for to > from && isSpace(b[to-1]) {
		to--
	}
	return span{uint32(from), uint32(to - from)}, to > from
}
