package offheap

import "syscall"

// releasePages gives the pages of mem back to the system; the mapping stays, and reads as
// zeros if touched again.
func releasePages(mem []byte) error { return syscall.Madvise(mem, syscall.MADV_DONTNEED) }
