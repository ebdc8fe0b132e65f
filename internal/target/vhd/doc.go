// Package vhd writes and reads the footer of fixed VHD disk images (docs/formats/vhd.md): the
// 512-byte trailer that turns a raw disk image into a fixed VHD, the format the seed's cloud
// accepts for uploaded disks (page blobs whose virtual size is a whole number of MiB).
//
// A fixed VHD is the disk's bytes followed by one footer; there is no other metadata. The local
// target provider writes such files, the azure provider uploads the same bytes as a page blob.
package vhd
