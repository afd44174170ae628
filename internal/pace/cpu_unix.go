//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package pace

import (
	"syscall"
	"time"
)

// processTime returns the CPU time the process has used.
func processTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
