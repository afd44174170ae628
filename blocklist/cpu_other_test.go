//go:build !unix

package blocklist

import (
	"testing"
	"time"
)

// processCPU is not measured here; BenchmarkLoad reports cpu-s/op as 0.
func processCPU(*testing.B) time.Duration { return 0 }
