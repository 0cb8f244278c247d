// Command sqs-local runs the local SQS-compatible server (package sqs of
// this module) so that the AWS SDKs and the AWS CLI can use queues without
// AWS:
//
//	sqs-local [-addr 127.0.0.1:9324] [-database-url postgres://...]
//	aws --endpoint-url http://127.0.0.1:9324 sqs create-queue --queue-name orders
//
// The database is -database-url, else $DATABASE_URL, else a throwaway
// PostgreSQL cluster started for this run (its data is deleted on exit).
// The server's own migrations (schema localaws, see localaws.Migrate) are
// applied at start; nothing else in the database is touched. The endpoint
// URL is printed on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkout-dev/checkout/localaws"
	"github.com/checkout-dev/checkout/localaws/pgtest"
	"github.com/checkout-dev/checkout/localaws/sqs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sqs-local:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9324", "listen address")
	dsn := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (default $DATABASE_URL, else a throwaway cluster)")
	region := flag.String("region", "us-east-1", "region used in queue ARNs")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *dsn == "" {
		pg, err := pgtest.Start(ctx, pgtest.Options{})
		if err != nil {
			return fmt.Errorf("start throwaway PostgreSQL: %w", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				log.Error("stop PostgreSQL", "err", err)
			}
		}()
		*dsn = pg.DSN("postgres")
		log.Info("started throwaway PostgreSQL", "port", pg.Port())
	}
	if err := localaws.Migrate(ctx, *dsn); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return fmt.Errorf("open pool: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping PostgreSQL: %w", err)
	}

	srv := sqs.New(pool, sqs.Options{Region: *region, Logger: log})
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("SQS endpoint: http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Close() // ends pending long polls so Shutdown does not wait for them
	return hs.Shutdown(shutCtx)
}
