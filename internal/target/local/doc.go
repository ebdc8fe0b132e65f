// Package local is the `local` failover target: it turns a recovery point into disk images in a
// directory and writes the machine definition beside them (docs/formats/machine-definition.md).
//
// Each run (one failover or test failover) gets its own directory, DIR/<machine>-<run>/. Disks are
// written as raw sparse images, fixed VHDs (docs/formats/vhd.md) or qcow2 images
// (docs/formats/qcow2.md); each complete disk gets a small done marker, and machine.json is
// written last, atomically: a run directory without machine.json is incomplete, and Create called
// again resumes it without rewriting the disks that are done.
package local
