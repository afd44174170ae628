package blocklist

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Options are what a register needs to know about the site.
type Options struct {
	// Patterns are the site's URL templates; nil means DefaultPatterns.
	Patterns *Patterns
	// Hosts are the site's host names. A URL target on another host is skipped and counted
	// (registers often list content of many sites); with no Hosts, URLs of any host are
	// taken. Hosts compare exactly, lower-cased, without port or trailing dot.
	Hosts []string
}

// ParseStats counts what Parse read.
type ParseStats struct {
	Orders             int
	SkippedForeignHost int
}

// format is a register file format.
type format uint8

const (
	formatCSV format = iota + 1
	formatJSON
	formatJSONLines
)

// detectFormat goes by the extension, then by content: "[" starts a JSON array, "{" JSON
// Lines, anything else is CSV.
func detectFormat(name string, data []byte) format {
	first := byte(0)
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 {
		first = t[0]
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return formatCSV
	case ".jsonl", ".ndjson":
		return formatJSONLines
	case ".json":
		if first == '{' {
			return formatJSONLines
		}
		return formatJSON
	}
	switch first {
	case '[':
		return formatJSON
	case '{':
		return formatJSONLines
	}
	return formatCSV
}

var bom = []byte("\xef\xbb\xbf")

// Parse reads one register file: CSV with a header row, a JSON array of objects, or JSON Lines,
// told apart by the extension of name and then by content. name is also what errors call the
// file. Every problem is reported (see [Error]), up to a limit; a file with any problem
// yields no orders.
func Parse(name string, r io.Reader, opts Options) ([]Order, ParseStats, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, ParseStats{}, fmt.Errorf("register %s: %w", name, err)
	}
	b, err := newBuilder(opts, 0)
	if err != nil {
		return nil, ParseStats{}, err
	}
	if err := b.parseFile(name, data); err != nil {
		return nil, ParseStats{}, err
	}
	stats := ParseStats{Orders: len(b.entries), SkippedForeignHost: b.skipped}
	if err := b.errs.err(); err != nil {
		return nil, stats, err
	}
	r2 := b.register()
	orders := make([]Order, len(r2.entries))
	for i := range orders {
		orders[i] = r2.order(uint32(i))
	}
	return orders, stats, nil
}

// LoadFiles parses every file, checks that ids are unique across all of them and compiles the
// register. Any problem in any file refuses the whole register.
func LoadFiles(paths []string, opts Options) (*Register, error) {
	if len(paths) == 0 {
		return nil, errors.New("register: no files")
	}
	datas := make([][]byte, len(paths))
	hint := 0
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", p, err)
		}
		datas[i] = data
		hint += len(data) / 64 // a short CSV row
	}
	b, err := newBuilder(opts, hint)
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		if err := b.parseFile(p, datas[i]); err != nil {
			return nil, err
		}
		datas[i] = nil
	}
	if err := b.errs.err(); err != nil {
		return nil, err
	}
	return b.compile()
}

// Compile builds a register from orders given as values, validating and normalising them the
// way Parse does (targets into canonical form, countries upper-case); each order's Source
// names it in errors.
func Compile(orders []Order, opts Options) (*Register, error) {
	b, err := newBuilder(opts, len(orders))
	if err != nil {
		return nil, err
	}
	for i := range orders {
		b.addOrder(i, &orders[i])
	}
	if err := b.errs.err(); err != nil {
		return nil, err
	}
	return b.compile()
}

// register hands the builder's contents over to a Register, with exactly-sized copies so that
// no growth slack stays on the heap.
func (b *builder) register() *Register {
	r := &Register{
		patterns: b.patterns,
		entries:  make([]entry, len(b.entries)),
		terms:    make([]terms, len(b.terms)),
		ids:      strings.Clone(b.ids.String()),
		vals:     strings.Clone(b.vals.String()),
		files:    b.files,
	}
	copy(r.entries, b.entries)
	copy(r.terms, b.terms)
	return r
}

func (b *builder) compile() (*Register, error) {
	r := b.register()
	skipped := b.skipped
	*b = builder{} // let the parse-time maps go before the index is built
	if err := r.index(); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	r.stats.SkippedForeignHost = skipped
	return r, nil
}

// parseFile reads one file into the builder. Problems in the data are collected in b.errs;
// the error returned is for what stops reading altogether.
func (b *builder) parseFile(name string, data []byte) error {
	file, err := b.addFile(name)
	if err != nil {
		return err
	}
	data = bytes.TrimPrefix(data, bom)
	switch detectFormat(name, data) {
	case formatJSON:
		b.parseJSON(file, data)
	case formatJSONLines:
		b.parseJSONLines(file, data)
	default:
		b.parseCSV(file, data)
	}
	return nil
}

func (b *builder) fileError(file uint16, line int, err error) {
	b.errs.add(&Error{File: b.files[file], Line: line, Index: -1, Err: err})
}

// parseCSV reads CSV with a header row naming the columns, in any order and case. The
// delimiter is a comma, or a semicolon when the header uses those (spreadsheets in many
// locales, Russian among them, write semicolons); an Excel "sep=;" first line is honoured.
func (b *builder) parseCSV(file uint16, data []byte) {
	comma := ','
	firstLine, _, _ := bytes.Cut(data, []byte("\n"))
	firstLine = bytes.TrimRight(firstLine, "\r")
	lineOffset := 0
	if s, ok := bytes.CutPrefix(firstLine, []byte("sep=")); ok && len(s) == 1 {
		comma = rune(s[0])
		data = data[len(firstLine):]
		data = bytes.TrimPrefix(bytes.TrimPrefix(data, []byte("\r")), []byte("\n"))
		lineOffset = 1
	} else if bytes.Count(firstLine, []byte(";")) > bytes.Count(firstLine, []byte(",")) {
		comma = ';'
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err == io.EOF {
		b.fileError(file, 0, errors.New("empty file: want a header row naming the columns"))
		return
	}
	if err != nil {
		b.fileError(file, 1+lineOffset, csvError(err, lineOffset))
		return
	}
	columns := make([]int, len(header))
	var have [numFields]bool
	ok := true
	for i, h := range header {
		h = strings.TrimSpace(h)
		f := fieldIndex(h)
		switch {
		case f < 0:
			b.fileError(file, 1+lineOffset, fmt.Errorf("unknown column %q (want %s)", h, strings.Join(fieldNames[:], ", ")))
			ok = false
		case have[f]:
			b.fileError(file, 1+lineOffset, fmt.Errorf("duplicate column %q", h))
			ok = false
		}
		if f >= 0 {
			have[f] = true
		}
		columns[i] = f
	}
	for _, f := range [...]int{fieldID, fieldCountries, fieldTarget} {
		if !have[f] {
			b.fileError(file, 1+lineOffset, fmt.Errorf("missing required column %q", fieldNames[f]))
			ok = false
		}
	}
	if !ok {
		return
	}

	var r row
	r.index = -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			// A broken quote leaves the reader out of step with the rows; stop here.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			b.fileError(file, line+lineOffset, csvError(err, lineOffset))
			return
		}
		start, _ := cr.FieldPos(0)
		start += lineOffset
		if len(rec) != len(columns) {
			if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
				continue
			}
			b.fileError(file, start, fmt.Errorf("%d fields, but the header has %d", len(rec), len(columns)))
			continue
		}
		blank := true
		r = row{index: -1, start: start}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			f := columns[i]
			r.val[f] = v
			r.line[f], _ = cr.FieldPos(i)
			r.line[f] += lineOffset
			blank = blank && v == ""
		}
		for f := range r.line {
			if r.line[f] == 0 {
				r.line[f] = start // a column the file does not have
			}
		}
		if blank {
			continue // spreadsheets leave rows of empty cells behind
		}
		b.addRow(file, &r)
	}
}

// csvError reports a syntax error at the row it breaks; an unclosed quote is only noticed
// lines later, so that line is added.
func csvError(err error, lineOffset int) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Line != pe.StartLine {
		return fmt.Errorf("CSV: %w (noticed on line %d)", pe.Err, pe.Line+lineOffset)
	}
	return fmt.Errorf("CSV: %w", pe.Err)
}

// lineCounter turns byte offsets into line numbers, moving forward only.
type lineCounter struct {
	data []byte
	off  int
	line int
}

func (c *lineCounter) at(off int) int {
	if off < c.off {
		c.off, c.line = 0, 1
	}
	c.line += bytes.Count(c.data[c.off:off], []byte("\n"))
	c.off = off
	return c.line
}

// parseJSON reads a JSON array of objects. Errors name the element and the line it starts on.
func (b *builder) parseJSON(file uint16, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lines := lineCounter{data: data, line: 1}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		b.fileError(file, lines.at(int(dec.InputOffset())), errors.New("want a JSON array of objects"))
		return
	}
	for i := 0; dec.More(); i++ {
		off := int(dec.InputOffset())
		for off < len(data) && (data[off] == ',' || isJSONSpace(data[off])) {
			off++
		}
		line := lines.at(off)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			b.errs.add(&Error{File: b.files[file], Line: line, Index: i, Err: jsonError(err)})
			return
		}
		b.addJSONObject(file, raw, line, i)
	}
	if _, err := dec.Token(); err != nil {
		b.fileError(file, lines.at(int(dec.InputOffset())), jsonError(err))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		b.fileError(file, lines.at(int(dec.InputOffset())), errors.New("data after the JSON array"))
	}
}

// parseJSONLines reads one object per line; blank lines are skipped and a broken line does
// not stop the lines after it from being checked.
func (b *builder) parseJSONLines(file uint16, data []byte) {
	for n := 1; len(data) > 0; n++ {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		b.addJSONObject(file, line, n, -1)
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// addJSONObject reads one object: string fields, "countries" also as an array of strings,
// null as absent. Unknown and repeated fields are errors (a repeated "countries" would
// otherwise silently mean the last one).
func (b *builder) addJSONObject(file uint16, obj []byte, line, index int) {
	bad := func(field string, err error) {
		b.errs.add(&Error{File: b.files[file], Line: line, Index: index, Field: field, Err: err})
	}
	r := row{start: line, index: index}
	for f := range r.line {
		r.line[f] = line
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		bad("", errors.New("want a JSON object"))
		return
	}
	var have [numFields]bool
	ok := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			bad("", jsonError(err))
			return
		}
		name, _ := tok.(string)
		f := fieldIndex(name)
		var value any
		if err := dec.Decode(&value); err != nil {
			bad("", jsonError(err))
			return
		}
		switch {
		case f < 0:
			bad("", fmt.Errorf("unknown field %q (want %s)", name, strings.Join(fieldNames[:], ", ")))
			ok = false
			continue
		case have[f]:
			bad(fieldNames[f], errors.New("field given twice"))
			ok = false
			continue
		}
		have[f] = true
		switch v := value.(type) {
		case nil:
		case string:
			r.val[f] = strings.TrimSpace(v)
		case []any:
			if f != fieldCountries {
				bad(fieldNames[f], errors.New("want a string"))
				ok = false
				continue
			}
			codes := make([]string, 0, len(v))
			for _, c := range v {
				s, isString := c.(string)
				if !isString {
					bad(fieldNames[f], errors.New("want a string or an array of strings"))
					ok = false
					break
				}
				codes = append(codes, s)
			}
			r.val[f] = strings.Join(codes, " ")
		default:
			bad(fieldNames[f], fmt.Errorf("want a string, got %s", jsonType(v)))
			ok = false
		}
	}
	if _, err := dec.Token(); err != nil {
		bad("", jsonError(err))
		return
	}
	if dec.More() {
		bad("", errors.New("invalid JSON: data after the object"))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		bad("", errors.New("invalid JSON: data after the object"))
		return
	}
	// With a bad field the other fields are still checked, so one pass reports everything.
	r.broken = !ok
	b.addRow(file, &r)
}

func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
