package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// snapshotsRetained is how many snapshots DataDir keeps.
const snapshotsRetained = 2

// stores are the Raft log, stable store and snapshot store of one node.
type stores struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	close  func() error
}

// openStores opens the durable stores under dir, or in-memory ones when dir
// is empty.
func openStores(dir string, log *hcLogger) (*stores, error) {
	if dir == "" {
		mem := raft.NewInmemStore()
		return &stores{logs: mem, stable: mem, snaps: raft.NewInmemSnapshotStore(), close: func() error { return nil }}, nil
	}
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", walDir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, log.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open snapshots in %s: %w", dir, err)
	}
	// The WAL does not close the meta store it opens; owning it lets
	// Shutdown release its file lock, so the same DataDir can be reopened.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir, wal.WithMetaStore(meta), wal.WithLogger(log.Named("wal")))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open raft-wal in %s: %w", walDir, err), meta.Close())
	}
	closeAll := func() error { return errors.Join(w.Close(), meta.Close()) }
	return &stores{logs: w, stable: w, snaps: snaps, close: closeAll}, nil
}
