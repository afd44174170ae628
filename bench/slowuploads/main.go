// Command slowuploads holds many slow uploads open through a Caddy and
// measures what they cost it: the throttle scenario of bench/run.sh.
//
// It is both ends of every upload. As the client, it opens -n HTTP/1.1
// POSTs to -url, each from its own client address (X-Forwarded-For, counted
// up from -xff), with a body that never ends within the run. As the
// application behind Caddy's reverse_proxy, it listens on -upstream and
// counts the body bytes of each upload as they arrive, which is the rate
// that upload gets.
//
// With -pace client the client itself is slow: it sends -rate bytes per
// second in pieces, one every -piece, as a client on a slow link does, and
// Caddy only passes them on (plain Caddy holding slow uploads). With -pace
// server the client sends as fast as TCP lets it, and a throttle in Caddy
// sets the pace (the gateway throttling uploads).
//
// Once every upload is flowing and -settle has passed, it measures two
// windows: a quiet one of -window with nothing else going on, then one while
// the command after "--" runs (wrk, sending other traffic to the same Caddy).
// For each it prints one line:
//
//	SLOW window=quiet seconds=10.00 cpu=0.272 rate=16384 rate_p10=16384 rate_p90=16384 flowing=5000 uploads=5000 failed=0 rss_kib=412345
//
// cpu is the CPU time of process -pid (user and system, from
// /proc/<pid>/stat) per second of the window; rate the mean body bytes per
// second that an upload still open delivered to the upstream in the window,
// with the 10th and 90th percentiles across uploads; flowing the uploads that
// delivered anything in the window; failed those that ended before the run
// did, at either end (a refused connection, an error answered by Caddy, a
// body cut): an overloaded server fails uploads, which is counted, not fatal;
// rss_kib the resident memory of -pid at the window's end.
// The command's output is passed through. Then every connection is reset,
// and the program waits until the upstream has seen every upload end, so
// that the next run starts from an idle Caddy.
//
// Usage:
//
//	slowuploads -url http://127.0.0.1:18032/media/upload -upstream 127.0.0.1:18091 \
//		-n 5000 -rate 16384 -pace server -pid 1234 -- wrk -t1 -c32 -d6s ... http://127.0.0.1:18032
//
// It needs two file descriptors per upload, and Caddy as many.
//
//	slowuploads -report results.tsv
//
// prints the results that bench/run.sh collected as a Markdown table, with
// the ratios of the gateway (side B) to plain Caddy (side A) and the targets.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ), 100 on
// every Linux architecture that matters here.
const userHZ = 100

type config struct {
	target   *url.URL
	upstream string
	n        int
	rate     int64
	pace     string
	piece    time.Duration
	ramp     time.Duration
	settle   time.Duration
	window   time.Duration
	pid      int
	xff      netip.Addr
	sndbuf   int
	command  []string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("slowuploads: ")
	var c config
	rawURL := flag.String("url", "", "URL to POST the uploads to, through Caddy (http only)")
	flag.StringVar(&c.upstream, "upstream", "127.0.0.1:18091", "address to listen on as the application behind reverse_proxy")
	flag.IntVar(&c.n, "n", 5000, "concurrent uploads")
	flag.Int64Var(&c.rate, "rate", 16<<10, "bytes per second the client sends with -pace client, and the rate the results are compared with")
	flag.StringVar(&c.pace, "pace", "server", "client: the client sends -rate in pieces; server: the client sends as fast as it can, a throttle in Caddy sets the pace")
	flag.DurationVar(&c.piece, "piece", time.Second, "with -pace client, how often the client sends a piece of -rate × -piece bytes")
	flag.DurationVar(&c.ramp, "ramp", 5*time.Second, "time over which the uploads are started, evenly")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait after every upload is flowing, before measuring")
	flag.DurationVar(&c.window, "window", 10*time.Second, "length of the quiet window")
	flag.IntVar(&c.pid, "pid", 0, "process whose CPU time and memory are measured (Caddy)")
	xff := flag.String("xff", "95.108.128.1", "client address of the first upload (X-Forwarded-For); the others count up from it")
	flag.IntVar(&c.sndbuf, "sndbuf", 16<<10, "the client's socket send buffer (SO_SNDBUF), so that -pace server does not fill the kernel with data")
	reportPath := flag.String("report", "", "print the results file that bench/run.sh wrote as a Markdown table, and do nothing else")
	flag.Parse()
	c.command = flag.Args()
	if *reportPath != "" {
		if err := writeReport(os.Stdout, *reportPath); err != nil {
			log.Fatal(err)
		}
		return
	}

	var err error
	if c.target, err = url.Parse(*rawURL); err != nil || c.target.Scheme != "http" || c.target.Host == "" {
		log.Fatalf("-url: want an http:// URL, got %q", *rawURL)
	}
	if c.xff, err = netip.ParseAddr(*xff); err != nil || !c.xff.Is4() {
		log.Fatalf("-xff: want an IPv4 address, got %q", *xff)
	}
	switch {
	case c.n <= 0, c.rate <= 0, c.piece <= 0, c.window <= 0, c.pid <= 0:
		log.Fatal("-n, -rate, -piece, -window and -pid must be positive")
	case c.pace != "client" && c.pace != "server":
		log.Fatalf("-pace: want client or server, got %q", c.pace)
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

// upload is what the two ends have seen of one upload.
type upload struct {
	bytes   atomic.Int64 // body bytes the upstream received
	started atomic.Bool  // the upstream has seen the request
	// failed: the upload ended before the run did, at either end (a
	// refused connection, an error answer, a body cut at the upstream).
	failed atomic.Bool
}

// upstream is the application end of one connection from Caddy: it reads
// the request's head, then counts the body's bytes as they come until the
// connection ends. It reads the connection directly, with a large buffer,
// and never answers an upload (whose body does not end): as cheap per byte
// as a server can be, since it shares its processor with wrk.
func upstream(st *state, conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 4<<10)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	id, err := strconv.Atoi(req.Header.Get("X-Upload"))
	if err != nil || id < 0 || id >= len(st.uploads) {
		// Not one of ours: read it, answer, and close.
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		return
	}
	u := &st.uploads[id]
	if !u.started.Swap(true) {
		st.started.Add(1)
	}
	st.active.Add(1)
	defer st.active.Add(-1)
	n, _ := br.Discard(br.Buffered()) // body bytes read along with the head
	u.bytes.Add(int64(n))
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		u.bytes.Add(int64(n))
		if err != nil {
			st.fail(id)
			return
		}
	}
}

// state is what the two ends share.
type state struct {
	uploads                 []upload
	started, active, failed atomic.Int64
	stopping                atomic.Bool // the run is over: ends are not failures
}

// failed marks upload i failed, unless the run is over.
func (s *state) fail(i int) {
	if !s.stopping.Load() && !s.uploads[i].failed.Swap(true) {
		s.failed.Add(1)
	}
}

func run(c config) error {
	st := &state{uploads: make([]upload, c.n)}
	uploads := st.uploads
	ln, err := net.Listen("tcp", c.upstream)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go upstream(st, conn)
		}
	}()
	started, active, failed := &st.started, &st.active, &st.failed

	ctx, stop := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	var logged atomic.Int64
	begin := time.Now()
	for i := range c.n {
		clients.Go(func() {
			at := begin.Add(time.Duration(int64(c.ramp) * int64(i) / int64(c.n)))
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			}
			if err := send(ctx, c, i); err != nil && ctx.Err() == nil {
				st.fail(i)
				if logged.Add(1) <= 5 {
					log.Printf("upload %d: %v", i, err)
				}
			}
		})
	}
	defer func() {
		stop()
		clients.Wait()
	}()

	// Every upload under way: the upstream has seen its request, or it
	// failed. Failures are counted and reported, not fatal: an overloaded
	// server failing some uploads is a result.
	deadline := time.Now().Add(c.ramp + 2*time.Minute)
	for started.Load()+failed.Load() < int64(c.n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d uploads reached the upstream within %v", started.Load(), c.n, c.ramp+2*time.Minute)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Printf("%d uploads flowing after %v, %d failed", started.Load(), time.Since(begin).Round(time.Millisecond), failed.Load())
	time.Sleep(c.settle)

	if err := measure(c, "quiet", uploads, func() error { time.Sleep(c.window); return nil }); err != nil {
		return err
	}
	if len(c.command) > 0 {
		if err := measure(c, "load", uploads, func() error {
			cmd := exec.Command(c.command[0], c.command[1:]...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			return cmd.Run()
		}); err != nil {
			return err
		}
	}

	// Reset every connection, and wait until Caddy has let go of every
	// upload, so that the next run starts from an idle server.
	st.stopping.Store(true)
	stop()
	clients.Wait()
	for deadline := time.Now().Add(time.Minute); active.Load() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d uploads still open at the upstream a minute after the clients reset them", active.Load())
		}
	}
	if n := failed.Load(); n > 0 {
		log.Printf("%d uploads failed before the end of the run", n)
	}
	return nil
}

// send runs upload i until ctx is done, then resets its connection.
func send(ctx context.Context, c config, i int) error {
	conn, err := net.Dial("tcp", c.target.Host)
	if err != nil {
		return err
	}
	tc := conn.(*net.TCPConn)
	_ = tc.SetWriteBuffer(c.sndbuf)
	go func() {
		<-ctx.Done()
		_ = tc.SetLinger(0) // a reset: the server drops what it holds of us at once
		_ = tc.Close()
	}()
	client := addrPlus(c.xff, i)
	// A day of the rate: the body never ends within a run.
	length := c.rate * 86400
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\nX-Upload: %d\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		c.target.RequestURI(), c.target.Host, client, i, length)
	if _, err := io.WriteString(conn, head); err != nil {
		return err
	}
	answered := make(chan string, 1)
	go func() {
		// Only an error can be answered before the body ends: report it,
		// and end the upload.
		if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			answered <- res.Status
			_ = conn.Close()
		}
	}()
	fail := func(err error) error {
		select {
		case status := <-answered:
			return fmt.Errorf("answered %s before the body ended", status)
		default:
			return err
		}
	}

	if c.pace == "server" {
		buf := zeros[:32<<10]
		for {
			if _, err := conn.Write(buf); err != nil {
				return fail(err)
			}
		}
	}
	piece := int(c.rate * int64(c.piece) / int64(time.Second))
	tick := time.NewTicker(c.piece)
	defer tick.Stop()
	for {
		for p := piece; p > 0; p -= len(zeros) {
			if _, err := conn.Write(zeros[:min(p, len(zeros))]); err != nil {
				return fail(err)
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

var zeros [256 << 10]byte

func addrPlus(a netip.Addr, i int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// measure runs during, and prints the SLOW line of the window it took.
func measure(c config, name string, uploads []upload, during func() error) error {
	before := snapshot(uploads)
	cpu0, err := cpuTicks(c.pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := during(); err != nil {
		return fmt.Errorf("%s window: %w", name, err)
	}
	cpu1, err := cpuTicks(c.pid)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	after := snapshot(uploads)
	rss, err := rssKiB(c.pid)
	if err != nil {
		return err
	}

	// The rate of the uploads still open at the end of the window: a
	// failed one delivers nothing and says nothing of the pace.
	var rates []float64
	var sum float64
	flowing, failed := 0, 0
	for i := range uploads {
		if uploads[i].failed.Load() {
			failed++
			continue
		}
		d := after[i] - before[i]
		rates = append(rates, float64(d)/secs)
		sum += float64(d) / secs
		if d > 0 {
			flowing++
		}
	}
	if len(rates) == 0 {
		return fmt.Errorf("%s window: every upload failed", name)
	}
	slices.Sort(rates)
	fmt.Printf("SLOW window=%s seconds=%.2f cpu=%.3f rate=%.0f rate_p10=%.0f rate_p90=%.0f flowing=%d uploads=%d failed=%d rss_kib=%d\n",
		name, secs, float64(cpu1-cpu0)/userHZ/secs, sum/float64(len(rates)),
		rates[len(rates)/10], rates[len(rates)*9/10], flowing, len(uploads), failed, rss)
	return nil
}

func snapshot(uploads []upload) []int64 {
	s := make([]int64, len(uploads))
	for i := range uploads {
		s[i] = uploads[i].bytes.Load()
	}
	return s
}

// cpuTicks returns the user and system CPU time of process pid, all its
// threads, in USER_HZ ticks.
func cpuTicks(pid int) (int64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted here start after its closing parenthesis, with field 3.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// rssKiB returns the resident memory of process pid.
func rssKiB(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}
