package blocklist

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// Reading a URL list: UTF-8, one URL a line, what a legal team pastes from a regulator's
// letter. A line whose first character other than blank space is '#' is a comment: a
// comment cannot follow a URL on its line, since '#' starts a URL's fragment.

func (d *EntryReader) urlsHeader() error {
	d.in.ensure(256)
	if isUTF16(string(d.in.avail()[:min(d.in.end-d.in.pos, 256)])) {
		return &Error{Source: d.name, Index: -1, Err: errUTF16}
	}
	if d.in.err != nil {
		return d.ioErr()
	}
	if bytes.HasPrefix(d.in.avail(), []byte(bom)) {
		d.in.pos += len(bom)
	}
	return nil
}

func (d *EntryReader) urlsNext() error {
	for {
		b := d.in.avail()
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			if d.in.fill() {
				continue
			}
			if d.in.err != nil {
				return d.ioErr()
			}
			if len(b) == 0 {
				return io.EOF
			}
			nl = len(b)
		}
		start := d.in.offset(0)
		line := b[:nl]
		d.in.pos += min(nl+1, len(b))
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if !utf8.Valid(line) {
			return &Error{Source: d.name, Line: d.in.lineAt(start), Index: -1, Err: errNotUTF8}
		}
		if hasControl(line) {
			return &Error{Source: d.name, Line: d.in.lineAt(start), Index: -1, Err: errControl}
		}
		t := &d.text
		mark := t.mark()
		t.buf = append(t.buf, line...)
		t.urls = append(t.urls, span{uint32(mark), uint32(len(line))})
		d.e.Line = d.in.lineAt(start)
		d.e.Offset = start
		return nil
	}
}
