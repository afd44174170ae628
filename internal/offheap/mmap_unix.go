//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package offheap

import "syscall"

func mapAnon(size int) ([]byte, error) {
	return syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func unmap(mem []byte) error { return syscall.Munmap(mem) }
