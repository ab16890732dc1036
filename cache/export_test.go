package cache

// FillUnsynced writes e's file as Put does, but without syncing anything:
// for the benchmarks that fill a directory with a million entries, where
// durability does not matter and fsync would take most of an hour.
func (s *DirStore) FillUnsynced(e *Entry) error { return s.writeFile(e, false) }
