// Command ferretdb-launcher runs an embedded FerretDB (SQLite backend) on a free
// loopback port, prints its MongoDB URI on the first line of stdout, and runs
// until SIGINT, SIGTERM, or (with -parent-watch) its stdin closes, so a test
// runner that dies cannot leave an orphan server behind.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	dataDir := flag.String("data", "", "directory for the SQLite files, kept after exit (default: a temporary directory, removed on exit)")
	parentWatch := flag.Bool("parent-watch", false, "exit when stdin is closed")
	flag.Parse()

	if err := run(*dataDir, *parentWatch); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-launcher:", err)
		os.Exit(1)
	}
}

func run(dataDir string, parentWatch bool) error {
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "presence-ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}

	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if parentWatch {
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			stop()
		}()
	}

	fmt.Println(f.MongoDBURI())

	return f.Run(ctx)
}
