package blocklist

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
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

const (
	// FormatAuto tells a source's format from its first bytes (a regulator's register,
	// see [DetectFormat]), then from the extension of its name (.csv, .json, .jsonl,
	// .ndjson), then from its first bytes again ("[" starts a JSON array, "{" JSON Lines,
	// anything else is CSV).
	FormatAuto Format = ""
	// FormatCSV is CSV with a header row naming the columns.
	FormatCSV Format = "csv"
	// FormatJSON is a JSON array of objects, or JSON Lines (one object per line).
	FormatJSON Format = "json"
)

// formats are the formats that configurations name.
var formats = []Format{FormatAuto, FormatCSV, FormatJSON, FormatRKNXML, FormatRKNCSV, FormatURLs}

func (f Format) String() string {
	if f == FormatAuto {
		return "auto"
	}
	return string(f)
}

// ParseFormat reads a format's name, as configurations write it: auto (or nothing), csv,
// json, rkn-xml, rkn-csv or urls.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.String()
		if strings.EqualFold(s, names[i]) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown register format %q (want %s)", s, strings.Join(names, ", "))
}

// A Source is one register to load.
type Source struct {
	// Name says where the register comes from, a file's path or a URL: errors and the orders'
	// Source field name it.
	Name string
	// Reader is the register itself. When it is nil, the file Name is read. When it tells
	// its size (a Stat, Len or Size method: an *os.File, a strings.Reader, an
	// io.SectionReader), the register's tables are sized from it before reading, and do not
	// grow by doubling.
	Reader io.Reader
	// Format is how the register is written; the zero value tells it from the source.
	Format Format
	// AllowEmpty accepts the source when it yields no orders. Without it such a source is
	// refused: a file that lost its rows (a truncated export, a spreadsheet saved empty, a
	// hosts setting that matches none of its URLs) would otherwise lift every order it held.
	// A regulator's register (rkn-xml, rkn-csv) is mostly about other sites, and may well
	// hold nothing for this one: it is always allowed to.
	AllowEmpty bool

	// What a regulator's register (rkn-xml, rkn-csv) or a URL list does not say itself
	// (see "Regulators' registers" in the package documentation).

	// Countries the source's orders apply in: ISO 3166-1 codes, or "*". Default: RU for the
	// Russian regulator's registers; required for a URL list.
	Countries []string
	// Authority is who ordered the source's orders, where an entry names nobody.
	Authority string
	// Notice is the URL of each order's public notice, with {id}, {number} and {date}
	// filled in from the entry (escaped for a URL path).
	Notice string
	// WholeSite enforces an entry that blocks a whole domain which is one of the site's
	// hosts, as an order on every path. Without it such entries are counted, not enforced:
	// networks block whole domains, a platform withholds content.
	WholeSite bool
}

// Load reads every source, validates every order, checks that ids are unique across all of
// them and compiles the register. Every problem is reported as an [Error] naming the source,
// the line (or JSON element) and the field, up to a limit; any problem refuses the whole
// register, and so does a source that yields no orders, unless it allows that.
//
// A regulator's register is read as a stream, entry by entry, and only what concerns the
// site is kept, so memory grows with the orders kept, not with the size of the register.
// Damage to its structure refuses the register as any problem does; an entry for the site
// that cannot become an order is skipped and reported in the register's stats instead
// (RegisterStats.Skipped), since the platform cannot correct the regulator's file.
//
// Loading stops soon after ctx is done (within a millisecond or so, however large the
// register), and returns the context's error.
func Load(ctx context.Context, sources []Source, opts Options) (_ *Register, err error) {
	defer catchCancel(&err)
	if len(sources) == 0 {
		return nil, &Error{Index: -1, Err: errors.New("no sources")}
	}
	inputs := make([]opened, len(sources))
	defer func() {
		for _, in := range inputs {
			in.close()
		}
	}()
	hint := 0
	for i, src := range sources {
		in, err := openSource(src)
		if err != nil {
			return nil, &Error{Source: src.Name, Index: -1, Err: err}
		}
		inputs[i] = in
		hint += in.hint
	}
	b, err := newBuilder(ctx, opts, hint)
	if err != nil {
		return nil, err
	}
	// What was built of a register that is refused is freed now, not when the collector
	// gets to it: it may be hundreds of megabytes outside the heap, which the collector
	// does not count. By then every goroutine of the load is gone. (A cancelled load
	// unwinds by panicking, so err is not set yet.)
	built := false
	defer func() {
		if !built {
			b.mem.Free()
		}
	}()
	for i, src := range sources {
		in := &inputs[i]
		if in.format.regulator() {
			err = b.parseEntries(src, in.stream, in.format)
		} else {
			err = b.parseSource(src, in)
		}
		if err != nil {
			return nil, err
		}
		in.text = ""
	}
	r, err := b.compile()
	built = err == nil
	return r, err
}

// opened is one source, opened: a stream for our own formats and the regulators' registers,
// which can be far larger than what is kept of them, and the whole text of a source whose
// first bytes do not tell it apart.
type opened struct {
	format Format
	text   string
	stream io.Reader
	syntax syntax // of stream, after its byte order mark, for our own formats; else 0
	hint   int    // how many orders it may hold, for sizing the builder's tables
	closer io.Closer
}

func (in opened) close() {
	if in.closer != nil {
		_ = in.closer.Close()
	}
}

// regulator reports the formats read entry by entry, as streams.
func (f Format) regulator() bool {
	return f == FormatRKNXML || f == FormatRKNCSV || f == FormatURLs
}

// headSize is how much of a source is looked at before it is read: enough to tell its
// format and estimate its number of rows.
const headSize = 64 << 10

// openSource opens a source and tells its format from what it says, then from its first
// bytes. CSV, JSON arrays and JSON Lines are read as streams (see parseChunks). A missing
// file's error says so once, without repeating the path that Error names.
func openSource(src Source) (in opened, err error) {
	r := src.Reader
	size := int64(-1)
	if r == nil {
		f, err := os.Open(src.Name)
		if err != nil {
			return in, unwrapPath(err)
		}
		in.closer = f
		r = f
	}
	switch r := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	case interface{ Len() int }:
		size = int64(r.Len())
	case interface{ Size() int64 }: // io.SectionReader, which Caddy's sources hand out
		size = r.Size()
	}
	in.format = src.Format
	var br *bufio.Reader
	if in.format == FormatAuto {
		br = bufio.NewReaderSize(r, headSize)
		head, err := br.Peek(512)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			in.close()
			return opened{}, unwrapPath(err)
		}
		in.format = DetectFormat(head)
		r = br
	}
	if in.format.regulator() {
		in.stream = r
		return in, nil
	}
	if br == nil {
		br = bufio.NewReaderSize(r, headSize)
	}
	head, err := br.Peek(headSize)
	if err != nil && err != io.EOF {
		in.close()
		return opened{}, unwrapPath(err)
	}
	if in.syntax = streamSyntax(src, head); in.syntax != 0 {
		if bytes.HasPrefix(head, []byte(bom)) {
			_, _ = br.Discard(len(bom))
			head, size = head[len(bom):], size-int64(len(bom))
		}
		sep := byte('\n')
		if in.syntax == syntaxJSONArray {
			sep = '{'
		}
		in.stream, in.hint = br, estimateRows(head, sep, size, err == io.EOF)
		return in, nil
	}
	in.text, err = readAll(br, size)
	in.close()
	in.closer = nil
	if err != nil {
		return opened{}, unwrapPath(err)
	}
	in.hint = ordersHint(src, in.text)
	return in, nil
}

// streamSyntax returns the syntax of a source that starts with head, to read it as a
// stream, or 0 for what is read whole: what the head does not tell apart (UTF-16, a file of
// nothing but white space), which the whole-text reader has the words for.
func streamSyntax(src Source, head []byte) syntax {
	if isUTF16(string(head)) {
		return 0
	}
	h := strings.TrimPrefix(string(head), bom)
	// With a character that is not white space in the head, its first such byte is the
	// file's, and the file is not empty.
	if strings.IndexFunc(h, func(r rune) bool { return !unicode.IsSpace(r) && r != utf8.RuneError }) < 0 {
		return 0
	}
	return syntaxOf(src, h)
}

// estimateRows estimates, from above, how many rows a source of size bytes that starts with
// head holds, each row having one sep (a newline, or a "{" in a JSON array): those of head,
// when it is all of it, or as many as its rows of average length make up; 0 when that
// cannot be told.
func estimateRows(head []byte, sep byte, size int64, whole bool) int {
	lines := bytes.Count(head, []byte{sep})
	switch {
	case whole:
		return lines + 1
	case lines == 0 || size <= 0:
		return 0
	}
	n := size * int64(lines) / int64(len(head))
	return int(min(n+n/32+16, 1<<31))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readAll reads r straight into a string, growing it once when its size is known (a
// register may be hundreds of megabytes).
func readAll(r io.Reader, size int64) (string, error) {
	var sb strings.Builder
	if size > 0 && size < 1<<40 {
		sb.Grow(int(size) + 1)
	}
	// Large reads: with io.Copy's 32 KiB, system calls cost three times the copying.
	if _, err := io.CopyBuffer(writerOnly{&sb}, readerOnly{r}, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return sb.String(), nil
}

const bom = "\xef\xbb\xbf"

// syntax is how a source is read: a format, and for JSON whether it is an array or lines.
type syntax uint8

const (
	syntaxCSV syntax = iota + 1
	syntaxJSONArray
	syntaxJSONLines
)

// syntaxOf tells how to read text (with its BOM removed) from the source's format, then the
// extension of its name, then its first bytes.
func syntaxOf(src Source, text string) syntax {
	first := byte(0)
	if t := strings.TrimLeft(text, " \t\r\n"); len(t) > 0 {
		first = t[0]
	}
	// A JSON file is an array unless it starts with an object: a file that starts with
	// neither is told so by the array reader, which has the words for it.
	jsonSyntax := func() syntax {
		if first == '{' {
			return syntaxJSONLines
		}
		return syntaxJSONArray
	}
	switch src.Format {
	case FormatCSV:
		return syntaxCSV
	case FormatJSON:
		return jsonSyntax()
	}
	switch strings.ToLower(filepath.Ext(src.Name)) {
	case ".csv":
		return syntaxCSV
	case ".jsonl", ".ndjson":
		return syntaxJSONLines
	case ".json":
		return jsonSyntax()
	}
	if first == '[' || first == '{' {
		return jsonSyntax()
	}
	return syntaxCSV
}

// ordersHint estimates, from above, how many orders text holds, so that the builder's
// tables are allocated once: one per line, or per "{" in a JSON array, which is usually
// spread over several lines. It counts a megabyte at a time, since counting in one piece
// would keep the processor from requests for milliseconds.
func ordersHint(src Source, text string) int {
	sep := "\n"
	if syntaxOf(src, strings.TrimPrefix(text, bom)) == syntaxJSONArray {
		sep = "{"
	}
	n := 1
	for len(text) > 0 {
		chunk := text[:min(len(text), 1<<20)]
		text = text[len(chunk):]
		n += strings.Count(chunk, sep)
		runtime.Gosched()
	}
	return n
}

// writerOnly and readerOnly hide WriteTo and ReadFrom, which would pick a small buffer.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// register hands the builder's contents over to a Register. Nothing of any size is copied:
// the entries, terms and arenas were built in the register's pool, where they stay.
func (b *builder) register() *Register {
	return &Register{
		patterns:   b.patterns,
		entries:    b.entries, // with their capacity, which settle looks at
		terms:      b.terms,
		rules:      shed(b.rules),
		validities: shed(b.validities),
		zones:      b.zones,
		ids:        b.idArena,
		vals:       b.vals.arena(),
		texts:      b.texts.arena(),
		files:      b.files,
		mem:        b.mem,
	}
}

// shed returns s without its spare capacity, copied if that was more than an eighth.
func shed[S ~[]E, E any](s S) S {
	if cap(s)-len(s) > len(s)/8 {
		return slices.Clone(s)
	}
	return slices.Clip(s)
}

// compile runs the duplicate check alongside building the index (on two cores that hides
// most of it) and returns the register if neither found a problem.
func (b *builder) compile() (*Register, error) {
	b.seq.flush()
	b.idArena = b.ids.arena()
	if b.errs.len() > 0 {
		b.checkDuplicates() // so that one pass reports everything; no index needed
		return nil, b.errs.err()
	}
	r := b.register()
	var wg sync.WaitGroup
	// Waited for however this returns: see index.
	defer wg.Wait()
	goLoad(&wg, b.checkDuplicates)
	indexErr := r.index(b.ctx, b.numeric)
	wg.Wait()
	if err := b.ctx.Err(); err != nil {
		return nil, context.Cause(b.ctx) // the duplicate check may have stopped halfway
	}
	if err := b.errs.err(); err != nil {
		return nil, err
	}
	if indexErr != nil {
		return nil, &Error{Index: -1, Err: indexErr}
	}
	r.stats.SkippedForeignHost = b.skipped
	r.stats.SkippedForeignHostIDs = b.skippedIDs
	r.stats.Headers, r.stats.Skipped = b.headers, b.skips
	if len(b.unenforced) > 0 {
		r.stats.Unenforced = b.unenforced
	}
	r.settle()
	return r, nil
}

// parseSource reads one source of our own formats into the builder. Problems in the text
// are collected in b.errs; the error returned is for what stops reading altogether.
func (b *builder) parseSource(src Source, in *opened) error {
	file, err := b.addFile(src.Name)
	if err != nil {
		return err
	}
	errs, entries, skipped := b.errs.len(), len(b.entries), b.skipped
	empty := false
	switch in.syntax {
	case syntaxCSV:
		err = b.parseCSV(file, in.stream)
	case syntaxJSONLines:
		err = b.parseJSONLines(file, in.stream)
	case syntaxJSONArray:
		err = b.parseJSONArray(file, in.stream)
	default:
		text := in.text
		in.text = ""
		if isUTF16(text) {
			b.fileError(file, 0, errUTF16)
			return nil
		}
		text = strings.TrimPrefix(text, bom)
		empty = strings.TrimSpace(text) == ""
		if !empty {
			switch syntaxOf(src, text) {
			case syntaxJSONArray:
				err = b.parseJSONArray(file, strings.NewReader(text))
			case syntaxJSONLines:
				err = b.parseJSONLines(file, strings.NewReader(text))
			default:
				err = b.parseCSV(file, strings.NewReader(text))
			}
		}
	}
	if b.ctx.Err() != nil {
		// A reader that stopped early leaves fewer rows, not an error of its own.
		return context.Cause(b.ctx)
	}
	if err != nil {
		return &Error{Source: src.Name, Index: -1, Err: unwrapPath(err)}
	}
	if len(b.entries) == entries && b.errs.len() == errs && !src.AllowEmpty {
		b.fileError(file, 0, noOrders(empty, b.skipped-skipped))
	}
	return nil
}

// noOrders explains why a file yielded no orders, and how to accept that.
func noOrders(empty bool, skipped int) error {
	const allow = "a source that may have none must say so with allow_empty"
	switch {
	case empty:
		return errors.New("the file is empty: no orders (" + allow + ")")
	case skipped > 0:
		return fmt.Errorf("no orders: all %d URL targets are on hosts other than hosts (check hosts; %s)", skipped, allow)
	}
	return errors.New("no orders (" + allow + ")")
}

// isUTF16 reports whether data is UTF-16 text, as Excel saves "Unicode Text": it starts
// with a UTF-16 byte order mark, or, without one, its first bytes have a NUL in every
// other place (the ASCII of a header row or of "[{", in UTF-16).
func isUTF16(data string) bool {
	if strings.HasPrefix(data, "\xff\xfe") || strings.HasPrefix(data, "\xfe\xff") {
		return true
	}
	n := min(len(data), 256) &^ 1
	var nul [2]int // NUL bytes at even and odd offsets
	for i := range n {
		if data[i] == 0 {
			nul[i&1]++
		}
	}
	pairs := n / 2
	return pairs > 0 && (nul[0] == 0 && 2*nul[1] >= pairs || nul[1] == 0 && 2*nul[0] >= pairs)
}

func (b *builder) fileError(file uint16, line int, err error) {
	b.errs.add(&Error{Source: b.files[file], Line: line, Index: -1, Err: err})
}

// lineCounter turns byte offsets into line numbers, moving forward only.
type lineCounter struct {
	data string
	off  int
	line int
}

func (c *lineCounter) at(off int) int {
	if off < c.off {
		c.off, c.line = 0, 1
	}
	c.line += strings.Count(c.data[c.off:off], "\n")
	c.off = off
	return c.line
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: unexpected end")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// checkJSONObject reads one object, which starts on line, into c with v: string fields,
// "countries" also as an array of strings, null as absent. Unknown and repeated fields are
// errors (a repeated "countries" would otherwise silently mean the last one).
func checkJSONObject(v *rowValidator, obj string, line, index int, c *checkedRow) {
	r := jsonRow(line, index)
	if jsonObjectFast(obj, &r) {
		v.check(&r, c)
		return
	}
	checkJSONObjectSlow(v, obj, line, index, c)
}

// jsonRow returns a row for a JSON object that starts on line, all of whose fields are on
// that line as far as errors go.
func jsonRow(line, index int) row {
	r := row{start: line, index: index}
	for f := range r.line {
		r.line[f] = line
	}
	return r
}

// checkJSONObjectSlow is checkJSONObject with encoding/json, for what the fast reader leaves
// to it: escapes, other types, broken JSON. With a bad field the other fields are still
// checked, so that one pass reports everything.
func checkJSONObjectSlow(v *rowValidator, obj string, line, index int, c *checkedRow) {
	r := jsonRow(line, index)
	problems, fatal := jsonObjectSlow(obj, &r)
	var errs []*Error
	for _, p := range problems {
		field := ""
		if p.field >= 0 {
			field = fieldNames[p.field]
			r.reported[p.field] = true
		}
		r.broken = true
		errs = append(errs, &Error{Source: v.source, Line: line, Index: index, Field: field, Err: p.err})
	}
	if fatal {
		// Nothing of the object could be read: its problems are all there is to say.
		*c = checkedRow{line: uint32(line), index: int32(index), dec: noDecision, errs: errs, broken: true, idReported: true}
		return
	}
	v.check(&r, c)
	c.errs = append(errs, c.errs...)
}

type jsonProblem struct {
	field int // or -1 for the object as a whole
	err   error
}

// jsonObjectSlow reads an object with encoding/json, token by token, and says precisely what
// is wrong with it. fatal means the object could not be read at all.
func jsonObjectSlow(obj string, r *row) (problems []jsonProblem, fatal bool) {
	bad := func(f int, err error) { problems = append(problems, jsonProblem{f, err}) }
	dec := json.NewDecoder(strings.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		bad(-1, errors.New("want a JSON object"))
		return problems, true
	}
	var have [numFields]bool
	for dec.More() {
		keyStart := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			bad(-1, jsonError(err))
			return problems, true
		}
		keyErr := jsonTextError(obj[keyStart:dec.InputOffset()])
		name, _ := tok.(string)
		f := fieldIndex(name)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			bad(-1, jsonError(err))
			return problems, true
		}
		switch {
		case keyErr != nil:
			bad(-1, fmt.Errorf("field name: %w", keyErr))
			continue
		case f < 0:
			bad(-1, fmt.Errorf("unknown field %q (want %s)", name, strings.Join(fieldNames[:], ", ")))
			continue
		case have[f]:
			bad(f, errors.New("field given twice"))
			continue
		}
		have[f] = true
		// encoding/json would read bytes that are not UTF-8, and escapes of half a UTF-16
		// surrogate pair, as U+FFFD: a handle saved in windows-1251 would then never match.
		if err := jsonTextError(string(raw)); err != nil {
			bad(f, err)
			continue
		}
		var value any
		if err := json.Unmarshal(raw, &value); err != nil {
			bad(f, jsonError(err))
			continue
		}
		switch v := value.(type) {
		case nil:
		case string:
			r.val[f] = v
		case []any:
			if f != fieldCountries {
				bad(f, errors.New("want a string"))
				continue
			}
			codes := make([]string, 0, len(v))
			for _, c := range v {
				s, isString := c.(string)
				if !isString {
					bad(f, errors.New("want a string or an array of strings"))
					break
				}
				codes = append(codes, s)
			}
			r.val[f] = strings.Join(codes, " ")
		default:
			bad(f, fmt.Errorf("want a string, got %s", jsonType(v)))
		}
	}
	if _, err := dec.Token(); err != nil {
		bad(-1, jsonError(err))
		return problems, true
	}
	if _, err := dec.Token(); err != io.EOF {
		bad(-1, errors.New("invalid JSON: data after the object"))
		return problems, true
	}
	return problems, false
}

// jsonObjectFast reads the common object, flat and well-formed, without encoding/json's
// reflection and allocations (a tenth of the cost). Anything else, from an escaped key to a
// number or a problem, returns false and goes to jsonObjectSlow, which has the words for it.
func jsonObjectFast(obj string, r *row) bool {
	p := jsonScanner{s: obj}
	if !p.object(r) {
		return false
	}
	p.space()
	return p.i == len(p.s)
}

// object reads one object at the scanner's position into r (see jsonObjectFast).
func (p *jsonScanner) object(r *row) bool {
	if !p.consume('{') {
		return false
	}
	var have [numFields]bool
	if p.consume('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return false
		}
		f := fieldIndex(key)
		if f < 0 || have[f] {
			return false
		}
		have[f] = true
		switch p.peek() {
		case '"':
			if r.val[f], ok = p.str(); !ok {
				return false
			}
		case 'n':
			if !strings.HasPrefix(p.s[p.i:], "null") {
				return false
			}
			p.i += len("null")
		case '[':
			if f != fieldCountries {
				return false
			}
			p.i++
			var codes []string
			if !p.consume(']') {
				for {
					c, ok := p.str()
					if !ok {
						return false
					}
					codes = append(codes, c)
					if p.consume(']') {
						break
					}
					if !p.consume(',') {
						return false
					}
				}
			}
			r.val[f] = strings.Join(codes, " ")
		default:
			return false
		}
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

type jsonScanner struct {
	s string
	i int
}

func (p *jsonScanner) space() {
	for p.i < len(p.s) && isJSONSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *jsonScanner) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *jsonScanner) consume(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes, control characters or invalid UTF-8 (which
// encoding/json would turn into U+FFFD); those are left to the slow path.
func (p *jsonScanner) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	// The first quote ends the string unless a backslash escapes it, and a string with a
	// backslash is the slow path's anyway.
	n := strings.IndexByte(p.s[p.i:], '"')
	if n < 0 {
		return "", false
	}
	v := p.s[p.i : p.i+n]
	plain, ascii := plainJSONText(v)
	if !plain {
		return "", false
	}
	p.i += n + 1
	return v, ascii || utf8.ValidString(v)
}

// plainJSONText reports whether s holds neither a backslash nor a control character (as a
// JSON string's text without escapes does), and whether it is all ASCII. It looks at eight
// bytes at a time: the strings of a register are mostly long texts.
func plainJSONText(s string) (plain, ascii bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var high, bad uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		high |= x
		// A byte below 0x20 (a control character), and a byte equal to '\\', as the
		// classic "has a byte less than n" and "has a zero byte" tests find them: exact
		// about whether there is one, which is all that is asked.
		bad |= (x - ones*0x20) &^ x
		y := x ^ ones*'\\'
		bad |= (y - ones) &^ y
	}
	if bad&highs != 0 {
		return false, false
	}
	ascii = high&highs == 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c < 0x20:
			return false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return true, ascii
}

// jsonTextError finds, in raw JSON, what encoding/json would silently replace with U+FFFD:
// bytes that are not UTF-8, and a \u escape of a UTF-16 surrogate that is not followed (or,
// for a low one, preceded) by its other half.
func jsonTextError(raw string) error {
	if !utf8.ValidString(raw) {
		return errNotUTF8
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character, which the loop steps over
		if i == len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw[i+1:])
		if !ok {
			continue // a syntax error, which encoding/json reports
		}
		i += 4
		switch {
		case 0xd800 <= r && r < 0xdc00:
			if rest := raw[i+1:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				if lo, ok := hex4(rest[2:]); ok && 0xdc00 <= lo && lo < 0xe000 {
					i += 6
					continue
				}
			}
			return fmt.Errorf(`\u%04x is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`, r)
		case 0xdc00 <= r && r < 0xe000:
			return fmt.Errorf(`\u%04x is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`, r)
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:4], 16, 16)
	return rune(n), err == nil
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
