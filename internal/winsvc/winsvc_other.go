//go:build !windows

package winsvc

import "context"

// IsService reports false: only Windows has a service control manager.
func IsService() (bool, error) { return false, nil }

// Run returns ErrNotWindows.
func Run(name string, run func(ctx context.Context) error) error { return ErrNotWindows }

// Install returns ErrNotWindows.
func Install(ctx context.Context, c Config) error { return ErrNotWindows }

// Uninstall returns ErrNotWindows.
func Uninstall(ctx context.Context, name string) error { return ErrNotWindows }
