package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Reading dump.xml: a scanner of this one format that checks well-formedness as it goes (see
// EntryReader). encoding/xml reads a few MB/s and allocates for every token; a register of
// half a gigabyte must be read in seconds.

type xmlState struct {
	enc  encoding
	root string // the root element's name
	done bool   // the root element is closed

	rootLine int
	rootAt   int64

	entries   int    // <content> elements read
	unknown   string // the first element in the root that is not <content>
	unknownAt int64

	attrs   []rawAttr
	skipped []byte // names of the unknown elements being skipped, one after another
	open    []openElement
	scratch []byte
}

// rawAttr is an attribute as it stands in the buffer, valid until the buffer is filled.
type rawAttr struct {
	name, value []byte
	at          int // index of the value in the tag
}

// syntaxErr is a problem at index at of the bytes a token was parsed from.
type syntaxErr struct {
	at  int
	msg string
}

func (e *syntaxErr) Error() string { return e.msg }

// errShort says a token runs past the bytes read so far.
var errShort = errors.New("short")

func synErr(at int, format string, args ...any) error {
	return &syntaxErr{at: at, msg: fmt.Sprintf(format, args...)}
}

// xmlErr locates a problem at file offset off.
func (d *EntryReader) xmlErr(off int64, err error) error {
	return d.errorAt(off, "", wrapf(err, "byte %d", off))
}

func (d *EntryReader) xmlErrf(off int64, format string, args ...any) error {
	return d.errorAt(off, "", fmt.Errorf("byte %d: "+format, append([]any{off}, args...)...))
}

// tokenErr turns what a token parser returned into the error to report; at is the offset
// of the bytes it parsed. A short token that cannot be completed is a truncated file.
func (d *EntryReader) tokenErr(err error, what string) error {
	var se *syntaxErr
	if errors.As(err, &se) {
		return d.xmlErrf(d.in.offset(se.at), "%s", se.msg)
	}
	if err == errShort {
		return d.endErr(d.in.offset(0), what)
	}
	return err
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// Names are ASCII: XML allows more, but no version of the register has used it, and a
// name in windows-1251 would have to be decoded to be checked.
func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':'
}

func isNameByte(c byte) bool {
	return isNameStart(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// scanName returns the end of the name that starts at b[i].
func scanName(b []byte, i int) int {
	for i < len(b) && isNameByte(b[i]) {
		i++
	}
	return i
}

// The kinds of markup that start with '<'.
const (
	markStart = iota
	markEnd
	markComment
	markPI
	markCDATA
	markOther
)

// markup tells what the markup at pos is. It returns false when the file ends first.
func (d *EntryReader) markup() (int, bool) {
	if !d.in.ensure(9) && d.in.end-d.in.pos < 2 {
		return 0, false
	}
	b := d.in.avail()
	switch c := b[1]; {
	case c == '/':
		return markEnd, true
	case c == '?':
		return markPI, true
	case c == '!':
		switch {
		case bytes.HasPrefix(b, []byte("<!--")):
			return markComment, true
		case bytes.HasPrefix(b, []byte("<![CDATA[")):
			return markCDATA, true
		case len(b) < 9 && (bytes.HasPrefix([]byte("<![CDATA["), b) || bytes.HasPrefix([]byte("<!--"), b)):
			return 0, false
		}
		return markOther, true
	case isNameStart(c):
		return markStart, true
	}
	return markOther, true
}

// skipSpace skips blank space and reports whether anything follows.
func (d *EntryReader) skipSpace() bool {
	for {
		b := d.in.avail()
		i := 0
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		d.in.pos += i
		if i < len(b) {
			return true
		}
		if !d.in.fill() {
			return false
		}
	}
}

// parseTag parses the start tag at b[0]: its name, its attributes into x.attrs, and whether
// it closes itself. It returns the tag's length.
func (x *xmlState) parseTag(b []byte) (n int, name []byte, selfClose bool, err error) {
	i := scanName(b, 1)
	if i == len(b) {
		return 0, nil, false, errShort
	}
	name = b[1:i]
	x.attrs = x.attrs[:0]
	for {
		ws := i
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			return 0, nil, false, errShort
		}
		switch b[i] {
		case '>':
			return i + 1, name, false, nil
		case '/':
			if i+1 == len(b) {
				return 0, nil, false, errShort
			}
			if b[i+1] != '>' {
				return 0, nil, false, synErr(i, "expected '>' after '/' in <%s>", name)
			}
			return i + 2, name, true, nil
		}
		if i == ws || !isNameStart(b[i]) {
			return 0, nil, false, synErr(i, "expected an attribute, '>' or '/>' in <%s>, found %s", name, quoteByte(b[i]))
		}
		start := i
		i = scanName(b, i)
		attr := b[start:i]
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			return 0, nil, false, errShort
		}
		if b[i] != '=' {
			return 0, nil, false, synErr(i, "expected '=' after attribute %s of <%s>", attr, name)
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			return 0, nil, false, errShort
		}
		q := b[i]
		if q != '"' && q != '\'' {
			return 0, nil, false, synErr(i, "the value of attribute %s of <%s> is not quoted", attr, name)
		}
		end := bytes.IndexByte(b[i+1:], q)
		value := b[i+1:]
		if end >= 0 {
			value = value[:end]
		}
		if lt := bytes.IndexByte(value, '<'); lt >= 0 {
			return 0, nil, false, synErr(i+1+lt, "'<' in the value of attribute %s of <%s> (is a quote missing?)", attr, name)
		}
		if end < 0 {
			return 0, nil, false, errShort
		}
		for _, a := range x.attrs {
			if bytes.Equal(a.name, attr) {
				return 0, nil, false, synErr(start, "attribute %s of <%s> is given twice", attr, name)
			}
		}
		x.attrs = append(x.attrs, rawAttr{name: attr, value: b[i+1 : i+1+end], at: i + 1})
		i += end + 2
	}
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("%q", rune(c))
}

// appendAttr appends the decoded value of an attribute: entities replaced, and blank space
// made spaces, as XML normalises attribute values.
func (x *xmlState) appendAttr(dst []byte, a *rawAttr) ([]byte, error) {
	v := a.value
	at := a.at
	for len(v) > 0 {
		j := bytes.IndexByte(v, '&')
		seg := v
		if j >= 0 {
			seg = v[:j]
		}
		if lt := bytes.IndexByte(seg, '<'); lt >= 0 {
			return dst, synErr(at+lt, "'<' in the value of attribute %s", a.name)
		}
		var bad int
		dst, bad = appendTextAs(dst, seg, x.enc, true)
		if bad >= 0 {
			return dst, synErr(at+bad, "attribute %s: %s", a.name, badText(seg[bad], x.enc))
		}
		if j < 0 {
			break
		}
		var n int
		var err error
		dst, n, err = appendEntity(dst, v[j:])
		if err != nil {
			return dst, synErr(at+j, "attribute %s: %v", a.name, err)
		}
		v = v[j+n:]
		at += j + n
	}
	return dst, nil
}

// badText describes a byte that is not text.
func badText(c byte, enc encoding) string {
	if c < 0x20 {
		return fmt.Sprintf("control character 0x%02x", c)
	}
	return fmt.Sprintf("%s: byte 0x%02x is not a character in %s", errEncoding, c, enc)
}

// appendEntity decodes the entity or character reference at the start of b ('&').
func appendEntity(dst, b []byte) ([]byte, int, error) {
	semi := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if semi < 0 {
		return dst, 0, errors.New("'&' that starts no entity (write &amp;)")
	}
	name := b[1:semi]
	switch string(name) {
	case "lt":
		return append(dst, '<'), semi + 1, nil
	case "gt":
		return append(dst, '>'), semi + 1, nil
	case "amp":
		return append(dst, '&'), semi + 1, nil
	case "apos":
		return append(dst, '\''), semi + 1, nil
	case "quot":
		return append(dst, '"'), semi + 1, nil
	}
	if r, ok := charRef(name); ok && isXMLChar(r) {
		return appendRune(dst, r), semi + 1, nil
	}
	if len(name) > 0 && name[0] == '#' {
		return dst, 0, fmt.Errorf("&%s; is not a character XML allows", name)
	}
	return dst, 0, fmt.Errorf("unknown entity &%s;", name)
}

func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func appendRune(dst []byte, r rune) []byte {
	var buf [4]byte
	n := copy(buf[:], string(r))
	return append(dst, buf[:n]...)
}

// appendCharData appends text content: entities replaced, and "]]>" refused, as XML has it.
func (x *xmlState) appendCharData(dst, v []byte) ([]byte, error) {
	at := 0
	for {
		j := bytes.IndexByte(v, '&')
		seg := v
		if j >= 0 {
			seg = v[:j]
		}
		if k := bytes.Index(seg, []byte("]]>")); k >= 0 {
			return dst, synErr(at+k, "\"]]>\" outside CDATA")
		}
		var bad int
		dst, bad = appendText(dst, seg, x.enc)
		if bad >= 0 {
			return dst, synErr(at+bad, "%s", badText(seg[bad], x.enc))
		}
		if j < 0 {
			return dst, nil
		}
		var n int
		var err error
		dst, n, err = appendEntity(dst, v[j:])
		if err != nil {
			return dst, synErr(at+j, "%v", err)
		}
		v = v[j+n:]
		at += j + n
	}
}

// tag reads the start tag at pos, leaving its attributes in d.xml.attrs (valid until the
// next read) and pos after it.
func (d *EntryReader) tag() (name []byte, selfClose bool, start int64, err error) {
	for {
		n, name, sc, err := d.xml.parseTag(d.in.avail())
		if err == errShort && d.in.fill() {
			continue
		}
		if err != nil {
			return nil, false, 0, d.tokenErr(err, "inside a tag")
		}
		start = d.in.offset(0)
		d.in.pos += n
		return name, sc, start, nil
	}
}

// endTag reads the end tag at pos and checks that it closes open.
func (d *EntryReader) endTag(open string, openedLine int, openedAt int64) error {
	for {
		b := d.in.avail()
		i := scanName(b, 2)
		j := i
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			if d.in.fill() {
				continue
			}
			return d.tokenErr(errShort, "inside an end tag")
		}
		if b[j] != '>' || i == 2 {
			return d.xmlErrf(d.in.offset(j), "malformed end tag")
		}
		if string(b[2:i]) != open {
			return d.xmlErrf(d.in.offset(0), "</%s> where <%s> (line %d, byte %d) should be closed", b[2:i], open, openedLine, openedAt)
		}
		d.in.pos += j + 1
		return nil
	}
}

// skipDelimited skips markup from pos to the end of close, which must come after skip bytes.
// CDATA is checked for text, and comments for "--".
func (d *EntryReader) skipDelimited(skip int, close string, what string) error {
	for {
		b := d.in.avail()
		j := bytes.Index(b[skip:], []byte(close))
		if j < 0 {
			if d.in.fill() {
				continue
			}
			return d.tokenErr(errShort, "inside "+what)
		}
		body := b[skip : skip+j]
		switch close {
		case "-->":
			if k := bytes.Index(body, []byte("--")); k >= 0 || j > 0 && body[j-1] == '-' {
				if k < 0 {
					k = j - 1
				}
				return d.xmlErrf(d.in.offset(skip+k), "\"--\" inside a comment")
			}
		case "?>":
			n := scanName(body, 0)
			if n == 0 || !isNameStart(body[0]) || n < len(body) && !isSpace(body[n]) {
				return d.xmlErrf(d.in.offset(0), "a processing instruction without a target")
			}
			if strings.EqualFold(string(body[:n]), "xml") {
				return d.xmlErrf(d.in.offset(0), "an XML declaration that is not at the start of the file")
			}
		}
		if bad := validText(body, d.xml.enc); bad >= 0 {
			return d.xmlErrf(d.in.offset(skip+bad), "%s", badText(body[bad], d.xml.enc))
		}
		d.in.pos += skip + j + len(close)
		return nil
	}
}

// misc skips a comment or a processing instruction at pos, or refuses other markup.
func (d *EntryReader) misc(kind int, where string) error {
	switch kind {
	case markComment:
		return d.skipDelimited(4, "-->", "a comment")
	case markPI:
		return d.skipDelimited(2, "?>", "a processing instruction")
	case markCDATA:
		return d.xmlErrf(d.in.offset(0), "CDATA %s", where)
	}
	if bytes.HasPrefix(d.in.avail(), []byte("<!DOCTYPE")) {
		return d.xmlErrf(d.in.offset(0), "a DOCTYPE, which a register has no use for")
	}
	return d.xmlErrf(d.in.offset(0), "malformed markup %s", where)
}

// xmlHeader reads the XML declaration and the root's start tag.
func (d *EntryReader) xmlHeader() error {
	d.in.ensure(len(bom) + 6)
	hasBOM := bytes.HasPrefix(d.in.avail(), []byte(bom))
	if hasBOM {
		d.in.pos += len(bom)
	}
	d.xml.enc = encUTF8
	if b := d.in.avail(); len(b) >= 6 && bytes.HasPrefix(b, []byte("<?xml")) && isSpace(b[5]) {
		if err := d.xmlDecl(hasBOM); err != nil {
			return err
		}
	}
	for {
		if !d.skipSpace() {
			if d.in.err != nil {
				return d.ioErr()
			}
			return d.xmlErr(d.in.offset(0), fmt.Errorf("no <reg:register> element: the file is empty, or %w", errTruncated))
		}
		if d.in.avail()[0] != '<' {
			return d.xmlErr(d.in.offset(0), fmt.Errorf("the file does not start with an XML declaration or <reg:register> as a register does: %w at its start, or is not a register", errTruncated))
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		if kind != markStart {
			if err := d.misc(kind, "before <reg:register>"); err != nil {
				return err
			}
			continue
		}
		name, sc, start, err := d.tag()
		if err != nil {
			return err
		}
		local := name
		if i := bytes.LastIndexByte(local, ':'); i >= 0 {
			local = local[i+1:]
		}
		if string(local) != "register" {
			return d.xmlErrf(start, "the root element is <%s>, not <reg:register>", name)
		}
		d.xml.root = string(name)
		d.xml.rootLine, d.xml.rootAt = d.in.lineAt(start), start
		for i := range d.xml.attrs {
			a := &d.xml.attrs[i]
			d.xml.scratch, err = d.xml.appendAttr(d.xml.scratch[:0], a)
			if err != nil {
				return d.tokenErrAt(start, err)
			}
			switch string(a.name) {
			case "updateTime":
				d.header.UpdateTime = strings.TrimSpace(string(d.xml.scratch))
			case "updateTimeUrgently":
				d.header.UpdateTimeUrgently = strings.TrimSpace(string(d.xml.scratch))
			case "formatVersion":
				d.header.FormatVersion = strings.TrimSpace(string(d.xml.scratch))
			}
		}
		d.xml.done = sc
		return nil
	}
}

// tokenErrAt is tokenErr for a token that started at file offset start and was consumed.
func (d *EntryReader) tokenErrAt(start int64, err error) error {
	var se *syntaxErr
	if errors.As(err, &se) {
		return d.xmlErrf(start+int64(se.at), "%s", se.msg)
	}
	return err
}

// xmlDecl reads the XML declaration at pos and sets the encoding.
func (d *EntryReader) xmlDecl(hasBOM bool) error {
	for {
		b := d.in.avail()
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			if d.in.fill() {
				continue
			}
			return d.tokenErr(errShort, "inside the XML declaration")
		}
		// The pseudo-attributes parse as a tag's attributes do.
		// "?xml ... ?" parses as the tag "<xml ... >" would, the '?'s standing for '<' and '>'.
		decl := b[1 : end+1]
		decl[len(decl)-1] = '>'
		n, _, _, err := d.xml.parseTag(decl)
		decl[len(decl)-1] = '?'
		if err == nil && n != len(decl) {
			err = synErr(n, "malformed XML declaration")
		}
		if err == errShort {
			err = synErr(end-1, "malformed XML declaration")
		}
		if err != nil {
			return d.tokenErrAt(d.in.offset(1), err)
		}
		version, enc := "", ""
		for _, a := range d.xml.attrs {
			switch string(a.name) {
			case "version":
				version = string(a.value)
			case "encoding":
				enc = string(a.value)
			case "standalone":
			default:
				return d.xmlErrf(d.in.offset(1+a.at), "%s in the XML declaration", a.name)
			}
		}
		if version != "1.0" {
			return d.xmlErrf(d.in.offset(0), "XML version %q (want 1.0)", version)
		}
		switch strings.ToLower(enc) {
		case "", "utf-8":
			d.xml.enc = encUTF8
		case "windows-1251", "cp1251":
			if hasBOM {
				return d.xmlErrf(0, "a UTF-8 byte order mark, but encoding %q", enc)
			}
			d.xml.enc = encCP1251
		default:
			return d.xmlErrf(d.in.offset(0), "encoding %q is not supported (windows-1251 or UTF-8)", enc)
		}
		d.in.pos += end + 2
		return nil
	}
}

// xmlNext reads up to the next <content> and reads it into d.e.
func (d *EntryReader) xmlNext() error {
	for {
		if d.xml.done {
			return d.xmlTrailer()
		}
		if !d.skipSpace() {
			return d.endErr(d.in.offset(0), fmt.Sprintf("before </%s> (<%s> is at line %d, byte %d)", d.xml.root, d.xml.root, d.xml.rootLine, d.xml.rootAt))
		}
		if d.in.avail()[0] != '<' {
			return d.xmlErrf(d.in.offset(0), "text outside <content>")
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		switch kind {
		case markStart:
			name, sc, start, err := d.tag()
			if err != nil {
				return err
			}
			if string(name) == "content" {
				d.xml.entries++
				return d.xmlContent(start, sc)
			}
			if d.xml.unknown == "" {
				d.xml.unknown, d.xml.unknownAt = string(name), start
			}
			if err := d.checkAttrs(start); err != nil {
				return err
			}
			if !sc {
				if err := d.skipElement(name, start); err != nil {
					return err
				}
			}
		case markEnd:
			if err := d.endTag(d.xml.root, d.xml.rootLine, d.xml.rootAt); err != nil {
				return err
			}
			d.xml.done = true
			// A register whose entries all hide in elements it does not know is one whose
			// format has changed, not an empty one: reading nothing from it would lift
			// every order it holds.
			if d.xml.entries == 0 && d.xml.unknown != "" {
				return d.xmlErrf(d.xml.unknownAt, "no <content> in <%s>, but <%s>: a format this reader does not know", d.xml.root, d.xml.unknown)
			}
		default:
			if err := d.misc(kind, "outside <content>"); err != nil {
				return err
			}
		}
	}
}

// xmlTrailer checks that nothing but comments and blank space follow the root.
func (d *EntryReader) xmlTrailer() error {
	for d.skipSpace() {
		if d.in.avail()[0] != '<' {
			return d.xmlErrf(d.in.offset(0), "text after </%s>", d.xml.root)
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		if kind != markComment && kind != markPI {
			return d.xmlErrf(d.in.offset(0), "markup after </%s>", d.xml.root)
		}
		if err := d.misc(kind, ""); err != nil {
			return err
		}
	}
	if d.in.err != nil {
		return d.ioErr()
	}
	return io.EOF
}

// checkAttrs checks the values of attributes that are not read.
func (d *EntryReader) checkAttrs(start int64) error {
	for i := range d.xml.attrs {
		var err error
		d.xml.scratch, err = d.xml.appendAttr(d.xml.scratch[:0], &d.xml.attrs[i])
		if err != nil {
			return d.tokenErrAt(start, err)
		}
	}
	return nil
}

// xmlContent reads the <content> element whose start tag, at start, was just read.
func (d *EntryReader) xmlContent(start int64, selfClose bool) error {
	d.e.Offset = start
	d.e.Line = d.in.lineAt(start)
	if err := d.storeAttrs(start, contentAttr); err != nil {
		return err
	}
	t := &d.text
	if t.set&(1<<valID) == 0 {
		return d.xmlErrf(start, "<content> without an id")
	}
	if selfClose {
		return nil
	}
	decision := false
	for {
		if !d.skipSpace() {
			return d.endErr(d.in.offset(0), fmt.Sprintf("inside <content> (line %d, byte %d)", d.e.Line, start))
		}
		if d.in.avail()[0] != '<' {
			return d.xmlErrf(d.in.offset(0), "text in <content> (line %d, byte %d)", d.e.Line, start)
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		switch kind {
		case markEnd:
			return d.endTag("content", d.e.Line, start)
		case markStart:
		default:
			if err := d.misc(kind, "in <content>"); err != nil {
				return err
			}
			continue
		}
		name, sc, at, err := d.tag()
		if err != nil {
			return err
		}
		var list *[]span
		var elem string
		switch string(name) {
		case "decision":
			if decision {
				return d.xmlErrf(at, "a second <decision> in <content> (line %d, byte %d)", d.e.Line, start)
			}
			decision = true
			if err := d.decisionAttrs(at); err != nil {
				return err
			}
			elem = "decision"
		case "url":
			list, elem = &t.urls, "url"
		case "domain":
			list, elem = &t.domains, "domain"
		case "ip":
			list, elem = &t.ips, "ip"
		case "ipv6":
			list, elem = &t.ips, "ipv6"
		case "ipSubnet":
			list, elem = &t.subnets, "ipSubnet"
		case "ipv6Subnet":
			list, elem = &t.subnets, "ipv6Subnet"
		default:
			if err := d.checkAttrs(at); err != nil {
				return err
			}
			if !sc {
				if err := d.skipElement(name, at); err != nil {
					return err
				}
			}
			continue
		}
		if elem != "decision" {
			if err := d.checkAttrs(at); err != nil {
				return err
			}
		}
		if sc {
			continue
		}
		if err := d.xmlValue(elem, at, list); err != nil {
			return err
		}
	}
}

func (d *EntryReader) decisionAttrs(start int64) error {
	return d.storeAttrs(start, decisionAttr)
}

// contentAttr and decisionAttr say which entry value an attribute of <content> or
// <decision> holds, or -1 for those the entry does not keep.
func contentAttr(name []byte) int {
	switch string(name) {
	case "id":
		return valID
	case "includeTime":
		return valIncludeTime
	case "entryType":
		return valEntryType
	case "hash":
		return valHash
	case "blockType":
		return valBlockType
	}
	return -1
}

func decisionAttr(name []byte) int {
	switch string(name) {
	case "date":
		return valDate
	case "number":
		return valNumber
	case "org":
		return valOrg
	}
	return -1
}

// storeAttrs decodes the attributes of the start tag at start, keeping in the entry those
// that value says it holds; the others are decoded too, so that damage in them is found.
func (d *EntryReader) storeAttrs(start int64, value func(name []byte) int) error {
	t := &d.text
	for i := range d.xml.attrs {
		a := &d.xml.attrs[i]
		var err error
		if val := value(a.name); val < 0 {
			d.xml.scratch, err = d.xml.appendAttr(d.xml.scratch[:0], a)
		} else {
			mark := t.mark()
			t.buf, err = d.xml.appendAttr(t.buf, a)
			if s, ok := t.value(mark); ok {
				t.setScalar(val, s)
			}
		}
		if err != nil {
			return d.tokenErrAt(start, err)
		}
	}
	return nil
}

// xmlValue reads the text of the element elem, whose start tag at start was just read, up to
// its end tag, and adds it to list; with no list, the element must hold no text.
func (d *EntryReader) xmlValue(elem string, start int64, list *[]span) error {
	t := &d.text
	mark := t.mark()
	for {
		var ended bool
		var err error
		if t.buf, ended, err = d.charData(t.buf, true); err != nil {
			return err
		} else if ended {
			return d.endErr(d.in.offset(0), fmt.Sprintf("inside <%s> (byte %d) of <content> at line %d", elem, start, d.e.Line))
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		switch kind {
		case markEnd:
			if err := d.endTag(elem, d.e.Line, start); err != nil {
				return err
			}
			s, ok := t.value(mark)
			if !ok {
				return nil
			}
			if list == nil {
				return d.xmlErrf(start, "text in <%s>", elem)
			}
			if elem == "url" {
				v := htmlUnescape(t.buf[s.off : s.off+s.n])
				s.n = uint32(len(v))
				t.buf = t.buf[:int(s.off)+len(v)]
			}
			*list = append(*list, s)
			if len(t.buf) > maxEntry {
				return &Error{Source: d.name, Line: d.e.Line, Index: -1, Err: fmt.Errorf("byte %d: <content> holds more than %d MiB of text", d.e.Offset, maxEntry>>20)}
			}
			return nil
		case markCDATA:
			for {
				b := d.in.avail()
				end := bytes.Index(b[9:], []byte("]]>"))
				if end < 0 {
					if d.in.fill() {
						continue
					}
					return d.tokenErr(errShort, "inside CDATA")
				}
				var bad int
				t.buf, bad = appendText(t.buf, b[9:9+end], d.xml.enc)
				if bad >= 0 {
					return d.xmlErrf(d.in.offset(9+bad), "%s", badText(b[9+bad], d.xml.enc))
				}
				d.in.pos += 9 + end + 3
				break
			}
		case markStart:
			return d.xmlErrf(d.in.offset(0), "an element inside <%s> (byte %d)", elem, start)
		default:
			if err := d.misc(kind, "in <"+elem+">"); err != nil {
				return err
			}
		}
	}
}

// charData reads the character data ahead of the next markup, checking it, and leaves the
// input at its '<'. It appends the text to dst when keep is set; otherwise dst only holds one
// piece at a time. ended reports that the input ended first.
func (d *EntryReader) charData(dst []byte, keep bool) (_ []byte, ended bool, err error) {
	for {
		b := d.in.avail()
		if len(b) > 0 && b[0] == '<' {
			return dst, false, nil
		}
		j := bytes.IndexByte(b, '<')
		if j < 0 {
			if d.in.fill() {
				continue
			}
			return dst, true, nil
		}
		if !keep {
			dst = dst[:0]
		}
		if dst, err = d.xml.appendCharData(dst, b[:j]); err != nil {
			return dst, false, d.tokenErr(err, "")
		}
		d.in.pos += j
	}
}

// An openElement is an element being skipped.
type openElement struct {
	end  int // of its name in xmlState.skipped
	line int
	at   int64
}

// skipElement skips the element whose start tag, at start, was just read, checking that
// what it holds is well-formed.
func (d *EntryReader) skipElement(name []byte, start int64) error {
	x := &d.xml
	x.skipped = append(x.skipped[:0], name...)
	x.open = append(x.open[:0], openElement{end: len(x.skipped), line: d.in.lineAt(start), at: start})
	for len(x.open) > 0 {
		top := x.open[len(x.open)-1]
		from := 0
		if len(x.open) > 1 {
			from = x.open[len(x.open)-2].end
		}
		var ended bool
		var err error
		if x.scratch, ended, err = d.charData(x.scratch, false); err != nil {
			return err
		} else if ended {
			return d.endErr(d.in.offset(0), fmt.Sprintf("inside <%s> (line %d, byte %d)", x.skipped[from:top.end], top.line, top.at))
		}
		kind, ok := d.markup()
		if !ok {
			return d.tokenErr(errShort, "inside markup")
		}
		switch kind {
		case markStart:
			inner, sc, at, err := d.tag()
			if err != nil {
				return err
			}
			if string(inner) == "content" {
				// Entries where the format has none: skipping them would lose them.
				return d.xmlErrf(at, "<content> inside <%s> (line %d, byte %d): a format this reader does not know", x.skipped[:x.open[0].end], x.open[0].line, x.open[0].at)
			}
			if err := d.checkAttrs(at); err != nil {
				return err
			}
			if !sc {
				x.skipped = append(x.skipped, inner...)
				x.open = append(x.open, openElement{end: len(x.skipped), line: d.in.lineAt(at), at: at})
			}
		case markEnd:
			if err := d.endTag(string(x.skipped[from:top.end]), top.line, top.at); err != nil {
				return err
			}
			x.skipped = x.skipped[:from]
			x.open = x.open[:len(x.open)-1]
		case markCDATA:
			if err := d.skipDelimited(9, "]]>", "CDATA"); err != nil {
				return err
			}
		default:
			if err := d.misc(kind, "in <"+string(x.skipped[from:top.end])+">"); err != nil {
				return err
			}
		}
	}
	return nil
}
