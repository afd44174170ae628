package caddymodule

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Some integration tests run real programs beside Caddy: an app behind it (Flask), a shared
// cache in front of it (nginx). They come from Debian's packages; .ci/run installs them.

// requireAllEnv, when set (CI sets it), turns a missing program from a skip into a failure:
// the tests that need one must run in CI.
const requireAllEnv = "GEORESTRICT_TEST_REQUIRE_ALL"

// requireProgram returns the first of paths that runs with args (a check that it is the
// program the test needs, with what it needs), or skips the test when none does and
// GEORESTRICT_TEST_REQUIRE_ALL is unset. A path without a slash is looked up in PATH.
func requireProgram(t *testing.T, paths []string, args ...string) string {
	t.Helper()
	var errs []string
	for _, p := range paths {
		path, err := exec.LookPath(p)
		if err == nil {
			if out, runErr := exec.Command(path, args...).CombinedOutput(); runErr != nil {
				err = fmt.Errorf("%v: %s", runErr, bytes.TrimSpace(out))
			}
		}
		if err == nil {
			return path
		}
		errs = append(errs, err.Error())
	}
	msg := fmt.Sprintf("%s %s does not run here (%s); .ci/run installs what the tests need",
		paths[0], strings.Join(args, " "), strings.Join(errs, "; "))
	if os.Getenv(requireAllEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, requireAllEnv)
	}
	t.Skipf("%s; set %s to make this a failure", msg, requireAllEnv)
	return ""
}

// freeLoopbackAddr returns a loopback TCP address that was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProgram runs a program as a child of the test until the test ends, and waits until
// it accepts connections on addr. logs returns what it wrote, and more (such as a log file
// of its own), for failure messages.
func startProgram(t *testing.T, addr string, logs func() string, path string, args ...string) *syncBuffer {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	all := func() string {
		s := out.String()
		if logs != nil {
			s += logs()
		}
		return s
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s", path, err, all())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return &out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v\n%s", path, addr, err, all())
		}
	}
}

// syncBuffer is a bytes.Buffer that a child's output and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
