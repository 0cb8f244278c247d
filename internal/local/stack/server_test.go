package stack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServerCutsASlowBody: a client sending its body one byte at a time is
// cut by the read timeout instead of holding a connection (and a handler)
// for ever.
func TestServerCutsASlowBody(t *testing.T) {
	t.Parallel()
	def := newServer(http.NotFoundHandler())
	if def.ReadTimeout <= 0 || def.ReadTimeout > time.Minute || def.ReadHeaderTimeout <= 0 || def.WriteTimeout <= 0 ||
		def.IdleTimeout <= 0 || def.MaxHeaderBytes <= 0 {
		t.Fatalf("server limits %+v; want every timeout and the header cap set", def)
	}
	readErr := make(chan error, 1)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}))
	srv.ReadTimeout = 300 * time.Millisecond // the default, shortened
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	for i := 0; i < 30; i++ {
		if _, err := conn.Write([]byte("{")); err != nil {
			break // the server hung up: what we want
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the handler read the whole trickled body; want it cut")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow body was never cut")
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("cut after %v; want about the read timeout", took)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = bufio.NewReader(conn).ReadString('\n') // whatever the server answered; the connection ends
}
