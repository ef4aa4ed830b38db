package trustlist

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFiles writes files below dir, creating folders as needed. Paths that would leave dir
// are refused.
func WriteFiles(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	made := map[string]bool{}
	for _, f := range files {
		p, err := cleanMemberPath(f.Path)
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		if d := filepath.Dir(filepath.FromSlash(p)); d != "." && !made[d] {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", p, err)
			}
			made[d] = true
		}
		if err := root.WriteFile(filepath.FromSlash(p), f.Data, 0o644); err != nil {
			return fmt.Errorf("extract %s: %w", p, err)
		}
	}
	return nil
}
