package blocklist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Regulators' registers become orders here: an EntryReader reads them, and what concerns the
// site (Options.Hosts) becomes rows that the builder validates like any other, except that a
// row that cannot become an order is skipped and reported, not an error: the platform cannot
// correct the regulator's file.

// Reasons why an entry of a regulator's register did not become an order; they are the keys
// of RegisterStats.Unenforced.
const (
	// UnenforcedOtherHost counts URLs and domains of other sites: nearly all of a national
	// register.
	UnenforcedOtherHost = "other host"
	// UnenforcedNetwork counts entries that block IP addresses and subnets: networks
	// enforce them, not a site.
	UnenforcedNetwork = "network"
	// UnenforcedWholeSite counts entries that block a whole domain that is one of the
	// site's hosts, without Source.WholeSite.
	UnenforcedWholeSite = "whole site"
	// UnenforcedInvalid counts entries for the site that cannot become orders (a URL that
	// no pattern or rule can express, a search in a query); each is in RegisterStats.Skipped.
	UnenforcedInvalid = "cannot be an order"
)

// A Skip is an entry of a regulator's register that concerns the site but did not become an
// order, and why.
type Skip struct {
	Source string
	Line   int
	ID     string
	Reason string
}

// maxSkips bounds the skips kept for RegisterStats; all are counted.
const maxSkips = 20

// moscow is the time zone of the Russian register's includeTime, published without one.
var moscow = time.FixedZone("MSK", 3*60*60)

// parseEntries reads a regulator's register, or a URL list, into the builder.
func (b *builder) parseEntries(src Source, r io.Reader, f Format) error {
	file, err := b.addFile(src.Name)
	if err != nil {
		return err
	}
	countries := strings.Join(src.Countries, " ")
	if countries == "" && f != FormatURLs {
		countries = "RU"
	}
	if countries == "" {
		b.fileError(file, 0, errors.New("a URL list says nothing of where its orders apply: give the source its countries"))
		return nil
	}
	if src.Notice != "" {
		if err := checkNotice(fillNotice(src.Notice, "0", "0", "2000-01-01")); err != nil {
			b.fileError(file, 0, fmt.Errorf("notice template: %w", err))
			return nil
		}
	}
	er, err := NewEntryReader(src.Name, r, f)
	if err != nil {
		return err
	}
	er.pace = pacer{ctx: b.ctx}
	hdr, err := er.Header()
	if err != nil {
		b.errs.add(err)
		return nil
	}
	b.headers = append(b.headers, hdr)
	entries := len(b.entries)
	b.lenient = true
	defer func() { b.lenient = false }()
	for {
		e, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.errs.add(err)
			return nil
		}
		b.addRegulatorEntry(file, src, f, countries, e)
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if f == FormatURLs && len(b.entries) == entries && !src.AllowEmpty {
		b.fileError(file, 0, noOrders(false, 0))
	}
	return nil
}

// addRegulatorEntry turns the parts of one entry that concern the site into orders, one per
// URL (or one for the whole site), all with the entry's id.
func (b *builder) addRegulatorEntry(file uint16, src Source, f Format, countries string, e *Entry) {
	// Nearly every entry of a national register is about other sites: tell those apart
	// before anything is built for an order.
	switch e.BlockType {
	case BlockURL:
		ours := len(e.URLs) == 0 // reported below
		for _, u := range e.URLs {
			if b.hosts == nil || b.hosts[urlHost(u)] {
				ours = true
			} else {
				b.unenforced[UnenforcedOtherHost]++
			}
		}
		if !ours {
			return
		}
	case BlockDomain, BlockDomainMask:
		covered := false
		for _, d := range e.Domains {
			covered = covered || b.coversHost(d, e.BlockType == BlockDomainMask)
		}
		if !covered {
			b.unenforced[UnenforcedOtherHost]++
			return
		}
	case BlockIP:
		b.unenforced[UnenforcedNetwork]++
		return
	}
	id := regulatorID(f, e)
	r := row{start: e.Line, index: -1}
	r.val[fieldID] = id
	r.val[fieldCountries] = countries
	r.val[fieldAuthority] = e.Decision.Org
	if r.val[fieldAuthority] == "" {
		r.val[fieldAuthority] = src.Authority
	}
	r.val[fieldReference] = strings.TrimSuffix(strings.Join([]string{e.Decision.Number, e.Decision.Date}, ", "), ", ")
	r.val[fieldReference] = strings.TrimPrefix(r.val[fieldReference], ", ")
	if src.Notice != "" {
		r.val[fieldNotice] = fillNotice(src.Notice, e.ID, e.Decision.Number, e.Decision.Date)
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", e.IncludeTime, moscow); err == nil {
		r.val[fieldStart] = t.Format(time.RFC3339)
	}
	for f := range r.line {
		r.line[f] = e.Line
	}

	b.group, b.groupHashed, b.groupTargets = id, false, b.groupTargets[:0]
	defer func() { b.group = "" }()
	switch e.BlockType {
	case BlockURL:
		for _, u := range e.URLs {
			if b.hosts == nil || b.hosts[urlHost(u)] {
				r.val[fieldTarget] = u
				b.addRow(file, &r)
			}
		}
		if len(e.URLs) == 0 {
			b.skip(UnenforcedInvalid, src.Name, e.Line, id, "a URL entry without URLs")
		}
	case BlockDomain, BlockDomainMask:
		if !src.WholeSite {
			b.skip(UnenforcedWholeSite, src.Name, e.Line, id, "blocks the whole site ("+strings.Join(e.Domains, ", ")+"); whole_site enforces such entries")
			return
		}
		r.val[fieldTarget] = "path:/*"
		b.addRow(file, &r)
	default:
		b.skip(UnenforcedInvalid, src.Name, e.Line, id, fmt.Sprintf("unknown block type %q", e.BlockType))
	}
}

// coversHost reports whether a register's domain (or "*.domain" mask) covers one of the
// site's hosts; with no hosts configured, none is covered: a whole-site order needs to know
// which site is meant.
func (b *builder) coversHost(domain string, mask bool) bool {
	d := strings.TrimPrefix(domain, "*.")
	mask = mask || d != domain
	d = normalizeURLHost(d)
	for h := range b.hosts {
		if h == d || mask && strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// regulatorID is an order's id: the regulator's own for dump.xml, and for formats without
// ids one derived from the entry's content, stable when the file is published again with
// other rows added or removed.
func regulatorID(f Format, e *Entry) string {
	switch {
	case f == FormatRKNXML && e.ID != "":
		return "rkn-" + e.ID
	case f == FormatURLs:
		return "url-" + contentHash(e.URLs...)
	}
	parts := append([]string{e.Decision.Org, e.Decision.Number, e.Decision.Date}, e.URLs...)
	parts = append(parts, e.Domains...)
	return "rkn-" + contentHash(parts...)
}

func contentHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fillNotice fills a notice URL template's placeholders, escaped for a URL path.
func fillNotice(tmpl, id, number, date string) string {
	return strings.NewReplacer("{id}", url.PathEscape(id), "{number}", url.PathEscape(number), "{date}", url.PathEscape(date)).Replace(tmpl)
}

// skip records an entry for the site that did not become an order, and why.
func (b *builder) skip(category, source string, line int, id, reason string) {
	b.unenforced[category]++
	if len(b.skips) < maxSkips {
		b.skips = append(b.skips, Skip{source, line, strings.Clone(id), reason})
	}
}
