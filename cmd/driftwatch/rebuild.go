package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/counters"
	"github.com/driftwatch/driftwatch/projections/drifts"
	"github.com/driftwatch/driftwatch/projections/tokens"
)

const rebuildUsage = `usage: driftwatch rebuild [--data-dir DIR] [--eventstore URL]

With driftwatch stopped, replays the event store from position 0 into fresh read models and
puts them in place of <data-dir>/projections.db. Exit code 1 when it failed.
`

// rebuildCommand is `driftwatch rebuild`: with driftwatch stopped, it replays the event store
// from position 0 into fresh read models and puts them in place of <data-dir>/projections.db
// (the file serve keeps them in). The old file stays until the new one is complete. A read
// model added or changed by an upgrade needs no rebuild (it backfills by itself on start);
// this is for a file an operator no longer trusts.
func rebuildCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	dataDir := fs.String("data-dir", env("DRIFTWATCH_DATA_DIR", "./driftwatch-data"), "data directory whose read models to rebuild ($DRIFTWATCH_DATA_DIR)")
	esURL := fs.String("eventstore", env("DRIFTWATCH_EVENTSTORE_URL", ""), "EventStoreDB connection string (esdb://...); empty: the embedded store in the data directory")
	if _, code, ok := parseCLI(fs, rebuildUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	log := zap.NewNop()
	store, err := openStore(config{DataDir: *dataDir, EventStoreURL: *esURL}, log)
	if err != nil {
		return failure(stderr, "rebuild", exitFailed, fmt.Errorf("open the event store: %w", err))
	}
	defer store.Close()
	path := filepath.Join(*dataDir, "projections.db")
	if err := notInUse(path); err != nil {
		return failure(stderr, "rebuild", exitFailed, err)
	}
	cfg := projections.Config{Path: path}
	err = projections.Rebuild(ctx, cfg, projections.Deps{Store: store, Logger: log},
		drifts.New(), catalog.New(), agents.New(), tokens.New(), counters.New())
	if err != nil {
		return failure(stderr, "rebuild", exitFailed, err)
	}
	fmt.Fprintf(stdout, "rebuilt %s from the event store\n", path)
	return 0
}

// notInUse refuses a read-model file another process has open (a running serve holds its
// lock); a file that does not exist yet is not in use.
func notInUse(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%s is in use: stop driftwatch first", path)
	}
	if err != nil {
		return nil // unreadable: replacing it is what rebuild is for
	}
	return db.Close()
}
