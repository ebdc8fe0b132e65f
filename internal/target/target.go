package target

import (
	"context"
	"io"
)

// Extent is a byte range of a disk: [Off, Off+Len).
type Extent struct {
	Off, Len int64
}

// Disk is one disk of a recovery point, read-only. ReadAt is safe for concurrent use and returns
// exactly what the point holds (verified end to end by the store). Bytes outside DataExtents read
// as zeros, so a provider may skip them (holes in a sparse file, zero pages of a page blob).
type Disk interface {
	io.ReaderAt
	// Name is the disk's name in the point (for example "sda" or "disk0").
	Name() string
	// Size is the disk's size in bytes.
	Size() int64
	// DataExtents returns, in ascending order and without overlap, the ranges that may hold
	// non-zero data. It reads metadata only, never data.
	DataExtents(ctx context.Context) ([]Extent, error)
}

// Progress is told how many bytes of the request's disks are done, of total. It may be called
// from several goroutines at once.
type Progress func(done, total int64)

// Request is one failover (or test failover) of a machine at a recovery point.
type Request struct {
	// Run names this failover uniquely (the failover job's ID); a provider keeps what it creates
	// under that name, so that a retried Create resumes and Remove finds everything.
	Run string
	// Test is set for a test failover: the definition's NICs are on test networks.
	Test bool
	// Definition is the machine to create; its Disks name the disks below in order.
	Definition Definition
	// Disks are the point's disks to write.
	Disks []Disk
}

// Result says what a provider created, in a form Remove accepts later (stored in the vault with
// the failover).
type Result struct {
	Provider string `json:"provider"`
	// Location is where the machine is: a directory for local, a container URL for azure.
	Location string `json:"location"`
	// Disks are the created disks' locations (paths or blob URLs), in the definition's order.
	Disks []string `json:"disks"`
	// DefinitionFile is where the definition (or deployment template) was written.
	DefinitionFile string `json:"definition_file"`
	// BytesWritten and BytesSkipped count disk bytes written and skipped as zeros.
	BytesWritten int64 `json:"bytes_written"`
	BytesSkipped int64 `json:"bytes_skipped"`
}

// Provider turns a recovery point into target disks and a machine definition.
type Provider interface {
	// Name is the provider's name as users give it ("local", "azure").
	Name() string
	// Create writes the request's disks and definition. It is idempotent for one Run: called
	// again after a crash or an error it resumes (or redoes) and leaves the same result. On
	// success every disk is complete and durable (fsynced, or acknowledged by the service). It
	// calls progress as bytes are done.
	Create(ctx context.Context, req Request, progress Progress) (Result, error)
	// Remove deletes everything Create made for res (cleanup of a test failover, or of a failed
	// failover). Removing what is already gone is not an error.
	Remove(ctx context.Context, res Result) error
}
