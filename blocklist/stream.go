package blocklist

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// CSV and JSON registers are read as a stream of chunks, each cut at the end of a record (a
// CSV record, a line of JSON Lines, an element of a JSON array), and the chunks are
// validated on every processor at once while the builder commits them in order. A
// million-order file is never in memory whole: a few chunks are, and they are reused, so
// that loading allocates about what the register keeps.
//
// A chunk's text is a string view of its buffer (see fill). Whatever a row keeps of that text
// beyond the chunk's commit must be copied first: the arenas copy ids, values and texts,
// errors format what they quote, and the validators' caches clone their keys. Tests poison
// a buffer when its chunk is released (poisonChunks), so that a string kept by mistake shows.

// chunkSize is how much of a register is read and validated at a time.
const chunkSize = 512 << 10

// poisonChunks makes released chunks unreadable; set by the tests.
var poisonChunks = false

// chunk is a piece of a register that holds whole records, and what validating them
// found.
type chunk struct {
	buf   []byte
	text  string // the records: a view of buf
	line  int    // line of text[0]
	seq   int    // the chunk's place in the stream, from 0
	final bool   // the last chunk

	rows   []checkedRow
	decs   []decision // the decisions first made in this chunk, numbered on from the last
	worker int        // the validator that checked it
	broken bool       // a syntax error, after which the file cannot be read in step
	ready  chan struct{}
}

// chunker cuts a stream into chunks.
type chunker struct {
	r     io.Reader
	end   func([]byte) int // where the last complete record in a buffer ends, or 0
	carry []byte           // what followed the last complete record
	line  int              // line of the next chunk
	seq   int              // of the next chunk
	eof   bool
}

// fill reads the next chunk into c: the carry, then as much as its buffer holds, up to the
// end of the last complete record (all of it at the end of the stream). A record longer
// than the buffer grows it.
func (k *chunker) fill(c *chunk) error {
	buf := append(c.buf[:0], k.carry...)
	k.carry = k.carry[:0]
	cut := 0
	for {
		for len(buf) < cap(buf) && !k.eof {
			n, err := k.r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				k.eof = true
			} else if err != nil {
				return err
			}
		}
		if k.eof {
			cut = len(buf)
			break
		}
		if cut = k.end(buf); cut > 0 {
			break
		}
		buf = slices.Grow(buf, cap(buf))
	}
	k.carry = append(k.carry, buf[cut:]...)
	c.buf, c.final, c.line, c.seq = buf, k.eof, k.line, k.seq
	k.seq++
	c.text = ""
	if cut > 0 {
		// The buffer is not written again until the chunk is released (see above).
		c.text = unsafe.String(unsafe.SliceData(buf), cut)
	}
	k.line += strings.Count(c.text, "\n")
	return nil
}

// csvRecordsEnd returns where the last complete CSV record in b ends: after the last newline
// outside quotes, or 0. A quote inside a quoted field is doubled, so a newline is outside
// quotes when an even number of quotes comes before it. (After a syntax error the count is
// wrong, but nothing after a syntax error is read.)
func csvRecordsEnd(b []byte) int {
	end, pos, inside := 0, 0, false
	for {
		q := bytes.IndexByte(b[pos:], '"')
		stop := len(b)
		if q >= 0 {
			stop = pos + q
		}
		if !inside {
			if i := bytes.LastIndexByte(b[pos:stop], '\n'); i >= 0 {
				end = pos + i + 1
			}
		}
		if q < 0 {
			return end
		}
		inside, pos = !inside, stop+1
	}
}

// parseCSV reads CSV with a header row naming the columns, in any order and case. The
// delimiter is a comma, or a semicolon when the header uses those (spreadsheets in many
// locales, Russian among them, write semicolons); an Excel "sep=;" first line is honoured.
// The error returned is one of reading r; problems with the text are collected in b.errs.
func (b *builder) parseCSV(file uint16, r io.Reader) error {
	k := &chunker{r: r, end: csvRecordsEnd, line: 1}
	first := &chunk{buf: make([]byte, 0, chunkSize)}
	if err := k.fill(first); err != nil {
		return err
	}
	data := first.text
	comma := byte(',')
	firstLine, _, _ := strings.Cut(data, "\n")
	firstLine = strings.TrimSuffix(firstLine, "\r")
	line := 1
	if sep, ok := strings.CutPrefix(firstLine, "sep="); ok && len(sep) == 1 && !strings.ContainsAny(sep, "\"\r\n") {
		comma = sep[0]
		data = strings.TrimPrefix(strings.TrimPrefix(data[len(firstLine):], "\r"), "\n")
		line = 2
	} else if strings.Count(firstLine, ";") > strings.Count(firstLine, ",") {
		comma = ';'
	}
	cr := newCSVReader(data, comma, line)
	ok, serr := cr.next()
	for !ok && serr == nil && !first.final {
		// Nothing but blank lines (and a "sep=" line) so far: the header is further on.
		if err := k.fill(first); err != nil {
			return err
		}
		data = first.text
		cr = newCSVReader(data, comma, first.line)
		ok, serr = cr.next()
	}
	if serr != nil {
		b.fileError(file, serr.startLine, errors.New("CSV: "+serr.msg))
		return nil
	}
	if !ok {
		return nil // nothing but an Excel "sep=" line: a file without orders
	}
	headerLine := cr.lines[0]
	columns := make([]int, len(cr.fields))
	var have [numFields]bool
	good := true
	for i, h := range cr.fields {
		h = trimField(h)
		f := fieldIndex(h)
		switch {
		case f < 0:
			b.fileError(file, headerLine, fmt.Errorf("unknown column %q (want %s)", h, strings.Join(fieldNames[:], ", ")))
			good = false
		case have[f]:
			b.fileError(file, headerLine, fmt.Errorf("duplicate column %q", h))
			good = false
		}
		if f >= 0 {
			have[f] = true
		}
		columns[i] = f
	}
	for _, f := range [...]int{fieldID, fieldCountries, fieldTarget} {
		if !have[f] {
			b.fileError(file, headerLine, fmt.Errorf("missing required column %q", fieldNames[f]))
			good = false
		}
	}
	if !good {
		return nil
	}
	first.text, first.line = data[cr.pos:], cr.line
	return b.parseChunks(file, k, first, func(pace *pacer, v *rowValidator, c *chunk) {
		validateCSVChunk(pace, v, c, comma, columns)
	})
}

// parseChunks validates the records of the chunks, starting with first, with validate on as
// many goroutines as there are processors, and commits them in order on this one.
func (b *builder) parseChunks(file uint16, k *chunker, first *chunk, validate func(*pacer, *rowValidator, *chunk)) error {
	workers := min(max(runtime.GOMAXPROCS(0), 1), 8)
	maxChunks := 2*workers + 2
	work := make(chan *chunk, maxChunks)
	order := make(chan *chunk, maxChunks)
	free := make(chan *chunk, maxChunks)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// However this returns (done, a syntax error, a cancelled load unwinding), the other
	// goroutines stop and are gone first: they hold the builder's validators and chunks.
	validators := make([]*rowValidator, workers)
	defer func() {
		close(stop)
		wg.Wait()
		for _, v := range validators {
			v.flush()
		}
	}()
	decided := make([][]uint32, workers)
	elements := 0 // of a JSON array, in the chunks committed so far
	for w := range workers {
		v := b.newValidator()
		v.source = b.files[file]
		validators[w] = v
		goLoad(&wg, func() { b.validateChunks(w, v, work, stop, validate) })
	}
	var readErr error // the reader's, written before it closes order
	goLoad(&wg, func() {
		defer close(order)
		readErr = readChunks(b.ctx, k, first, maxChunks, work, order, free, stop)
	})

	done := b.ctx.Done()
	for {
		var c *chunk
		var ok bool
		select {
		case c, ok = <-order:
		case <-done:
			panic(cancelled{context.Cause(b.ctx)})
		}
		if !ok {
			return readErr
		}
		select {
		case <-c.ready:
		case <-done:
			panic(cancelled{context.Cause(b.ctx)})
		}
		decided[c.worker] = b.internDecisions(decided[c.worker], c.decs)
		n := 0
		for i := range c.rows {
			b.pace.step()
			if row := &c.rows[i]; row.index >= 0 {
				// An element of a JSON array, numbered in its chunk: number it in the array.
				row.index += int32(elements)
				for _, e := range row.errs {
					if e.Index >= 0 {
						e.Index += elements
					}
				}
				n++
			}
			b.commit(file, &c.rows[i], decided[c.worker])
		}
		elements += n
		if c.broken {
			return nil
		}
		if poisonChunks {
			for i := range c.buf {
				c.buf[i] = 0xff
			}
		}
		free <- c // never blocks: it holds every chunk
	}
}

// readChunks sends first and then the rest of the stream as chunks, each to order (which
// the builder commits in turn) and to work (which the validators take), until the stream
// ends or stop is closed. It reuses the chunks that come back on free, and closes work.
func readChunks(ctx context.Context, k *chunker, first *chunk, maxChunks int, work, order chan<- *chunk, free <-chan *chunk, stop <-chan struct{}) error {
	defer close(work)
	pace := pacer{ctx: ctx}
	c, chunks := first, 1
	for {
		c.ready = make(chan struct{})
		select {
		case order <- c:
		case <-stop:
			return nil
		}
		select {
		case work <- c:
		case <-stop:
			return nil
		}
		if c.final {
			return nil
		}
		pace.yield()
		select {
		case c = <-free:
		default:
			if chunks < maxChunks {
				c = &chunk{buf: make([]byte, 0, chunkSize)}
				chunks++
				break
			}
			select {
			case c = <-free:
			case <-stop:
				return nil
			}
		}
		c.rows, c.decs, c.broken = c.rows[:0], c.decs[:0], false
		if err := k.fill(c); err != nil {
			return err
		}
	}
}

// validateChunks checks the records of the chunks it takes from work with validate and its
// own validator, w.
func (b *builder) validateChunks(w int, v *rowValidator, work <-chan *chunk, stop <-chan struct{}, validate func(*pacer, *rowValidator, *chunk)) {
	pace := pacer{ctx: b.ctx}
	for c := range work {
		select {
		case <-stop:
			return
		default:
		}
		v.decs = c.decs[:0]
		validate(&pace, v, c)
		c.decs, c.worker = v.take(), w
		close(c.ready)
	}
}

// validateCSVChunk checks the CSV records of c, skipping blank ones; a problem with a record
// becomes a row with recordErr set, so that it is reported in line order.
func validateCSVChunk(pace *pacer, v *rowValidator, c *chunk, comma byte, columns []int) {
	cr := newCSVReader(c.text, comma, c.line)
	var r row
	for {
		pace.step()
		ok, serr := cr.next()
		if serr != nil {
			// A broken quote leaves the reader out of step with the rows; stop here.
			msg := "CSV: " + serr.msg
			if serr.line != serr.startLine {
				msg += fmt.Sprintf(" (noticed on line %d)", serr.line)
			}
			c.rows = append(c.rows, checkedRow{line: uint32(serr.startLine), index: -1, recordErr: errors.New(msg)})
			c.broken = true
			return
		}
		if !ok {
			return
		}
		start := cr.lines[0]
		if len(cr.fields) != len(columns) {
			if len(cr.fields) == 1 && trimField(cr.fields[0]) == "" {
				continue
			}
			c.rows = append(c.rows, checkedRow{line: uint32(start), index: -1, recordErr: fmt.Errorf("%d fields, but the header has %d", len(cr.fields), len(columns))})
			continue
		}
		r = row{index: -1, start: start}
		blank := true
		for i, f := range cr.fields {
			col := columns[i]
			r.val[col] = f
			r.line[col] = cr.lines[i]
			blank = blank && trimField(f) == ""
		}
		if blank {
			continue // spreadsheets leave rows of empty cells behind
		}
		for f := range r.line {
			if r.line[f] == 0 {
				r.line[f] = start // a column the file does not have
			}
		}
		c.rows = append(c.rows, checkedRow{})
		v.check(&r, &c.rows[len(c.rows)-1])
	}
}

// linesEnd returns where the last complete line in b ends: after its last newline, or 0. In
// JSON Lines a newline always ends a record, since a JSON string cannot hold one.
func linesEnd(b []byte) int {
	return bytes.LastIndexByte(b, '\n') + 1
}

// parseJSONLines reads one JSON object per line, as a stream of chunks like CSV; blank lines
// are skipped, and a broken line does not stop the lines after it from being checked. The
// error returned is one of reading r.
func (b *builder) parseJSONLines(file uint16, r io.Reader) error {
	k := &chunker{r: r, end: linesEnd, line: 1}
	first := &chunk{buf: make([]byte, 0, chunkSize)}
	if err := k.fill(first); err != nil {
		return err
	}
	return b.parseChunks(file, k, first, validateJSONLinesChunk)
}

// validateJSONLinesChunk checks the JSON objects of c, one a line.
func validateJSONLinesChunk(pace *pacer, v *rowValidator, c *chunk) {
	text, line := c.text, c.line
	for ; len(text) > 0; line++ {
		pace.step()
		obj, rest, _ := strings.Cut(text, "\n")
		text = rest
		if obj = strings.TrimSpace(obj); obj == "" {
			continue
		}
		c.rows = append(c.rows, checkedRow{})
		checkJSONObject(v, obj, line, -1, &c.rows[len(c.rows)-1])
	}
}

// parseJSONArray reads a JSON array of objects as a stream of chunks, each cut after an
// element, checking the elements of each chunk as JSON Lines' objects are checked. Errors
// name the element and the line it starts on; the error returned is one of reading r.
func (b *builder) parseJSONArray(file uint16, r io.Reader) error {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
		r = br.(io.Reader)
	}
	line := 1
	for {
		c, err := br.ReadByte()
		if err == io.EOF || err == nil && c != '[' && !isJSONSpace(c) {
			b.fileError(file, line, errors.New("want a JSON array of objects"))
			return nil
		}
		if err != nil {
			return err
		}
		if c == '[' {
			break
		}
		if c == '\n' {
			line++
		}
	}
	k := &chunker{r: r, end: jsonElementsEnd, line: line}
	first := &chunk{buf: make([]byte, 0, chunkSize)}
	if err := k.fill(first); err != nil {
		return err
	}
	return b.parseChunks(file, k, first, validateJSONArrayChunk)
}

// jsonElementsEnd returns where the last complete element of a JSON array in b ends, b
// starting after the array's "[" or after an element; 0 when none does. The array's "]"
// ends no chunk: it and what follows it go to the last one.
func jsonElementsEnd(b []byte) int {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	end := 0
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n', ',':
			i++
		case ']':
			return end
		default:
			j := jsonValueEnd(s, i)
			if j < 0 || j == len(s) && c != '{' && c != '[' && c != '"' {
				return end // a number, say, may go on in the next read
			}
			end, i = j, j
		}
	}
	return end
}

// validateJSONArrayChunk checks the elements of a JSON array in c, numbering them from 0
// (parseChunks numbers them in the array). A fault in the array itself (a missing comma,
// a missing "]") ends the reading there.
func validateJSONArrayChunk(pace *pacer, v *rowValidator, c *chunk) {
	s := c.text
	lines := lineCounter{data: s, line: c.line}
	fail := func(at int, msg string) {
		c.rows = append(c.rows, checkedRow{line: uint32(lines.at(at)), index: -1, recordErr: errors.New(msg)})
		c.broken = true
	}
	// Every chunk but the first starts after an element, before its comma.
	after := c.seq > 0
	for i, index := 0, 0; ; index++ {
		pace.step()
		i = skipJSONSpace(s, i)
		switch {
		case i == len(s):
			if c.final {
				fail(i, "invalid JSON: unexpected end (the array has no closing \"]\")")
			}
			return
		case s[i] == ']':
			if i = skipJSONSpace(s, i+1); i < len(s) {
				fail(i, "data after the JSON array")
			}
			return
		case after && s[i] != ',':
			fail(i, fmt.Sprintf("invalid JSON: want \",\" or \"]\" after an element, not %q", s[i]))
			return
		case after:
			i = skipJSONSpace(s, i+1)
		}
		if i < len(s) && (s[i] == ',' || s[i] == ']') {
			fail(i, fmt.Sprintf("invalid JSON: want an element, not %q", s[i]))
			return
		}
		// The fast reader reads an object where it is and says where it ends; what it
		// leaves to encoding/json is cut out first.
		line := lines.at(i)
		r, p := jsonRow(line, index), jsonScanner{s: s, i: i}
		if p.object(&r) {
			c.rows = append(c.rows, checkedRow{})
			v.check(&r, &c.rows[len(c.rows)-1])
			after, i = true, p.i
			continue
		}
		end := -1
		if i < len(s) {
			end = jsonValueEnd(s, i)
		}
		if end < 0 {
			fail(i, "invalid JSON: unexpected end")
			return
		}
		c.rows = append(c.rows, checkedRow{})
		checkJSONObjectSlow(v, s[i:end], line, index, &c.rows[len(c.rows)-1])
		after, i = true, end
	}
}

func skipJSONSpace(s string, i int) int {
	for i < len(s) && isJSONSpace(s[i]) {
		i++
	}
	return i
}

// jsonValueEnd returns where the JSON value that starts at s[i] ends, or -1 when s ends
// first. It balances quotes and brackets, and no more: whether the value is valid JSON is
// for its reader to say. A number or a literal ends at the next delimiter.
func jsonValueEnd(s string, i int) int {
	switch s[i] {
	case '"':
		return jsonStringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				if j = jsonStringEnd(s, j); j < 0 {
					return -1
				}
				j-- // the loop steps past the closing quote
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case ',', ']', '}', '{', '[', '"', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(s)
}

// jsonStringEnd returns where the JSON string whose opening quote is s[i] ends, just after
// its closing quote, or -1 when s ends first.
func jsonStringEnd(s string, i int) int {
	for j := i + 1; ; {
		q := strings.IndexByte(s[j:], '"')
		if q < 0 {
			return -1
		}
		q += j
		escapes := 0
		for k := q - 1; k > i && s[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}
