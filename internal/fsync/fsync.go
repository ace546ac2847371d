// Package fsync holds the one file-system durability step that the
// journal, the engine snapshot and the backup command all need.
package fsync

import "os"

// Dir syncs a directory, which makes a file created or renamed in it
// durable: a rename is only on disk once its directory is.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
