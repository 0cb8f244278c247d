package analytics

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Folder is the Sink of local runs: objects are files under Dir (created as
// needed). A file is written to a hidden temporary name (".tmp-*") in its
// final folder, synced, then renamed over the key's name, and the folder is
// synced: readers never see a partial file, and a put of an existing key
// replaces it atomically. Loaders must ignore names starting with ".".
type Folder struct {
	Dir string
}

func (f *Folder) String() string { return "folder " + f.Dir }

// Put implements Sink. Keys must be relative and must not leave Dir.
func (f *Folder) Put(_ context.Context, key string, body []byte) error {
	clean := path.Clean(key)
	if key == "" || path.IsAbs(key) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("folder sink: invalid key %q", key)
	}
	final := filepath.Join(f.Dir, filepath.FromSlash(clean))
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("folder sink: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*.ndjson")
	if err != nil {
		return fmt.Errorf("folder sink: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(body); err != nil {
		return fmt.Errorf("folder sink: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("folder sink: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("folder sink: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("folder sink: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}
