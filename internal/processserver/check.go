package processserver

import (
	"errors"
	"fmt"

	"github.com/opensiterecovery/osr/internal/wire"
)

// pointCheck follows the frames of one point and refuses what does not belong: the same rules
// apply to frames arriving from an agent and to frames replayed from the cache.
type pointCheck struct {
	begin  wire.BeginPoint
	sizes  map[string]int64
	begun  bool
	ended  bool
	blocks uint64
	zeroed uint64
	bl     wire.Blocks
	z      wire.Zero
	end    wire.EndPoint
}

// add checks frame f, decoding it into pc.bl, pc.z or pc.end for the caller.
func (pc *pointCheck) add(f wire.Frame) error { return pc.check(f, true) }

// addChecked is add for a frame whose blocks were verified against their fingerprints before (it
// came from memory, where the session put it after add): every rule but the fingerprints.
func (pc *pointCheck) addChecked(f wire.Frame) error { return pc.check(f, false) }

func (pc *pointCheck) check(f wire.Frame, verify bool) error {
	if pc.ended {
		return fmt.Errorf("%s frame after the point's EndPoint", f.Type)
	}
	if !pc.begun {
		if f.Type != wire.TypeBeginPoint {
			return fmt.Errorf("%s frame before BeginPoint", f.Type)
		}
		if err := pc.begin.Decode(f.Payload); err != nil {
			return err
		}
		pc.begun = true
		pc.sizes = make(map[string]int64, len(pc.begin.Disks))
		for _, d := range pc.begin.Disks {
			pc.sizes[d.Name] = d.Size
		}
		return nil
	}
	switch f.Type {
	case wire.TypeBlocks:
		if err := pc.bl.Decode(f.Payload); err != nil {
			return err
		}
		if err := pc.inRange(pc.bl.Seq, pc.bl.Disk, pc.bl.First, uint64(pc.bl.N())); err != nil {
			return err
		}
		if verify {
			if err := pc.bl.Verify(); err != nil {
				return err
			}
		}
		pc.blocks += uint64(pc.bl.N())
	case wire.TypeZero:
		if err := pc.z.Decode(f.Payload); err != nil {
			return err
		}
		if err := pc.inRange(pc.z.Seq, pc.z.Disk, pc.z.First, pc.z.Count); err != nil {
			return err
		}
		pc.zeroed += pc.z.Count
	case wire.TypeEndPoint:
		if err := pc.end.Decode(f.Payload); err != nil {
			return err
		}
		if pc.end.Seq != pc.begin.Seq {
			return fmt.Errorf("EndPoint of seq %d inside point %d", pc.end.Seq, pc.begin.Seq)
		}
		if pc.end.Blocks != pc.blocks || pc.end.Zeroed != pc.zeroed {
			return fmt.Errorf("point %d ends with %d blocks and %d zeroed, but %d and %d arrived",
				pc.begin.Seq, pc.end.Blocks, pc.end.Zeroed, pc.blocks, pc.zeroed)
		}
		for d := range pc.end.Initial {
			if _, ok := pc.sizes[d]; !ok {
				return fmt.Errorf("EndPoint names initial progress of disk %s, not in the point", d)
			}
		}
		pc.ended = true
	default:
		return fmt.Errorf("%s frame inside point %d", f.Type, pc.begin.Seq)
	}
	return nil
}

func (pc *pointCheck) inRange(seq uint64, disk string, first, n uint64) error {
	if seq != pc.begin.Seq {
		return fmt.Errorf("frame of seq %d inside point %d", seq, pc.begin.Seq)
	}
	size, ok := pc.sizes[disk]
	if !ok {
		return fmt.Errorf("disk %s is not in point %d", disk, seq)
	}
	blocks := uint64((size + wire.BlockSize - 1) / wire.BlockSize)
	if first >= blocks || n > blocks-first {
		return fmt.Errorf("blocks %d+%d are outside disk %s of %d blocks", first, n, disk, blocks)
	}
	return nil
}

var errNotInPoint = errors.New("no point is open")
