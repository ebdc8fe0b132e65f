// Package qcow2 writes qcow2 version 3 disk images from a target.Disk, with its own encoder (no
// library), and parses their header (docs/formats/qcow2.md).
//
// The writer knows the disk's data extents before it writes a byte, so it lays out the whole image
// at once: header, L1 table, refcount table and blocks, L2 tables, then the data clusters in
// ascending guest order. Only clusters that hold data are allocated; zero ranges stay unallocated
// and read as zeros. Data clusters are read and written in parallel at their planned offsets; the
// tables follow, and the header is written last, so a file cut short by a crash never parses.
package qcow2
