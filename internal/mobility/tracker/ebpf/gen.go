package ebpf

// The generated track_bpfel.go and track_bpfel.o are committed: building osr needs no clang.
// Regenerate (Debian: apt-get install clang llvm libbpf-dev) with go generate.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -cc clang -target bpfel -tags linux -type target track bpf/track.c -- -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu
