//go:build !linux

package netlab
