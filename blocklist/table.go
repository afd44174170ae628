package blocklist

import (
	"math/bits"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// The register's lookup structures are flat slices of integers, which hold no pointers:
// however many orders a register has, the garbage collector never looks inside them, and a
// gateway holding a million orders marks no more than one holding none. Strings stay in the
// arenas, and the tables refer to them by entry.

// keyTable maps the target values of one kind of order (post ids that are not numbers,
// accounts, exact paths) to the first entry of their chain. It is an open-addressing table
// with linear probing, at most half full: each slot holds 32 bits of the key's hash, to
// skip other keys without reading their values, and the entry plus one (0 is an empty
// slot).
type keyTable struct {
	slots []uint64
	shift uint8 // 64 - log2(len(slots))
}

// newKeyTable sizes a table for n keys, made in mem.
func newKeyTable(mem *offheap.Pool, n int) keyTable {
	if n == 0 {
		return keyTable{}
	}
	size := 8
	for size < 2*n {
		size *= 2
	}
	return keyTable{slots: offheap.MakeIn[uint64](mem, size), shift: uint8(64 - bits.TrailingZeros(uint(size)))}
}

func (t *keyTable) empty() bool { return len(t.slots) == 0 }

// insert adds entry i under its value; an entry already there with the same value is
// chained behind it, so that the last loaded comes first.
func (t *keyTable) insert(r *Register, i uint32) {
	v := r.val(&r.entries[i])
	h := hashKey(r.seed, v)
	fp := uint64(uint32(h)) << 32
	mask := uint64(len(t.slots) - 1)
	for j := h >> t.shift; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == 0 {
			t.slots[j] = fp | uint64(i+1)
			return
		}
		if s&^0xffffffff == fp {
			if head := uint32(s) - 1; r.val(&r.entries[head]) == v {
				r.entries[i].next = head
				t.slots[j] = fp | uint64(i+1)
				return
			}
		}
	}
}

// get returns the head of the chain for key.
func (t *keyTable) get(r *Register, key string) (uint32, bool) {
	if len(t.slots) == 0 {
		return noEntry, false
	}
	h := hashKey(r.seed, key)
	fp := uint64(uint32(h)) << 32
	mask := uint64(len(t.slots) - 1)
	for j := h >> t.shift; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == 0 {
			return noEntry, false
		}
		if s&^0xffffffff == fp {
			if head := uint32(s) - 1; r.val(&r.entries[head]) == key {
				return head, true
			}
		}
	}
}

// hashKey hashes a key of the register's tables, seeded per register: the multiply-and-fold
// mixing of wyhash, inlined, which for the short keys that requests look up costs a third
// of hash/maphash's calls. Clients only look keys up: however they pick them, a lookup
// probes no further than the longest run of the register's own keys in the table.
func hashKey(seed uint64, s string) uint64 {
	const k1, k2, k3 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	h := seed ^ uint64(len(s))*k1
	for len(s) > 16 {
		h = mix(le64(s)^k2, le64(s[8:])^h)
		s = s[16:]
	}
	var a, b uint64
	switch n := len(s); {
	case n > 8:
		a, b = le64(s), le64(s[n-8:])
	case n >= 4:
		a, b = uint64(le32(s)), uint64(le32(s[n-4:]))
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return mix(k3^uint64(len(s)), mix(a^k2, b^h))
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// keyString views a key read from a request, which may be a byte slice on the stack, as a
// string to hash and compare, without copying it. The result must not outlive s: it is only
// used within a lookup. (A slice starts with the same two words as a string.)
func keyString[T text](s T) string { return *(*string)(unsafe.Pointer(&s)) }

// trieNode is one node of the radix tree of path prefixes, stored flat: the children of a
// node are consecutive, from first. The edge label from the parent is a substring of an
// entry's value, referred to in the value arena.
type trieNode struct {
	label  uint32 // arena reference of the edge label
	n      uint16 // label length
	kids   uint16 // number of children
	head   uint32 // orders whose prefix ends here, or noEntry
	first  uint32 // index of the first child
	label0 byte   // the label's first byte, to pick a child without reading the arena
}

// trieBuild is a node of the tree while it is built; flatten turns it into trieNodes.
type trieBuild struct {
	label string // edge from the parent
	ref   uint32 // label's arena reference
	head  uint32
	kids  []*trieBuild
}

// insert adds entry i under key, whose arena reference is ref, splitting edges as needed.
// Labels are substrings of the register's values, so the tree adds no bytes of its own for
// them.
func (n *trieBuild) insert(key string, ref uint32, i uint32, entries []entry) {
	for {
		if key == "" {
			entries[i].next = n.head
			n.head = i
			return
		}
		ci := -1
		for j, c := range n.kids {
			if c.label[0] == key[0] {
				ci = j
				break
			}
		}
		if ci < 0 {
			n.kids = append(n.kids, &trieBuild{label: key, ref: ref, head: i})
			return
		}
		c := n.kids[ci]
		l := 0
		for l < len(c.label) && l < len(key) && c.label[l] == key[l] {
			l++
		}
		if l < len(c.label) {
			split := &trieBuild{label: c.label[:l], ref: c.ref, head: noEntry, kids: []*trieBuild{c}}
			c.label, c.ref = c.label[l:], c.ref+uint32(l)
			n.kids[ci] = split
			c = split
		}
		n, key, ref = c, key[l:], ref+uint32(l)
	}
}

// flatten lays the tree out breadth first, each node's children together.
func (n *trieBuild) flatten() []trieNode {
	nodes := []trieNode{{head: n.head}}
	queue := []*trieBuild{n}
	for p := 0; p < len(queue); p++ {
		b := queue[p]
		nodes[p].first, nodes[p].kids = uint32(len(nodes)), uint16(len(b.kids))
		for _, c := range b.kids {
			nodes = append(nodes, trieNode{label: c.ref, n: uint16(len(c.label)), head: c.head, label0: c.label[0]})
			queue = append(queue, c)
		}
	}
	return nodes
}
