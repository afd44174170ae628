package geo

import (
	"errors"
	"fmt"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Schema is the shape of the records in a database: where in a record the
// country code is kept.
type Schema int

const (
	// SchemaUnknown is the zero Schema; Open rejects such databases.
	SchemaUnknown Schema = iota
	// SchemaGeoIP2 is the MaxMind GeoIP2/GeoLite2 shape, also used by DB-IP:
	// country.iso_code, falling back to registered_country.iso_code.
	SchemaGeoIP2
	// SchemaIPLocationDB is the ip-location-db (and IPinfo) shape: a
	// top-level country_code.
	SchemaIPLocationDB
)

// String returns the name used for the schema in logs.
func (s Schema) String() string {
	switch s {
	case SchemaGeoIP2:
		return "maxmind"
	case SchemaIPLocationDB:
		return "ip-location-db"
	default:
		return "unknown"
	}
}

// maxMapEntries bounds how many entries of one map a lookup inspects. The
// database is configuration, not attacker input, but it is not verified in
// full at Open (Reader.Verify rejects ip-location-db files for their empty
// description), so a damaged file must not turn a lookup into a long walk.
// Real records have about a dozen top-level keys.
const maxMapEntries = 64

// probeRecords is how many networks Open inspects to recognise the schema.
// The first networks of every known database carry a country; a file with
// none in its first few hundred is not a country database.
const probeRecords = 256

// detectSchema recognises the record shape by reading records rather than by
// trusting the metadata's database_type: names are free-form (the embedded
// database says "country ipvAll"), and a GeoLite2-ASN file has a MaxMind name
// but no country at all.
func detectSchema(reader *maxminddb.Reader, data *mmdbdata.Decoder) (Schema, error) {
	seen := 0
	for res := range reader.Networks() {
		if err := res.Err(); err != nil {
			return SchemaUnknown, fmt.Errorf("reading networks: %w", err)
		}
		if s := classify(data.CursorAt(uint(res.Offset()))); s != SchemaUnknown {
			return s, nil
		}
		seen++
		if seen == probeRecords {
			break
		}
	}
	if seen == 0 {
		return SchemaUnknown, errors.New("unrecognized database: it has no records")
	}
	return SchemaUnknown, fmt.Errorf(
		"unrecognized database type %q: none of its first %d records has country.iso_code, registered_country.iso_code or country_code",
		reader.Metadata.DatabaseType, seen)
}

// classify returns the schema whose country field rec carries, if any.
func classify(rec mmdbdata.Cursor) Schema {
	m, err := rec.Map()
	if err != nil {
		return SchemaUnknown
	}
	var next mmdbdata.Cursor
	for range maxMapEntries {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "country", "registered_country":
			if isoCode(val) != "" {
				return SchemaGeoIP2
			}
		case "country_code":
			if stringCode(val) != "" {
				return SchemaIPLocationDB
			}
		}
		if next, err = val.Skip(); err != nil {
			break
		}
	}
	return SchemaUnknown
}

// geoIP2Country reads a GeoIP2-shaped record in one pass: country.iso_code
// if present, else registered_country.iso_code. The fallback matters for
// networks MaxMind cannot place (anycast, satellite): the country a block is
// registered to is still the best answer a legal order can be applied to.
func geoIP2Country(rec mmdbdata.Cursor) string {
	m, err := rec.Map()
	if err != nil {
		return ""
	}
	var registered string
	var next mmdbdata.Cursor
	for range maxMapEntries {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "country":
			if code := isoCode(val); code != "" {
				return code
			}
		case "registered_country":
			registered = isoCode(val)
		}
		if next, err = val.Skip(); err != nil {
			break
		}
	}
	return registered
}

// topLevelCode reads an ip-location-db record's country_code.
func topLevelCode(rec mmdbdata.Cursor) string {
	return mapCode(rec, "country_code")
}

// isoCode reads the iso_code of a GeoIP2 country or registered_country map.
func isoCode(country mmdbdata.Cursor) string {
	return mapCode(country, "iso_code")
}

// mapCode returns the code stored under key in the map at c.
func mapCode(c mmdbdata.Cursor, key string) string {
	m, err := c.Map()
	if err != nil {
		return ""
	}
	var next mmdbdata.Cursor
	for range maxMapEntries {
		k, val, ok := m.Next(next)
		if !ok {
			break
		}
		if string(k) == key {
			return stringCode(val)
		}
		if next, err = val.Skip(); err != nil {
			break
		}
	}
	return ""
}

// stringCode returns the country code held by the string value at c.
func stringCode(c mmdbdata.Cursor) string {
	if kind, err := c.Kind(); err != nil || kind != mmdbdata.KindString {
		return ""
	}
	// ReadMapKey, not ReadString: a map key and a string value have the same
	// encoding (a string, or a pointer to one), and ReadMapKey hands back the
	// bytes in place where ReadString would allocate a new string.
	b, _, err := c.ReadMapKey()
	if err != nil {
		return ""
	}
	return internCode(b)
}
