package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is a register format that an [EntryReader] reads: the regulator's own registers as
// they are published, and plain URL lists. The names are those of the configuration.
type Format string

const (
	// FormatRKNXML is Roskomnadzor's dump.xml: windows-1251 XML, a <reg:register> of
	// <content> entries.
	FormatRKNXML Format = "rkn-xml"
	// FormatRKNCSV is the dump.csv of the public mirror of that register: windows-1251, an
	// "Updated: <time>" line, then ip;domain;url;org;number;date rows.
	FormatRKNCSV Format = "rkn-csv"
	// FormatURLs is a UTF-8 list of URLs, one a line; blank lines and lines that start
	// with "#" are ignored.
	FormatURLs Format = "urls"
)

// DetectFormat tells a regulator's register from the first bytes of a file (512 are
// plenty): after an optional UTF-8 byte order mark and blank space, an XML declaration or a
// <reg:register> element is [FormatRKNXML], and "Updated:" is [FormatRKNCSV]. Anything else
// is "": a register in one of the other formats, or one that no format reads. A URL list
// has no mark of its own and is never detected.
func DetectFormat(head []byte) Format {
	head = bytes.TrimPrefix(head, []byte(bom))
	if bytes.HasPrefix(head, []byte("Updated:")) {
		return FormatRKNCSV
	}
	head = bytes.TrimLeft(head, " \t\r\n")
	if bytes.HasPrefix(head, []byte("<?xml")) || bytes.HasPrefix(head, []byte("<reg:register")) {
		return FormatRKNXML
	}
	return ""
}

// Header is what a register says about itself, so that a loader can tell which version of
// it is in force. Its strings are the register's own, decoded to UTF-8, and safe to keep.
type Header struct {
	Format Format
	// UpdateTime is when the register was published: the updateTime attribute of
	// <reg:register>, or what follows "Updated:" in a CSV dump; "" for a URL list.
	UpdateTime string
	// UpdateTimeUrgently is <reg:register>'s updateTimeUrgently: when its urgent entries
	// last changed.
	UpdateTimeUrgently string
	// FormatVersion is <reg:register>'s formatVersion, such as "2.4".
	FormatVersion string
}

// BlockType says what an entry blocks.
type BlockType string

const (
	// BlockURL entries block their URLs; their domains are only the URLs' hosts. In
	// dump.xml their blockType is "default" or absent.
	BlockURL BlockType = ""
	// BlockDomain entries block every URL of their domains.
	BlockDomain BlockType = "domain"
	// BlockDomainMask entries block every host under their domains, written "*.example".
	BlockDomainMask BlockType = "domain-mask"
	// BlockIP entries block their addresses and subnets.
	BlockIP BlockType = "ip"
)

// Decision is the decision an entry rests on, as the register gives it: the date, the
// number and the authority, any of which may be empty.
type Decision struct {
	Date   string
	Number string
	Org    string
}

// Entry is one entry of a register: in dump.xml a <content> element, in dump.csv a row, in a
// URL list a line. Text is decoded to UTF-8 and trimmed of blank space, and empty values
// are left out.
//
// An Entry and everything in it, its strings too, belong to the [EntryReader] and are valid
// only until its next call to Next, which reuses their memory: reading allocates nothing per
// entry. A string kept by mistake reads as NUL bytes after that call (the reader clears the
// text of the entry before), and as other entries' text later; a slice kept holds the next
// entry's values. [Entry.Clone] makes a copy to keep.
type Entry struct {
	// ID is the register's id of the entry (the id attribute of <content>); "" in a CSV
	// dump and a URL list, which have none.
	ID string
	// IncludeTime is when the entry was added to the register (includeTime, Moscow time
	// without a zone, as published); "" in a CSV dump and a URL list.
	IncludeTime string
	// EntryType is the register's entryType (the kind of decision) and Hash its hash of
	// the entry; "" outside dump.xml.
	EntryType, Hash string
	// BlockType is what the entry blocks. In dump.xml it is the blockType attribute as
	// published, "default" read as BlockURL; a value this reader does not know is passed
	// on as it is. A CSV row has none, and gets the one its fields imply: BlockURL with
	// URLs, BlockDomainMask for a "*." domain and BlockDomain for others without URLs,
	// BlockIP with addresses only.
	BlockType BlockType
	Decision  Decision
	// URLs are as the regulator meant them: HTML character references that the register
	// publishes in URLs ("&amp;", "&#8203;") are decoded, since the published text is
	// HTML-escaped (see [EntryReader]).
	URLs []string
	// Domains are host names, or "*.example" masks, as published.
	Domains []string
	// IPs are IPv4 and IPv6 addresses, Subnets IPv4 and IPv6 prefixes, as published.
	IPs, Subnets []string
	// Line is the line the entry starts on (1-based) and Offset its byte offset in the file.
	Line   int
	Offset int64
}

// Clone returns a deep copy of e that stays valid after the reader moves on.
func (e *Entry) Clone() *Entry {
	c := &Entry{
		ID:          strings.Clone(e.ID),
		IncludeTime: strings.Clone(e.IncludeTime),
		EntryType:   strings.Clone(e.EntryType),
		Hash:        strings.Clone(e.Hash),
		BlockType:   BlockType(strings.Clone(string(e.BlockType))),
		Decision: Decision{
			Date:   strings.Clone(e.Decision.Date),
			Number: strings.Clone(e.Decision.Number),
			Org:    strings.Clone(e.Decision.Org),
		},
		URLs:    cloneStrings(e.URLs),
		Domains: cloneStrings(e.Domains),
		IPs:     cloneStrings(e.IPs),
		Subnets: cloneStrings(e.Subnets),
		Line:    e.Line,
		Offset:  e.Offset,
	}
	return c
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := make([]string, len(s))
	for i, v := range s {
		c[i] = strings.Clone(v)
	}
	return c
}

// EntryReader reads the entries of a register, one at a time, from a stream: memory stays
// bounded by the largest entry, not by the size of the register, and reading allocates
// nothing per entry. As the rest of a load does, Next yields the processor every 100 µs or
// so, so that a gateway reading a large register keeps serving requests.
//
// Entries are handed out as they are read, before the rest of the file is known to be
// sound. Structural damage (XML that is not well-formed, a file cut short, bytes that are not
// text in the file's encoding, a CSV row with the wrong number of fields) is an [*Error]
// with the line (and, for XML, the byte offset in its message), returned by Next, which then
// keeps returning it. A caller that must apply all of a register or none of it keeps what it
// needs and applies it only once Next has returned io.EOF.
//
// # dump.xml
//
// The reader is a strict scanner of this one format, not a general XML parser: it checks
// that what it reads is well-formed (balanced tags, quoted and unique attributes, the
// predefined entities and character references only, CDATA and comments closed, characters
// that XML allows), refuses a DOCTYPE, and decodes windows-1251, or UTF-8 when the XML
// declaration names no encoding or names UTF-8. The root must be <register> (in any
// namespace prefix, "reg:" in practice), with <content> elements in it. Elements that it
// does not know, in the register or in a <content>, are checked and skipped, so that a new
// version of the format does not stop a loader; so are attributes that it does not know.
// But a <content> inside an element it does not know, or a register with no <content> but
// such elements, is a format it does not know: it is damage, since skipping would lose
// entries. So is a <content> without an id, with two <decision> elements, or with markup or
// text where only a value belongs.
//
// # dump.csv
//
// Every row after the "Updated:" line has six fields separated by ";"; a field that holds a
// ";" or a '"' is quoted, with '"' doubled inside, as RFC 4180 has it. A field may hold
// several values joined by "|", usually with a space on either side. Addresses and domains
// never hold a "|", so there every "|" separates; URLs can (a published URL has
// "utm_campaign=RF_|_Magnity" in its query), so there a "|" separates only where another
// URL, with its scheme ("https://"), follows it: splitting a URL anywhere else would make a
// shorter URL of it, which could withhold more than was ordered. Blank lines are skipped. The
// file is windows-1251, or UTF-8 when it starts with a byte order mark. The end of the file
// cannot be told from a cut between two rows: only a cut inside a row is found.
//
// # HTML in URLs
//
// The register publishes URLs HTML-escaped, as its operators' web forms stored them: the
// same row says "?a=1&amp;b=2" in dump.xml (inside CDATA, so literally) and in dump.csv, and a
// URL ends in "&#8203;", an escaped zero-width space pasted with it. The URL meant, and the
// one a browser requests, is the unescaped one, so in URLs (only) the reader decodes
// character references: "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&nbsp;", and "&#N;"
// or "&#xH;" for characters other than controls. Anything else that looks like one stays as
// it is: "&s;" in "?t=1&s;x" is not an entity, and "?amp&amp" has no ";". A URL list is the
// legal team's own text and is read literally.
type EntryReader struct {
	name   string
	format Format
	in     input

	header    Header
	headerErr error
	started   bool
	err       error // sticky: the first error, io.EOF at the end

	e    Entry
	text entryText
	pace pacer
	xml  xmlState
	csv  csvState
}

// NewEntryReader returns a reader of r in format f; name is what errors call the file.
func NewEntryReader(name string, r io.Reader, f Format) (*EntryReader, error) {
	switch f {
	case FormatRKNXML, FormatRKNCSV, FormatURLs:
	default:
		return nil, fmt.Errorf("register %s: format %q cannot be read entry by entry", name, f)
	}
	return &EntryReader{name: name, format: f, in: input{r: r, line: 1}}, nil
}

// Header reads the register's header, if Next has not yet, and returns it.
func (d *EntryReader) Header() (Header, error) {
	if !d.started {
		d.started = true
		d.header.Format = d.format
		switch d.format {
		case FormatRKNXML:
			d.headerErr = d.xmlHeader()
		case FormatRKNCSV:
			d.headerErr = d.csvHeader()
		case FormatURLs:
			d.headerErr = d.urlsHeader()
		}
		if d.headerErr != nil {
			d.err = d.headerErr
		}
	}
	return d.header, d.headerErr
}

// Next returns the next entry, valid until the next call (see [Entry]); at the end of the
// register it returns io.EOF, and after damage an [*Error].
func (d *EntryReader) Next() (*Entry, error) {
	if !d.started {
		d.Header()
	}
	if d.err != nil {
		return nil, d.err
	}
	d.text.reset()
	d.e = Entry{
		URLs: d.e.URLs[:0], Domains: d.e.Domains[:0], IPs: d.e.IPs[:0], Subnets: d.e.Subnets[:0],
	}
	var err error
	switch d.format {
	case FormatRKNXML:
		err = d.xmlNext()
	case FormatRKNCSV:
		err = d.csvNext()
	case FormatURLs:
		err = d.urlsNext()
	}
	if err != nil {
		d.err = err
		return nil, err
	}
	d.pace.step()
	d.text.fill(&d.e)
	return &d.e, nil
}

// errorAt returns the error for the problem at byte offset off.
func (d *EntryReader) errorAt(off int64, field string, err error) error {
	return &Error{Source: d.name, Line: d.in.lineAt(off), Index: -1, Field: field, Err: err}
}

var (
	errTruncated = errors.New("the file is truncated")
	errEncoding  = errors.New("bad encoding")
	errTooLong   = fmt.Errorf("a tag, value or row longer than %d MiB, which no register has", maxToken>>20)
)

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}

var errControl = errors.New("a control character")
