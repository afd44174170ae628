package blocklist

import (
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
)

// readWithStdlib is the reference: encoding/csv, strict, any number of fields.
func readWithStdlib(data string) (records [][]string, lines [][]int, failed bool) {
	cr := csv.NewReader(strings.NewReader(data))
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return records, lines, false
		}
		if err != nil {
			return records, lines, true
		}
		var l []int
		for i := range rec {
			line, _ := cr.FieldPos(i)
			l = append(l, line)
		}
		records, lines = append(records, rec), append(lines, l)
	}
}

func readWithOurs(data string) (records [][]string, lines [][]int, failed bool) {
	r := newCSVReader(data, ',', 1)
	for {
		ok, err := r.next()
		if err != nil {
			return records, lines, true
		}
		if !ok {
			return records, lines, false
		}
		records, lines = append(records, slices.Clone(r.fields)), append(lines, slices.Clone(r.lines))
	}
}

var csvReaderSeeds = []string{
	"a,b,c\n1,2,3\n",
	"a,b\r\n\r\n\n1,2\r\n",
	"\"a,b\",\"c\"\"d\",\"e\nf\",\"g\r\nh\"\n",
	"a,\"b\"x\n",
	"a,b\"c\n",
	"\"unclosed\n\nx,y\n",
	"a,b\r",
	"\"a\"\r",
	"\r",
	"a\rb,c\n",
	",,\n,\n",
	" \"a\",b\n",
	"\"\"\n\"\"\"\"\n",
}

func TestCSVReader(t *testing.T) {
	for _, s := range csvReaderSeeds {
		t.Run(s, func(t *testing.T) { sameAsStdlib(t, s) })
	}
}

func sameAsStdlib(t *testing.T, data string) {
	wantRec, wantLines, wantFail := readWithStdlib(data)
	gotRec, gotLines, gotFail := readWithOurs(data)
	if wantFail != gotFail {
		t.Fatalf("%q: stdlib failed %v, ours %v", data, wantFail, gotFail)
	}
	if !slices.EqualFunc(wantRec, gotRec, slices.Equal) {
		t.Fatalf("%q: records\n%q, stdlib\n%q", data, gotRec, wantRec)
	}
	if !slices.EqualFunc(wantLines, gotLines, slices.Equal) {
		t.Fatalf("%q: lines %v, stdlib %v", data, gotLines, wantLines)
	}
}

// FuzzCSVReader checks the hand-written reader against encoding/csv.
func FuzzCSVReader(f *testing.F) {
	for _, s := range csvReaderSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if strings.ContainsRune(data, 0xFFFD) || !utf8Valid(data) {
			// encoding/csv decodes runes and reports invalid UTF-8 differently in positions;
			// registers must be UTF-8 anyway.
			return
		}
		sameAsStdlib(t, data)
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
