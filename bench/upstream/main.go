// Command upstream is the application that bench/run.sh puts behind
// reverse_proxy: it reads and discards any request body, then answers "ok".
// It does as little as a server can, so that the benchmark measures the
// proxy in front of it.
//
// Usage:
//
//	upstream -addr 127.0.0.1:18090
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "address to listen on (keep it on loopback)")
	flag.Parse()

	ok := []byte("ok")
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(ok)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Printf("upstream: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
