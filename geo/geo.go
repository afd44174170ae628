package geo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"

	"github.com/georestrict/caddy-georestrict/geo/defaultdb"
)

// DefaultAttribution credits the embedded database, as its CC BY 4.0 licence
// requires; log it when OpenDefault is used.
const DefaultAttribution = defaultdb.Attribution

// Info describes an opened database, for logs and metrics.
type Info struct {
	// Name is the file path, or "embedded:geo-whois-asn-country" for the
	// embedded database.
	Name string
	// Embedded is true for the database returned by OpenDefault.
	Embedded bool
	// DatabaseType is the database_type from the file's metadata, as written
	// by its producer (e.g. "GeoLite2-Country").
	DatabaseType string
	// BuildTime is when the producer built the file, from its metadata.
	BuildTime time.Time
	// Schema is the record shape detected at Open.
	Schema Schema
}

// Database is one opened, immutable generation of a country database. It is
// safe for concurrent use. It holds nothing but memory, so there is nothing to
// close: a lookup that races a reload finishes on the old generation, which
// the garbage collector frees once no one uses it.
type Database struct {
	reader *maxminddb.Reader
	// data decodes the data section directly. Reader.Decode would need the
	// destination behind an interface, which moves it to the heap on every
	// lookup; a cursor over the same bytes reads the code in place.
	data   *mmdbdata.Decoder
	schema Schema
	ipv4   bool // an IPv4-only file: IPv6 lookups would only build an error
	// v4 answers IPv4 lookups; nil when the tree could not be compiled,
	// and IPv4 lookups walk the tree as IPv6 ones do.
	v4   *ipv4Table
	info Info
}

// Open reads the database file at path into memory.
//
// The file is read rather than memory-mapped: a mapped file that is rewritten
// in place (cp over it, a half-finished download) crashes the process with
// SIGBUS, and a mapping closed under an in-flight lookup faults it. Country
// databases are tens of megabytes, which memory can afford.
func Open(path string) (*Database, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path already leads our message; keep only the cause.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("opening geoip database %s: %w", path, err)
	}
	return OpenBytes(path, data)
}

// OpenBytes opens a database held in memory; name identifies it in errors and
// Info. The Database keeps data, which must not be modified afterwards.
//
// Opening reads the whole IPv4 part of the search tree and the records it
// leads to, to compile the table that Country answers IPv4 addresses from:
// time and memory in proportion to the file (BENCHMARKS.md has figures).
func OpenBytes(name string, data []byte) (*Database, error) {
	db, err := open(data)
	if err != nil {
		return nil, fmt.Errorf("opening geoip database %s: %w", name, err)
	}
	db.info.Name = name
	return db, nil
}

// OpenDefault opens the database embedded in the binary; see DefaultAttribution.
func OpenDefault() (*Database, error) {
	db, err := OpenBytes("embedded:"+defaultdb.Name, defaultdb.MMDB())
	if err != nil {
		return nil, err
	}
	db.info.Embedded = true
	return db, nil
}

func open(data []byte) (*Database, error) {
	if len(data) == 0 {
		return nil, errors.New("file is empty")
	}
	if bytes.LastIndex(data, metadataStartMarker) < 0 {
		// Say it plainly: the usual cause is pointing at the wrong file
		// (a .tar.gz as downloaded, a CSV edition, an HTML error page).
		return nil, errors.New("not a MaxMind DB file: no metadata section")
	}
	reader, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, err
	}
	tree, section, err := sections(data, reader.Metadata)
	if err != nil {
		return nil, err
	}
	db := &Database{
		reader: reader,
		data:   mmdbdata.NewDecoder(section, 0),
		ipv4:   reader.Metadata.IPVersion == 4,
		info: Info{
			DatabaseType: reader.Metadata.DatabaseType,
			BuildTime:    reader.Metadata.BuildTime().UTC(),
		},
	}
	if db.schema, err = detectSchema(reader, db.data); err != nil {
		return nil, err
	}
	db.info.Schema = db.schema
	db.v4 = buildIPv4Table(tree, reader.Metadata, uint(len(section)), db.recordCountry)
	return db, nil
}

// metadataStartMarker precedes the metadata at the end of every MaxMind DB file.
var metadataStartMarker = []byte("\xAB\xCD\xEFMaxMind.com")

// sections locates the search tree and the data section as the MaxMind DB
// spec lays them out: the tree first, then a 16-byte separator, then the data
// section, then the metadata. The offsets that Reader.Lookup returns are
// relative to the data section's start.
func sections(data []byte, md maxminddb.Metadata) (tree, section []byte, err error) {
	end := bytes.LastIndex(data, metadataStartMarker)
	treeSize := md.NodeCount * (md.RecordSize / 4)
	start := treeSize + 16
	if end < 0 || start > uint(end) {
		return nil, nil, errors.New("invalid MaxMind DB file: no data section")
	}
	return data[:treeSize], data[start:end], nil
}

// Country returns the upper-case ISO 3166-1 alpha-2 code of the country ip is
// located in, or "" when that is unknown: the database has no country for it,
// or ip is not a public address (private, loopback, link-local, multicast,
// unspecified, carrier-grade NAT, documentation, benchmarking or invalid), in
// which case the database is not consulted. IPv4-mapped IPv6 addresses are
// looked up as IPv4 and zones are ignored. Country does not allocate.
func (db *Database) Country(ip netip.Addr) string {
	ip = normalize(ip)
	if !isPublic(ip) {
		return ""
	}
	if ip.Is4() && db.v4 != nil {
		return db.v4.country(ip.As4())
	}
	return db.treeCountry(ip)
}

// treeCountry looks a normalized public address up by walking the search
// tree.
func (db *Database) treeCountry(ip netip.Addr) string {
	if db.ipv4 && ip.Is6() {
		return ""
	}
	res := db.reader.Lookup(ip)
	if !res.Found() {
		return ""
	}
	return db.recordCountry(uint(res.Offset()))
}

// recordCountry returns the code in the record at offset in the data section.
func (db *Database) recordCountry(offset uint) string {
	rec := db.data.CursorAt(offset)
	if db.schema == SchemaGeoIP2 {
		return geoIP2Country(rec)
	}
	return topLevelCode(rec)
}

// Info describes the database.
func (db *Database) Info() Info {
	return db.info
}
