//go:build !linux

package offheap

import "errors"

// releasePages is only done on Linux (syscall has no madvise elsewhere): a Region is then
// unmapped in one piece.
func releasePages([]byte) error { return errors.ErrUnsupported }
