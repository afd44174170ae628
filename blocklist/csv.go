package blocklist

import (
	"strings"
)

// csvReader reads RFC 4180 CSV as encoding/csv does (strict quotes, CRLF, blank lines
// skipped), but from a string and without allocating per record: fields are substrings of the
// input, except quoted fields that contain doubled quotes or CRLF. A million-row register is
// read in a fraction of the time, and nothing of it is kept that the builder does not copy.
type csvReader struct {
	data  string
	pos   int
	line  int // line of data[pos]
	comma byte

	fields []string
	lines  []int // the line each field starts on
}

// csvSyntaxError is a broken quote; after one the reader cannot find the rows again.
type csvSyntaxError struct {
	startLine, line int
	msg             string
}

func newCSVReader(data string, comma byte, firstLine int) *csvReader {
	return &csvReader{data: data, comma: comma, line: firstLine}
}

// next reads the next record into r.fields and r.lines. It returns false at the end of the
// input or on a syntax error (then err is set).
func (r *csvReader) next() (ok bool, err *csvSyntaxError) {
	d := r.data
	for r.pos < len(d) && (d[r.pos] == '\n' || d[r.pos] == '\r' && r.pos+1 < len(d) && d[r.pos+1] == '\n') {
		if d[r.pos] == '\r' {
			r.pos++
		}
		r.pos++
		r.line++
	}
	if r.pos >= len(d) || d[r.pos:] == "\r" {
		r.pos = len(d)
		return false, nil
	}
	r.fields, r.lines = r.fields[:0], r.lines[:0]

	// Fast path: a line without quotes is split at the commas.
	end := strings.IndexByte(d[r.pos:], '\n')
	next := len(d)
	if end < 0 {
		end = len(d)
	} else {
		end += r.pos
		next = end + 1
	}
	line := d[r.pos:end]
	if strings.IndexByte(line, '"') < 0 {
		line = strings.TrimSuffix(line, "\r")
		for {
			i := strings.IndexByte(line, r.comma)
			if i < 0 {
				r.fields = append(r.fields, line)
				r.lines = append(r.lines, r.line)
				break
			}
			r.fields = append(r.fields, line[:i])
			r.lines = append(r.lines, r.line)
			line = line[i+1:]
		}
		r.pos = next
		r.line++
		return true, nil
	}
	return r.slow()
}

// slow reads a record with quotes, byte by byte where it must.
func (r *csvReader) slow() (bool, *csvSyntaxError) {
	d := r.data
	startLine := r.line
	for {
		r.lines = append(r.lines, r.line)
		if r.pos < len(d) && d[r.pos] == '"' {
			field, err := r.quoted(startLine)
			if err != nil {
				return false, err
			}
			r.fields = append(r.fields, field)
			switch {
			case r.pos >= len(d) || d[r.pos:] == "\r":
				r.pos = len(d)
				return true, nil
			case d[r.pos] == r.comma:
				r.pos++
				continue
			case d[r.pos] == '\n':
				r.pos++
				r.line++
				return true, nil
			case d[r.pos] == '\r' && r.pos+1 < len(d) && d[r.pos+1] == '\n':
				r.pos += 2
				r.line++
				return true, nil
			}
			return false, &csvSyntaxError{startLine, r.line, `extraneous or missing " in quoted-field`}
		}
		start := r.pos
		for r.pos < len(d) && d[r.pos] != r.comma && d[r.pos] != '\n' {
			if d[r.pos] == '"' {
				return false, &csvSyntaxError{startLine, r.line, `bare " in non-quoted-field`}
			}
			r.pos++
		}
		field := d[start:r.pos]
		if r.pos >= len(d) || d[r.pos] == '\n' {
			field = strings.TrimSuffix(field, "\r")
		}
		r.fields = append(r.fields, field)
		if r.pos >= len(d) {
			return true, nil
		}
		if d[r.pos] == '\n' {
			r.pos++
			r.line++
			return true, nil
		}
		r.pos++ // comma
	}
}

// quoted reads a quoted field starting at r.pos, leaving r.pos after the closing quote.
func (r *csvReader) quoted(startLine int) (string, *csvSyntaxError) {
	d := r.data
	r.pos++
	start := r.pos
	var b []byte // only for doubled quotes and CRLF, which change the text
	for {
		i := strings.IndexByte(d[r.pos:], '"')
		if i < 0 {
			// Noticed at the end of the file, which is the end of its last line.
			r.line += strings.Count(strings.TrimSuffix(d[r.pos:], "\n"), "\n")
			r.pos = len(d)
			return "", &csvSyntaxError{startLine, r.line, `extraneous or missing " in quoted-field`}
		}
		q := r.pos + i
		r.line += strings.Count(d[r.pos:q], "\n")
		if q+1 < len(d) && d[q+1] == '"' {
			b = append(b, d[start:q+1]...)
			r.pos = q + 2
			start = r.pos
			continue
		}
		r.pos = q + 1
		if b == nil && !strings.Contains(d[start:q], "\r\n") {
			return d[start:q], nil
		}
		b = append(b, d[start:q]...)
		return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
	}
}
