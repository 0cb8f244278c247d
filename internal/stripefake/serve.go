package stripefake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Start serves the fake on addr (e.g. "127.0.0.1:0" for a free loopback
// port; "" means that) and returns its base URL ("http://127.0.0.1:PORT")
// and a stop function, and sets f.URL. This is how a separate program
// (a local dev stack) hosts the fake; webhooks go to Options.WebhookURL or
// to the endpoint set later with SetWebhookEndpoint or
// POST /_fake/webhook_endpoint. stop releases held connections, stops
// webhook deliveries and shuts the server down; it is idempotent and waits
// at most 5s for in-flight requests. After stop the Fake no longer holds
// connections for faults nor sends webhooks (see Close). Start is meant to
// be called once per Fake.
func (f *Fake) Start(addr string) (url string, stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("stripefake: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Error("stripefake: serve", "err", err)
		}
	}()
	f.URL = "http://" + ln.Addr().String()
	var once sync.Once
	stop = func() { once.Do(func() { f.shutdown(srv, done) }) }
	return f.URL, stop, nil
}

func (f *Fake) shutdown(srv *http.Server, done <-chan struct{}) {
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	<-done
}
