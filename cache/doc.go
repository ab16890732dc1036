// Package cache keeps MTA-STS policies (RFC 8461) between deliveries: an
// in-memory, count-bounded [Cache] in front of an optional persistent or
// shared [Store].
//
// The package knows entries and times, nothing of DNS or HTTP: the resolver
// decides what to fetch and when, and puts what it learnt. An [Entry] holds
// one policy domain's policy (mode none included), the id of the TXT record
// that announced it, when it was fetched and expires (fetched + max_age),
// when its TXT record was last checked, and the last failed fetch, which a
// resolver needs for its per-(domain, id) backoff. A negative entry
// ([NoPolicy]) remembers for a while that a domain has no usable policy.
// Entries are immutable; updating one means putting a new one.
//
// # Expiry
//
// The cache keeps no clock: methods that need the time take it, so that the
// resolver's clock (coarse, or fake in tests) drives every decision. An
// entry is usable strictly before its expiry, to the second. [Cache.Get]
// and [Cache.Load] never return an expired entry (RFC 8461 section 3.3: an
// expired policy must not be applied); [Cache.Peek] and [Cache.All] show
// them. A policy with max_age 0 is used once and never kept.
//
// # Stores
//
// [MemoryStore] is a map, for tests. [DirStore], the default persistent
// store, writes one file per domain atomically and durably, and skips and
// reports a torn or damaged file instead of failing. cache/redisstore shares
// entries among a fleet of MTAs through Redis. All of them write the
// versioned, checksummed encoding of [Entry.MarshalBinary].
//
// A store's failure never loses what is in memory: [Cache] methods update
// memory first and return or report a [*StoreError], so that a resolver
// can go on serving from memory and report the trouble.
//
// # Writes off the caller's path, and a start that does not wait
//
// A Cache made by [New] writes to its store before Put returns. One made
// by [Open], as the resolver's is, returns once memory holds the entry:
// a bounded write-behind queue keeps one pending write per domain (a newer
// write takes the older one's place), and a goroutine commits the writes
// in groups, through [BatchStore.PutMany] where the store has it: a
// DirStore syncs the files of a group concurrently and its directory once,
// the Redis store sends one pipeline. When the queue is full its oldest
// write is dropped (memory keeps the entry) and reported with
// [ErrQueueFull]; [Cache.WriteStats] counts everything. [Cache.Close]
// commits what is pending.
//
// What a crash (kill -9, power loss) can lose is what was not committed:
// at most Options.QueueSize pending writes (4 096 by default) and the group
// being committed (256), and in time, the writes of the last moments: a
// write waits only for the groups ahead of it, a few to a few hundred
// milliseconds when the store keeps up (docs/BENCHMARKS.md has the
// measurements). A committed write is never lost, and no write is ever
// read torn. A lost write costs one refetch after the restart.
//
// With Options.Warm, Open loads the stored entries into memory in the
// background ([Cache.Warming] tells how far); until then, [Cache.Load]
// answers a miss from the store for that one domain, so that a restart
// neither waits for a million entries nor refetches one of them, and never
// applies an expired one.
//
// # Performance
//
// [Cache.Get] is the hot path of every delivery: it takes no lock, writes no
// shared memory in the common case and allocates nothing. Readers walk a
// fixed array of hash buckets through atomic pointers; writers serialise on
// a mutex. golang-lru keeps the eviction order, but readers never touch it:
// they set a per-entry "used" bit, and eviction gives entries whose bit is
// set a second chance (CLOCK). On a 2-core machine a hit costs about 10 ns,
// and two cores reading one hot entry do twice the work of one.
//
// An entry costs about 150 bytes of memory besides its policy and strings: a
// million entries of three-mx policies fit in 380 MB of heap, everything
// counted (TestMemoryMillion measures it).
package cache
