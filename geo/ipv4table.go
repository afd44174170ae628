package geo

import (
	"encoding/binary"
	"slices"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

// ipv4Table answers IPv4 lookups from a table compiled at Open, instead of
// walking the search tree. The walk reads up to 32 nodes spread over
// megabytes, and with a new client address on every request most of the
// lower ones miss the CPU caches; the table reads one word for a /16 that has
// one answer throughout, and one word and a cache line or two of runs for the
// others. Its bulk holds no pointers, so the garbage collector never scans
// it.
//
// It answers exactly what the tree walk does for every IPv4 address: it is
// built by walking the same tree the same way (from the same IPv4 start node,
// with the same treatment of empty, invalid and out-of-range records), and
// reading each record with the same code as the walk does.
type ipv4Table struct {
	// runs holds, for each /16 with more than one answer, a count n followed
	// by n words start<<16|code: the low 16 bits of the address where the
	// run starts, and its answer. They are sorted, the first starts at 0.
	// It comes first: the garbage collector scans an object up to its last
	// pointer, and this is the only one.
	runs []uint32
	// buckets has one word per /16, indexed by the address's top 16 bits:
	// uniformBucket|code when the whole /16 has one answer, else the offset
	// in runs of the /16's runs.
	buckets [1 << 16]uint32
}

// uniformBucket marks a bucket that holds an answer rather than an offset.
const uniformBucket = 1 << 31

// A tableCode is an answer in the table: 1 + the iso3166 index of the code,
// or 0 for "unknown".
func tableCode(code string) uint16 {
	return uint16(iso3166.Index(code) + 1)
}

func codeString(c uint16) string {
	return iso3166.Code(int(c) - 1)
}

// country returns the code for the IPv4 address a.
func (t *ipv4Table) country(a [4]byte) string {
	v := binary.BigEndian.Uint32(a[:])
	b := t.buckets[uint16(v>>16)]
	if b&uniformBucket != 0 {
		return codeString(uint16(b))
	}
	n := t.runs[b]
	runs := t.runs[b+1 : b+1+n]
	// The last run that starts at or before v: runs[0] starts at 0, so
	// search the rest for the first that starts after v.
	key := v<<16 | 0xffff
	lo, hi := 1, len(runs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if runs[m] <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return codeString(uint16(runs[lo-1]))
}

// firstOther returns the first address in [first, last] whose answer is not
// code, and its answer; found is false when the whole range answers code.
func (t *ipv4Table) firstOther(first, last uint32, code uint16) (at uint32, other uint16, found bool) {
	for h := first >> 16; ; h++ {
		lo, hi := max(first, h<<16), min(last, h<<16|0xffff)
		b := t.buckets[h]
		if b&uniformBucket != 0 {
			if c := uint16(b); c != code {
				return lo, c, true
			}
		} else {
			n := t.runs[b]
			runs := t.runs[b+1 : b+1+n]
			// From the run that holds lo (as in country) to the last that
			// starts at or before hi.
			i, _ := slices.BinarySearch(runs[1:], lo<<16|0xffff)
			for _, r := range runs[i:] {
				start := h<<16 | r>>16
				if start > hi {
					break
				}
				if c := uint16(r); c != code {
					return max(start, lo), c, true
				}
			}
		}
		if h == last>>16 {
			return 0, 0, false
		}
	}
}

// size is the memory the table holds, in bytes.
func (t *ipv4Table) size() int {
	return 4*len(t.buckets) + 4*cap(t.runs)
}

// buildIPv4Table compiles the IPv4 part of the search tree. tree is the
// search tree section, dataSize the size of the data section, and code reads
// the answer of the record at a data section offset. It returns nil when the
// tree cannot be compiled: a record size the reader does not know (every
// lookup then fails, which the tree walk reports as "unknown"), or a damaged
// tree whose walk visits more nodes than the tree has, which only one that
// reaches some node more than once can. A sound tree has each node below one
// parent; a damaged file whose records point back up the tree can describe
// billions of networks, and a table of them would take as long to build.
// Such a file answers IPv4 lookups from the tree, and Check refuses it.
// Visiting each node at most once bounds the time and memory of a build by
// the size of the file, whatever it holds.
func buildIPv4Table(tree []byte, md maxminddb.Metadata, dataSize uint, code func(offset uint) string) *ipv4Table {
	read := nodeReader(md.RecordSize)
	if read == nil {
		return nil
	}
	nodeCount := md.NodeCount

	// The node where IPv4 addresses start, found the way the reader finds
	// it: ::/96 in an IPv6 tree, the root otherwise.
	start := uint(0)
	if md.IPVersion == 6 {
		for i := 0; i < 96 && start < nodeCount; i++ {
			start, _ = read(tree, start)
		}
	}

	// answer returns the table code of a leaf, as Reader.Lookup and
	// Database.Country resolve it. Country databases have a few hundred
	// distinct records, shared by many networks; city databases have
	// millions. A small direct-mapped cache of codes by record offset
	// serves the first without the cost of a map of the second.
	var memo [1 << 12]struct {
		off  uint // 1 + the record's offset; 0 for an empty slot
		code uint16
	}
	answer := func(node uint) uint16 {
		if node <= nodeCount {
			// An empty record, or a tree node where the walk ran out of bits:
			// not found, or "invalid node in search tree".
			return 0
		}
		if node < nodeCount+16 {
			return 0 // a pointer into the separator: the tree is corrupt
		}
		off := node - nodeCount - 16
		if off >= dataSize {
			return 0 // past the data section: the tree is corrupt
		}
		slot := &memo[uint64(off)*0x9e3779b97f4a7c15>>52]
		if slot.off != off+1 {
			slot.off, slot.code = off+1, tableCode(code(off))
		}
		return slot.code
	}

	// Walk the tree depth first, left before right, so that leaves come in
	// address order, and keep where the answer changes.
	var starts []uint32
	var codes []uint16
	type frame struct {
		node  uint
		depth uint
		addr  uint32
	}
	stack := make([]frame, 1, 34)
	stack[0] = frame{node: start}
	visited := 0
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.node < nodeCount && f.depth < 32 {
			visited++
			if visited > int(nodeCount) {
				return nil
			}
			left, right := read(tree, f.node)
			stack = append(stack,
				frame{right, f.depth + 1, f.addr | 1<<(31-f.depth)},
				frame{left, f.depth + 1, f.addr})
			continue
		}
		c := answer(f.node)
		if len(codes) > 0 && codes[len(codes)-1] == c {
			continue
		}
		starts = append(starts, f.addr)
		codes = append(codes, c)
	}
	return newIPv4Table(starts, codes)
}

// newIPv4Table builds the table from the runs of the whole IPv4 space: run i
// starts at starts[i] (starts[0] is 0) and has the answer codes[i].
func newIPv4Table(starts []uint32, codes []uint16) *ipv4Table {
	t := new(ipv4Table)
	// Each /16 with more than one answer takes a count, the run it starts
	// in, and the runs that start inside it.
	runs := make([]uint32, 0, len(starts)+2*min(len(starts), 1<<16))
	i := 0 // the run that covers the current /16's first address
	for h := range uint32(1 << 16) {
		for i+1 < len(starts) && starts[i+1] <= h<<16 {
			i++
		}
		j := i + 1 // past the runs that start inside this /16
		for j < len(starts) && starts[j]>>16 == h {
			j++
		}
		if j == i+1 {
			t.buckets[h] = uniformBucket | uint32(codes[i])
			continue
		}
		t.buckets[h] = uint32(len(runs))
		runs = append(runs, uint32(j-i), uint32(codes[i]))
		for k := i + 1; k < j; k++ {
			runs = append(runs, starts[k]<<16|uint32(codes[k]))
		}
		i = j - 1
	}
	t.runs = append(make([]uint32, 0, len(runs)), runs...)
	return t
}

// nodeReader returns a function that reads the two records of a node for
// the record size, or nil for a size the MaxMind DB format does not have.
// The layouts are those of the MaxMind DB spec and of the reader.
func nodeReader(recordSize uint) func(tree []byte, node uint) (left, right uint) {
	switch recordSize {
	case 24:
		return func(tree []byte, node uint) (uint, uint) {
			b := tree[node*6 : node*6+6]
			return uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
				uint(b[3])<<16 | uint(b[4])<<8 | uint(b[5])
		}
	case 28:
		return func(tree []byte, node uint) (uint, uint) {
			b := tree[node*7 : node*7+7]
			return uint(b[3]&0xf0)<<20 | uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
				uint(b[3]&0x0f)<<24 | uint(b[4])<<16 | uint(b[5])<<8 | uint(b[6])
		}
	case 32:
		return func(tree []byte, node uint) (uint, uint) {
			b := tree[node*8 : node*8+8]
			return uint(binary.BigEndian.Uint32(b[0:4])), uint(binary.BigEndian.Uint32(b[4:8]))
		}
	}
	return nil
}
