// Package testmmdb builds small MaxMind DB (.mmdb) files for tests.
//
// It uses github.com/maxmind/mmdbwriter, MaxMind's own writer, so the files
// have exactly the binary format that real GeoIP2, DB-IP and ip-location-db
// databases have, in whichever record shape a test needs.
package testmmdb

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Shape is the record layout a database is built with.
type Shape int

const (
	// GeoIP2 records carry country.iso_code and registered_country.iso_code,
	// like MaxMind GeoIP2/GeoLite2 and DB-IP.
	GeoIP2 Shape = iota
	// RegisteredOnly records carry only registered_country.iso_code, as
	// GeoIP2 records do for networks MaxMind cannot place in a country.
	RegisteredOnly
	// IPLocationDB records carry a top-level country_code, like
	// ip-location-db and IPinfo.
	IPLocationDB
	// Unrecognized records carry no country in any known place (a city
	// name under "location"), for testing that such databases are rejected.
	Unrecognized
)

// BuildTime is the build time written into every database, so that builds
// are reproducible.
var BuildTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// String returns the shape's name, for subtest names.
func (s Shape) String() string {
	switch s {
	case GeoIP2:
		return "GeoIP2"
	case RegisteredOnly:
		return "RegisteredOnly"
	case IPLocationDB:
		return "IPLocationDB"
	case Unrecognized:
		return "Unrecognized"
	default:
		return fmt.Sprintf("Shape(%d)", int(s))
	}
}

// Build returns an .mmdb whose networks (CIDR -> ISO code) map to countries in
// the given record shape. Codes are written as given, unvalidated, so tests can
// store malformed ones. Networks are inserted from the widest to the narrowest,
// so a narrower network overrides the part of a wider one it covers. Reserved
// ranges (10.0.0.0/8, ...) are allowed, so tests can check they are ignored.
func Build(shape Shape, networks map[string]string) ([]byte, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            shape.databaseType(),
		Description:             map[string]string{"en": "georestrict test database"},
		BuildEpoch:              BuildTime.Unix(),
		IPVersion:               6, // IPv4 networks live in the IPv4 subtree
		RecordSize:              24,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating tree: %w", err)
	}

	type entry struct {
		prefix netip.Prefix
		code   string
	}
	entries := make([]entry, 0, len(networks))
	for cidr, code := range networks {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", cidr, err)
		}
		entries = append(entries, entry{prefix.Masked(), code})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(
			cmp.Compare(a.prefix.Bits(), b.prefix.Bits()),
			a.prefix.Addr().Compare(b.prefix.Addr()),
		)
	})

	for _, e := range entries {
		record, err := shape.record(e.code)
		if err != nil {
			return nil, err
		}
		ipnet := &net.IPNet{
			IP:   e.prefix.Addr().AsSlice(),
			Mask: net.CIDRMask(e.prefix.Bits(), e.prefix.Addr().BitLen()),
		}
		if err := tree.Insert(ipnet, record); err != nil {
			return nil, fmt.Errorf("inserting %s: %w", e.prefix, err)
		}
	}

	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing database: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile builds and writes the database into dir and returns its path; it
// fails the test on error.
func WriteFile(tb testing.TB, dir string, shape Shape, networks map[string]string) string {
	tb.Helper()
	data, err := Build(shape, networks)
	if err != nil {
		tb.Fatalf("building %s test database: %v", shape, err)
	}
	// A fresh name per call, so one test can write several databases.
	f, err := os.CreateTemp(dir, shape.String()+"-*.mmdb")
	if err != nil {
		tb.Fatalf("writing test database: %v", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("writing test database: %v", err)
	}
	return f.Name()
}

func (s Shape) databaseType() string {
	switch s {
	case GeoIP2, RegisteredOnly:
		return "GeoLite2-Country"
	case IPLocationDB:
		return "ipinfo-style"
	default:
		return "test-city"
	}
}

func (s Shape) record(code string) (mmdbtype.Map, error) {
	// The GeoIP2 shapes carry the neighbours real records have, so readers
	// are tested skipping over them.
	country := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(1),
		"iso_code":   mmdbtype.String(code),
		"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + code)},
	}
	continent := mmdbtype.Map{
		"code":       mmdbtype.String("EU"),
		"geoname_id": mmdbtype.Uint32(6255148),
	}
	switch s {
	case GeoIP2:
		return mmdbtype.Map{
			"continent":          continent,
			"country":            country,
			"registered_country": country,
		}, nil
	case RegisteredOnly:
		return mmdbtype.Map{
			"continent":          continent,
			"registered_country": country,
		}, nil
	case IPLocationDB:
		return mmdbtype.Map{"country_code": mmdbtype.String(code)}, nil
	case Unrecognized:
		return mmdbtype.Map{
			"location": mmdbtype.Map{"city": mmdbtype.String("City in " + code)},
		}, nil
	default:
		return nil, fmt.Errorf("unknown shape %d", int(s))
	}
}
