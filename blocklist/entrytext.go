package blocklist

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/encoding/charmap"
)

// input is a buffered stream that a scanner reads tokens from. A token is parsed in place
// from buf[pos:end]; when it runs past end, fill moves what is unread to the front, reads
// more and the token is parsed again, so nothing is copied out of the buffer but the values
// that are kept. The buffer grows to readSize as the file turns out large, and beyond that
// only for a token that does not fit, up to maxToken.
type input struct {
	r        io.Reader
	buf      []byte
	pos, end int
	base     int64 // file offset of buf[0]
	eof      bool  // nothing more to read
	err      error // a read error other than io.EOF

	// The newlines before lineOff are counted: line is the line of the byte at lineOff.
	line    int
	lineOff int64
}

const (
	firstRead = 64 << 10
	// readSize is large because each read costs a system call; 1 MiB makes them a small
	// part of the time, as for the other formats (readFile).
	readSize = 1 << 20
	// maxToken bounds one tag or one value: far beyond any in a register, and far below
	// what would strain memory.
	maxToken = 16 << 20
)

// avail returns the bytes read and not yet consumed.
func (in *input) avail() []byte { return in.buf[in.pos:in.end] }

// offset returns the file offset of buf[pos+i].
func (in *input) offset(i int) int64 { return in.base + int64(in.pos+i) }

// fill reads more, keeping buf[pos:end]. It reports whether there is more to read; at the end
// of the file, after a read error, and when a token would outgrow maxToken, there is not.
func (in *input) fill() bool {
	if in.eof {
		return false
	}
	if in.pos > 0 {
		in.lineAt(in.base + int64(in.pos))
		n := copy(in.buf, in.buf[in.pos:in.end])
		in.base += int64(in.pos)
		in.pos, in.end = 0, n
	}
	switch size := len(in.buf); {
	case size == 0:
		in.buf = make([]byte, firstRead)
	case in.end == size && size >= maxToken:
		in.eof, in.err = true, errTooLong
		return false
	case in.end > size/2 || size < readSize && in.base > 0:
		buf := make([]byte, min(2*size, maxToken))
		copy(buf, in.buf[:in.end])
		in.buf = buf
	}
	for tries := 0; ; tries++ {
		n, err := in.r.Read(in.buf[in.end:])
		in.end += n
		switch {
		case err == io.EOF:
			in.eof = true
			return n > 0
		case err != nil:
			in.eof, in.err = true, err
			return false
		case n > 0:
			return true
		case tries == 100:
			in.eof, in.err = true, io.ErrNoProgress
			return false
		}
	}
}

// ensure makes at least n bytes available, if the file has them.
func (in *input) ensure(n int) bool {
	for in.end-in.pos < n {
		if !in.fill() {
			return false
		}
	}
	return true
}

// lineAt returns the line of the byte at file offset off, which must still be in the buffer
// or beyond what is read; offsets are asked for mostly in increasing order, so that each
// newline is counted about once.
func (in *input) lineAt(off int64) int {
	lo, hi := in.lineOff-in.base, off-in.base
	switch {
	case off >= in.lineOff:
		in.line += bytes.Count(in.buf[lo:min(hi, int64(in.end))], []byte{'\n'})
		in.lineOff = off
	case hi >= 0:
		in.line -= bytes.Count(in.buf[hi:lo], []byte{'\n'})
		in.lineOff = off
	}
	return in.line
}

// endErr is the error for input that ended before the token at file offset off did: a
// truncated file (what says where the file ends), a token longer than maxToken, or a read
// error.
func (d *EntryReader) endErr(off int64, what string) error {
	switch {
	case d.in.err == errTooLong:
		return d.errorAt(off, "", fmt.Errorf("byte %d: %w", off, errTooLong))
	case d.in.err != nil:
		return d.ioErr()
	}
	end := d.in.base + int64(d.in.end)
	return d.errorAt(end, "", fmt.Errorf("byte %d: unexpected end of file %s: %w", end, what, errTruncated))
}

// ioErr is the error for a failed read.
func (d *EntryReader) ioErr() error {
	return &Error{Source: d.name, Index: -1, Err: fmt.Errorf("reading: %w", d.in.err)}
}

// A span is a value in the text of an entry.
type span struct{ off, n uint32 }

// The scalar values of an entry.
const (
	valID = iota
	valIncludeTime
	valEntryType
	valHash
	valBlockType
	valDate
	valNumber
	valOrg
	numScalars
)

// maxEntry bounds the text of one entry, which the reader holds whole.
const maxEntry = 16 << 20

// entryText holds the decoded text of the entry being read; Entry's strings are views of it.
type entryText struct {
	buf     []byte
	spare   []byte // the previous entry's buf, cleared
	scalars [numScalars]span
	set     uint16    // which scalars have a value
	block   BlockType // when blockType is not set: what the entry's fields imply
	urls    []span
	domains []span
	ips     []span
	subnets []span
}

// reset starts a new entry. Entries are read into two buffers in turn, and the previous
// entry's is cleared: a string of it kept past its time reads as NULs, not as the text of
// the next entry, which would pass for real.
func (t *entryText) reset() {
	clear(t.buf)
	t.buf, t.spare = t.spare[:0], t.buf[:0]
	t.set = 0
	t.scalars = [numScalars]span{}
	t.block = BlockURL
	t.urls, t.domains, t.ips, t.subnets = t.urls[:0], t.domains[:0], t.ips[:0], t.subnets[:0]
}

// mark returns where the next value starts.
func (t *entryText) mark() int { return len(t.buf) }

// value ends the value that started at mark: trimmed of blank space, the span of it.
func (t *entryText) value(mark int) (span, bool) {
	s, ok := trimSpan(t.buf, mark, len(t.buf))
	if !ok {
		t.buf = t.buf[:mark]
		return span{}, false
	}
	t.buf = t.buf[:s.off+s.n]
	return s, true
}

// scalar ends the value of scalar i that started at mark.
func (t *entryText) scalar(i int, mark int) {
	if s, ok := t.value(mark); ok {
		t.setScalar(i, s)
	}
}

func (t *entryText) setScalar(i int, s span) {
	t.scalars[i] = s
	t.set |= 1 << i
}

// fill points e's strings at the text.
func (t *entryText) fill(e *Entry) {
	e.ID = t.str(t.scalars[valID])
	e.IncludeTime = t.str(t.scalars[valIncludeTime])
	e.EntryType = t.str(t.scalars[valEntryType])
	e.Hash = t.str(t.scalars[valHash])
	switch bt := t.str(t.scalars[valBlockType]); bt {
	case "":
		e.BlockType = t.block
	case "default":
		e.BlockType = BlockURL
	case "domain":
		e.BlockType = BlockDomain
	case "domain-mask":
		e.BlockType = BlockDomainMask
	case "ip":
		e.BlockType = BlockIP
	default:
		e.BlockType = BlockType(bt)
	}
	e.Decision = Decision{
		Date:   t.str(t.scalars[valDate]),
		Number: t.str(t.scalars[valNumber]),
		Org:    t.str(t.scalars[valOrg]),
	}
	e.URLs = t.strs(e.URLs, t.urls)
	e.Domains = t.strs(e.Domains, t.domains)
	e.IPs = t.strs(e.IPs, t.ips)
	e.Subnets = t.strs(e.Subnets, t.subnets)
}

func (t *entryText) str(s span) string {
	if s.n == 0 {
		return ""
	}
	return unsafe.String(&t.buf[s.off], s.n)
}

func (t *entryText) strs(dst []string, spans []span) []string {
	for _, s := range spans {
		dst = append(dst, t.str(s))
	}
	return dst
}

// The encodings of registers.
type encoding uint8

const (
	encUTF8 encoding = iota
	encCP1251
)

func (e encoding) String() string {
	if e == encCP1251 {
		return "windows-1251"
	}
	return "UTF-8"
}

// cp1251 is windows-1251's upper half in UTF-8; n is 0 for the one byte that is no
// character (0x98).
var cp1251 = func() (t [128]struct {
	b [3]byte
	n uint8
}) {
	for i := range t {
		r := charmap.Windows1251.DecodeByte(byte(0x80 + i))
		if r == utf8.RuneError {
			continue
		}
		t[i].n = uint8(utf8.EncodeRune(t[i].b[:], r))
	}
	return t
}()

// appendText appends src, in encoding enc, to dst in UTF-8. It returns the index in src of
// the first byte that is not text (a control character other than tab and line ends, a byte
// that is no character in the encoding), or -1.
func appendText(dst, src []byte, enc encoding) ([]byte, int) {
	return appendTextAs(dst, src, enc, false)
}

// appendTextAs is appendText that normalises line ends as XML does: CRLF and a lone CR
// become LF, and for an attribute value, tabs and line ends become spaces.
func appendTextAs(dst, src []byte, enc encoding, attr bool) ([]byte, int) {
	for i := 0; i < len(src); {
		run := asciiRun(src[i:])
		dst = append(dst, src[i:i+run]...)
		if i += run; i == len(src) {
			break
		}
		switch c := src[i]; {
		case c < 0x20:
			switch {
			case c != '\t' && c != '\n' && c != '\r':
				return dst, i
			case c == '\r' && i+1 < len(src) && src[i+1] == '\n':
				i++
				continue
			case attr:
				c = ' '
			case c == '\r':
				c = '\n'
			}
			dst = append(dst, c)
			i++
		case enc == encCP1251:
			t := &cp1251[c-0x80]
			if t.n == 0 {
				return dst, i
			}
			dst = append(dst, t.b[:t.n]...)
			i++
		default:
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n <= 1 || r == 0xFFFE || r == 0xFFFF {
				return dst, i
			}
			dst = append(dst, src[i:i+n]...)
			i += n
		}
	}
	return dst, -1
}

// validText is appendText that only checks: it returns the index of the first byte that
// is not text, or -1.
func validText(src []byte, enc encoding) int {
	for i := 0; i < len(src); {
		if i += asciiRun(src[i:]); i == len(src) {
			break
		}
		switch c := src[i]; {
		case c < 0x20:
			if c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			i++
		case enc == encCP1251:
			if cp1251[c-0x80].n == 0 {
				return i
			}
			i++
		default:
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n <= 1 || r == 0xFFFE || r == 0xFFFF {
				return i
			}
			i += n
		}
	}
	return -1
}

// Eight bytes at a time: word tests on eight bytes read as one little-endian uint64.
const byteOnes, byteHighs = 0x0101010101010101, 0x8080808080808080

// asciiText reports whether the eight bytes of w are all ASCII text, 0x20 to 0x7f. A byte
// of 0x80 or more sets its own high bit; one below 0x20 borrows when 0x20 is taken from it
// (the borrow can only mark further bytes wrongly, never hide one).
func asciiText(w uint64) bool { return (w|(w-0x20*byteOnes)&^w)&byteHighs == 0 }

// printableASCII is asciiText without DEL, 0x7f: with no high bit set, adding 1 carries
// into one only from 0x7f.
func printableASCII(w uint64) bool { return asciiText(w) && (w+byteOnes)&byteHighs == 0 }

// asciiRun returns the length of the ASCII text (0x20 to 0x7f, which XML allows) that b
// starts with.
func asciiRun(b []byte) int {
	i := 0
	for i+8 <= len(b) && asciiText(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && b[i] >= 0x20 && b[i] < 0x80 {
		i++
	}
	return i
}

// htmlUnescape decodes, in place, the HTML character references that registers publish in
// URLs (see EntryReader), and returns what is left of b.
func htmlUnescape(b []byte) []byte {
	i := bytes.IndexByte(b, '&')
	if i < 0 {
		return b
	}
	w := i
	for i < len(b) {
		if b[i] != '&' {
			b[w] = b[i]
			w++
			i++
			continue
		}
		r, n := htmlReference(b[i:])
		if n == 0 {
			b[w] = '&'
			w++
			i++
			continue
		}
		// A reference is longer than its character in UTF-8, so w never overtakes i.
		w += utf8.EncodeRune(b[w:], r)
		i += n
	}
	return b[:w]
}

// htmlReference reads the character reference at the start of b ('&'), and returns the
// character and the reference's length, or 0 when it is none that htmlUnescape decodes.
func htmlReference(b []byte) (rune, int) {
	semi := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if semi < 0 {
		return 0, 0
	}
	name := b[1:semi]
	var r rune
	switch string(name) {
	case "amp":
		r = '&'
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "quot":
		r = '"'
	case "apos":
		r = '\''
	case "nbsp":
		r = '\u00a0'
	default:
		v, ok := charRef(name)
		if !ok || v < 0x20 || v >= 0x7f && v < 0xa0 {
			return 0, 0
		}
		r = v
	}
	return r, semi + 1
}

// charRef reads the number of a character reference, "#N" or "#xH", and reports whether it
// is a character that may be written in UTF-8 (not a surrogate, not beyond U+10FFFF).
func charRef(name []byte) (rune, bool) {
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	var v rune
	for _, c := range digits {
		d := rune(unhex(c))
		if d >= base {
			return 0, false
		}
		v = v*base + d
	}
	return v, utf8.ValidRune(v)
}
