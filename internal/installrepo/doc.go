// Package installrepo is the configuration server's install repository: the mobility service's
// builds for each supported platform (linux/amd64, linux/arm64, windows/amd64), a SHA256SUMS list
// of their checksums and an install script, served over the configuration server's HTTPS port
// under /agents/. Push install copies builds from it; a manual install downloads one (osr's own
// fetch, or the install script with curl and sha256sum) and refuses a file whose checksum differs
// from the list, or from the one the operator gives.
//
// Layout (docs/formats/install-repository.md): DIR/PLATFORM/osr (osr.exe on Windows), where
// PLATFORM is GOOS-GOARCH, and DIR/SHA256SUMS in the format of sha256sum(1). A build is added by
// writing a temporary file, fsync, rename, then rewriting SHA256SUMS the same way, so a reader
// sees either the old or the new build with its own checksum. Open re-hashes the file and refuses
// it if it no longer matches the list (a damaged repository never serves a bad build).
package installrepo
