package geo

// codes holds every two-letter code "AA".."ZZ", indexed by (first-'A')*26 +
// (second-'A'). Country returns strings from this table so that a lookup never
// has to build a string from database bytes, which would allocate on every
// request.
var codes = func() (t [26 * 26]string) {
	var b [2 * 26 * 26]byte
	for i := range t {
		b[2*i] = 'A' + byte(i/26)
		b[2*i+1] = 'A' + byte(i%26)
	}
	// One backing string for all codes: the table costs one allocation at
	// start-up and the entries are substrings of it.
	all := string(b[:])
	for i := range t {
		t[i] = all[2*i : 2*i+2]
	}
	return t
}()

// internCode returns the canonical upper-case code for b, or "" if b is not
// exactly two ASCII letters. Databases are not trusted to be tidy: lower-case
// codes are accepted, anything else (names, numbers, "" or "--") is unknown.
func internCode(b []byte) string {
	if len(b) != 2 {
		return ""
	}
	x, y := letterIndex(b[0]), letterIndex(b[1])
	if x < 0 || y < 0 {
		return ""
	}
	return codes[x*26+y]
}

// letterIndex maps 'A'..'Z' and 'a'..'z' to 0..25 and anything else to -1.
func letterIndex(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c - 'a')
	}
	return -1
}
