// Package azure is the "azure" failover target: it uploads each disk of a recovery point to
// Azure Blob Storage (or Azurite) as a fixed-VHD page blob, the form a managed disk is imported
// from, and writes beside the disks a deployment template that creates the VM from them
// (docs/formats/azure-deployment.md).
//
// Upload: only the disk's data extents are read; within them all-zero pages are not sent (a page
// blob reads zeros where nothing was written). Each page write is at most 4 MiB, 512-byte
// aligned and carries its MD5; windows of the disk are read and written by parallel workers.
// A blob's metadata records the Run, the point, the disk and a watermark below which the disk is
// written; a Create of the same Run after a crash resumes from the watermark and does not send
// again the pages the blob already holds above it. osr_complete=true is set last, after the VHD
// footer, and a complete blob is skipped.
package azure
