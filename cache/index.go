package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// node is an entry in memory: a private copy of the caller's Entry, the link
// of its bucket's chain and its "used" bit, 80 bytes in all. The Entry never
// changes once the node is published; replacing an entry publishes a new
// node in the old one's place.
type node struct {
	e    Entry
	next atomic.Pointer[node]
	used atomic.Uint32 // set by readers, cleared by eviction (second chance)
}

// markUsed sets n's used bit. It writes only when the bit is clear, so that
// readers of a hot entry on several cores share its cache line instead of
// fighting over it.
func (n *node) markUsed() {
	if n.used.Load() == 0 {
		n.used.Store(1)
	}
}

// index maps domains to nodes for lock-free readers: a fixed array of
// buckets, each a singly linked chain of nodes, every link an atomic
// pointer. Writers hold the Cache's mutex; readers take no lock and write
// nothing but a node's used bit, and only when it is clear.
//
// Why it is safe: a node is fully built before an atomic store publishes
// it; links only ever point forward along a chain (insertion at the head,
// replacement and removal by swinging the predecessor's link past the node),
// and a removed node keeps its own link, so a reader standing on it still
// reaches the rest of the chain. Readers may see an entry removed a moment
// ago, never a torn one, and never loop.
//
// The array is sized once, from the Cache's capacity, so it never has to be
// rehashed under readers: at capacity the chains average one node.
type index struct {
	seed    maphash.Seed
	buckets []atomic.Pointer[node]
	mask    uint64
}

// Bounds of the bucket array: 8 MiB of buckets at most, so that a very large
// capacity costs memory only as it fills (chains then grow beyond one).
const (
	minBuckets = 64
	maxBuckets = 1 << 20
)

func newIndex(capacity int) index {
	n := minBuckets
	for n < capacity && n < maxBuckets {
		n <<= 1
	}
	return index{
		seed:    maphash.MakeSeed(),
		buckets: make([]atomic.Pointer[node], n),
		mask:    uint64(n - 1),
	}
}

func (x *index) hash(domain string) uint64 { return maphash.String(x.seed, domain) }

func (x *index) bucket(domain string) uint32 { return uint32(x.hash(domain) & x.mask) }

// find returns the node of domain in bucket b, or nil. It takes no lock.
func (x *index) find(b uint32, domain string) *node {
	for n := x.buckets[b].Load(); n != nil; n = n.next.Load() {
		if n.e.domain == domain {
			return n
		}
	}
	return nil
}

// put publishes n in bucket b, in place of the node of the same domain if
// there is one, which it returns. The caller holds the writers' lock.
func (x *index) put(b uint32, n *node) (old *node) {
	head := &x.buckets[b]
	for link := head; ; {
		cur := link.Load()
		if cur == nil {
			break
		}
		if cur.e.domain == n.e.domain {
			n.next.Store(cur.next.Load())
			link.Store(n)
			return cur
		}
		link = &cur.next
	}
	n.next.Store(head.Load())
	head.Store(n)
	return nil
}

// remove unlinks n from bucket b, reporting whether it was linked and
// whether the bucket is now empty. The caller holds the writers' lock.
func (x *index) remove(b uint32, n *node) (removed, empty bool) {
	head := &x.buckets[b]
	for link := head; ; {
		cur := link.Load()
		if cur == nil {
			return false, head.Load() == nil
		}
		if cur == n {
			link.Store(cur.next.Load())
			return true, head.Load() == nil
		}
		link = &cur.next
	}
}

// evict unlinks the nodes of bucket b that were not used since they were
// last considered, or all of them if force is set, and clears the used bits
// of the others. It returns how many nodes it removed and how many remain.
// The caller holds the writers' lock.
func (x *index) evict(b uint32, force bool) (removed, kept int) {
	for link := &x.buckets[b]; ; {
		cur := link.Load()
		if cur == nil {
			return removed, kept
		}
		if !force && cur.used.Swap(0) != 0 {
			kept++
			link = &cur.next
			continue
		}
		link.Store(cur.next.Load())
		removed++
	}
}

// clear unlinks every node. The caller holds the writers' lock.
func (x *index) clear() {
	for i := range x.buckets {
		x.buckets[i].Store(nil)
	}
}

// all calls f for each node and its bucket until f returns false, without a
// lock.
func (x *index) all(f func(uint32, *node) bool) {
	for i := range x.buckets {
		for n := x.buckets[i].Load(); n != nil; n = n.next.Load() {
			if !f(uint32(i), n) {
				return
			}
		}
	}
}
