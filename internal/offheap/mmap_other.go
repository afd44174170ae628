//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package offheap

import "errors"

func mapAnon(int) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmap([]byte) error { return errors.ErrUnsupported }
