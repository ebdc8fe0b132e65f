//go:build !unix

package local

func isNoData(error) bool { return false }
