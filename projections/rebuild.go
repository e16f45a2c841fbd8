package projections

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"
)

// Rebuild replays the whole store, from position 0, into a fresh file beside cfg.Path
// (cfg.Path + ".rebuild"), then renames it over cfg.Path. projs must be instances that no
// open runner uses; they are left open on the closed rebuild file, so open them again with New
// afterwards. No runner may have cfg.Path open meanwhile. On error cfg.Path is left as it was.
func Rebuild(ctx context.Context, cfg Config, deps Deps, projs ...Projection) error {
	tmp := cfg
	tmp.Path = cfg.Path + ".rebuild"
	if err := os.Remove(tmp.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rebuild %s: %w", cfg.Path, err)
	}
	r, err := New(tmp, deps, projs...)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", cfg.Path, err)
	}
	if err := r.CatchUp(ctx); err != nil {
		_ = r.Close()
		_ = os.Remove(tmp.Path)
		return fmt.Errorf("rebuild %s: %w", cfg.Path, err)
	}
	pos := r.Position()
	if err := r.Close(); err != nil {
		_ = os.Remove(tmp.Path)
		return fmt.Errorf("rebuild %s: %w", cfg.Path, err)
	}
	if err := os.Rename(tmp.Path, cfg.Path); err != nil {
		return fmt.Errorf("rebuild %s: %w", cfg.Path, err)
	}
	deps.Logger.Info("Rebuilt read models", zap.String("path", cfg.Path), zap.Uint64("position", uint64(pos)))
	return nil
}
