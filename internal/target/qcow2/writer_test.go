package qcow2

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
)

// memDisk is a sparse disk in memory: segments of data, zeros elsewhere. Its extents are given
// (ext) or are its segments.
type memDisk struct {
	size int64
	segs []seg // ascending, not overlapping
	ext  []target.Extent
}

type seg struct {
	off  int64
	data []byte
}

func (m *memDisk) Name() string { return "mem" }
func (m *memDisk) Size() int64  { return m.size }
func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), m.size-off)
	clear(p[:n])
	for _, s := range m.segs {
		lo, hi := max(s.off, off), min(s.off+int64(len(s.data)), off+n)
		if lo < hi {
			copy(p[lo-off:hi-off], s.data[lo-s.off:hi-s.off])
		}
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
func (m *memDisk) DataExtents(context.Context) ([]target.Extent, error) {
	if m.ext != nil {
		return m.ext, nil
	}
	var out []target.Extent
	for _, s := range m.segs {
		out = append(out, target.Extent{Off: s.off, Len: int64(len(s.data))})
	}
	return out, nil
}

// randomDisk is a disk of size bytes with random data at the given ranges ({off, len} pairs).
func randomDisk(rng *rand.Rand, size int64, ranges ...int64) *memDisk {
	d := &memDisk{size: size}
	for i := 0; i < len(ranges); i += 2 {
		b := make([]byte, ranges[i+1])
		randomFill(rng, b)
		d.segs = append(d.segs, seg{ranges[i], b})
	}
	return d
}

// rawFile writes d as a sparse raw image.
func rawFile(t *testing.T, d *memDisk) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "src.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(d.size); err != nil {
		t.Fatal(err)
	}
	for _, s := range d.segs {
		if _, err := f.WriteAt(s.data, s.off); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func qemuImg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatal("qemu-img not found: install it with apt-get install qemu-utils")
	}
	return p
}

// checkImage runs qemu-img check, info and compare on a qcow2 image of d with 64 KiB clusters.
func checkImage(t *testing.T, path string, d *memDisk) { checkImageClusters(t, path, d, ClusterSize) }

// checkImageClusters is checkImage for an image with clusters of cs bytes.
func checkImageClusters(t *testing.T, path string, d *memDisk, cs int64) {
	t.Helper()
	qi := qemuImg(t)
	out, err := exec.Command(qi, "check", "-f", "qcow2", "--output=json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img check: %v\n%s", err, out)
	}
	var chk struct {
		CheckErrors int `json:"check-errors"`
		Leaks       int `json:"leaks"`
		Corruptions int `json:"corruptions"`
	}
	if err := json.Unmarshal(out, &chk); err != nil {
		t.Fatalf("qemu-img check output %s: %v", out, err)
	}
	if chk.CheckErrors != 0 || chk.Leaks != 0 || chk.Corruptions != 0 {
		t.Fatalf("qemu-img check: %s", out)
	}
	out, err = exec.Command(qi, "info", "-f", "qcow2", "--output=json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	var info struct {
		VirtualSize int64  `json:"virtual-size"`
		Format      string `json:"format"`
		ClusterSize int64  `json:"cluster-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.VirtualSize != VirtualSize(d.size) || info.Format != "qcow2" || info.ClusterSize != cs {
		t.Fatalf("qemu-img info: %s", out)
	}
	raw := rawFile(t, d)
	out, err = exec.Command(qi, "compare", "-f", "qcow2", "-F", "raw", path, raw).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Images are identical.") {
		t.Fatalf("qemu-img compare: %v\n%s", err, out)
	}
}

func randomFill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestWriteQemuChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const size = 5<<20 + 12<<10 // not a whole number of clusters
	zeroData := randomDisk(rng, 1<<20, 200<<10, 1<<10)
	zeroData.ext = []target.Extent{{Off: 0, Len: 1 << 20}}
	for _, tc := range []struct {
		name      string
		d         *memDisk
		dataBytes int64 // streamed; exported disks store every cluster their extents touch
		exported  int64
	}{
		{"sparse", randomDisk(rng, size, 0, 100, 70<<10, 230<<10, 2<<20, 1, size-5000, 5000), 6*ClusterSize + 12<<10, 6*ClusterSize + 12<<10},
		{"full", randomDisk(rng, 3<<20, 0, 3<<20), 3 << 20, 3 << 20},
		{"empty", randomDisk(rng, 10<<20), 0, 0},
		// Extents claim the whole disk; only the cluster with data is allocated when streamed.
		{"zero-clusters", zeroData, ClusterSize, 1 << 20},
		// 3 L2 tables' worth of guest space, mostly holes.
		{"multi-l2", randomDisk(rng, 1<<30+1<<20, 0, 4096, 600<<20, 70000, 1<<30+1<<20-10, 10), 4 * ClusterSize, 4 * ClusterSize},
		// No data in guest cluster 0: nothing moves in the identity layout.
		{"no-cluster-0", randomDisk(rng, 2<<20, 1<<20, 5), ClusterSize, ClusterSize},
	} {
		for _, export := range []bool{false, true} {
			name := tc.name
			var d target.Disk = tc.d
			want := tc.dataBytes
			if export {
				name += "/export"
				d, want = exportDisk{tc.d}, tc.exported
			}
			t.Run(name, func(t *testing.T) { writeAndCheck(t, d, tc.d, want) })
		}
	}
}

// writeAndCheck writes d as qcow2 and checks the image with qemu-img against src (d's content).
func writeAndCheck(t *testing.T, d target.Disk, src *memDisk, dataBytes int64) {
	path := filepath.Join(t.TempDir(), "disk.qcow2")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var done atomic.Int64
	st, err := Write(context.Background(), f, d, Options{Workers: 3, ChunkClusters: 3, Progress: func(n int64) { done.Add(n) }})
	if err != nil {
		t.Fatal(err)
	}
	if done.Load() != d.Size() {
		t.Fatalf("progress %d, want %d", done.Load(), d.Size())
	}
	if st.DataBytes != dataBytes || st.SkippedBytes != d.Size()-dataBytes {
		t.Fatalf("stats %+v, want %d data bytes", st, dataBytes)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != st.FileSize {
		t.Fatalf("file size %v, stats %+v (%v)", fi.Size(), st, err)
	}
	checkImage(t, path, src)
	hb := make([]byte, ClusterSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != uint64(d.Size()) || h.ClusterBits != ClusterBits || h.RefcountOrder != RefcountOrder {
		t.Fatalf("header %+v", h)
	}
}

// exportDisk is a memDisk with a raw export, as the store's disks have.
type exportDisk struct{ *memDisk }

func (d exportDisk) ExportRaw(ctx context.Context, f *os.File, progress func(int64)) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if err := f.Truncate(d.size); err != nil {
		return err
	}
	for _, s := range d.segs {
		if _, err := f.WriteAt(s.data, s.off); err != nil {
			return err
		}
	}
	if progress != nil {
		progress(d.size)
	}
	return nil
}

// failDisk fails its reads after the first few.
type failDisk struct {
	memDisk
	reads atomic.Int32
}

func (d *failDisk) ReadAt(p []byte, off int64) (int, error) {
	if d.reads.Add(1) > 2 {
		return 0, errors.New("source gone")
	}
	return d.memDisk.ReadAt(p, off)
}

// TestWriteFailureLeavesNoHeader: an image whose write failed midway has no valid header.
func TestWriteFailureLeavesNoHeader(t *testing.T) {
	src := randomDisk(rand.New(rand.NewPCG(1, 2)), 4<<20, 0, 4<<20)
	d := &failDisk{memDisk: *src}
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Write(context.Background(), f, d, Options{Workers: 1, ChunkClusters: 1})
	if want := "read disk mem at 131072: source gone"; err == nil || err.Error() != want {
		t.Fatalf("Write: %v, want %q", err, want)
	}
	hb := make([]byte, ClusterSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHeader(hb); !errors.Is(err, ErrNotQcow2) {
		t.Fatalf("ParseHeader of a failed image: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Write(ctx, f, src, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context: %v", err)
	}
	// An export that does not notice the cancelled context is not taken for complete.
	if _, err := Write(ctx, f, exportDisk{src}, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write of an exported disk with a cancelled context: %v", err)
	}
	if _, err := f.ReadAt(hb, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHeader(hb); !errors.Is(err, ErrNotQcow2) {
		t.Fatalf("ParseHeader of a cancelled image: %v", err)
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		ext  []target.Extent
		want string
	}{
		{"zero size", 0, nil, "qcow2: disk size 0, want 1 to 70368744177664"},
		{"outside", 1 << 20, []target.Extent{{Off: 1 << 20, Len: 1}}, "qcow2: data extent [1048576, 1048577) is outside the disk of 1048576 bytes or out of order"},
		{"unordered", 1 << 20, []target.Extent{{Off: 1000, Len: 10}, {Off: 0, Len: 10}}, "qcow2: data extent [0, 10) is outside the disk of 1048576 bytes or out of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := plan(tc.size, tc.ext, ClusterBits, false); err == nil || err.Error() != tc.want {
				t.Fatalf("plan: %v, want %q", err, tc.want)
			}
		})
	}
	// Disks full of data up to 64 TiB need many refcount blocks and refcount table clusters:
	// check that the tables cover the whole image, themselves included.
	for _, size := range []int64{1, ClusterSize, 4 << 40, MaxSize} {
		for _, identity := range []bool{false, true} {
			l, err := plan(size, []target.Extent{{Off: 0, Len: size}}, ClusterBits, identity)
			if err != nil {
				t.Fatal(err)
			}
			if l.rbc*l.rce < l.total || l.rtc*ClusterSize/8 < l.rbc || l.nData != ceilDiv(size, ClusterSize) {
				t.Fatalf("size %d: layout %+v does not cover itself", size, *l)
			}
			if int64(len(l.l2Index)) != l.l1Size || l.metaEnd != l.l2+l.l1Size {
				t.Fatalf("size %d: layout %+v", size, *l)
			}
			// Streaming: data after the tables; identity: cluster 0 moved past the disk, the
			// tables after it, the image ending with them.
			if !identity && (l.runs[0].host != l.data || l.meta != 1) ||
				identity && (l.runs[0].host != l.clusters || l.meta != l.clusters+1 || l.total != l.metaEnd) {
				t.Fatalf("size %d, identity %v: layout %+v", size, identity, *l)
			}
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestWriteOddSize: a disk whose size is not a multiple of 512 gets a virtual size rounded up,
// the tail zero (what qemu-img compare checks of the larger image).
func TestWriteOddSize(t *testing.T) {
	d := randomDisk(rand.New(rand.NewPCG(1, 1)), 100000, 0, 100000)
	p := filepath.Join(t.TempDir(), "odd.qcow2")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := Write(context.Background(), f, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.DataBytes != 100000 || st.SkippedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
	out, err := exec.Command(qemuImg(t), "info", "--output=json", "-f", "qcow2", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"virtual-size": 100352,`) {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	raw := rawFile(t, d)
	out, err = exec.Command(qemuImg(t), "compare", "-f", "qcow2", "-F", "raw", p, raw).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Images are identical.") {
		t.Fatalf("qemu-img compare: %v\n%s", err, out)
	}
}

// TestWriteSmallClusters writes images with 512-byte clusters, where a few MiB of data need
// many L2 tables, refcount blocks and more than one refcount table cluster, and has qemu-img
// check them: the same code lays out 64 KiB-cluster images of many GiB.
func TestWriteSmallClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	full := randomDisk(rng, 12<<20, 0, 12<<20)
	sparse := randomDisk(rng, 5<<20+1536, 0, 700, 100<<10, 333<<10, 2<<20, 1, 3<<20, 1<<20, 5<<20, 1536)
	sparse.ext = []target.Extent{{Off: 0, Len: 5<<20 + 1536}} // zero clusters among the data
	for _, tc := range []struct {
		name     string
		d        *memDisk
		rtc, rbc int64
	}{
		{"full", full, 2, 98},
		{"sparse", sparse, 1, 41},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext, _ := tc.d.DataExtents(context.Background())
			for _, identity := range []bool{false, true} {
				l, err := plan(tc.d.size, ext, 9, identity)
				if err != nil {
					t.Fatal(err)
				}
				if l.rtc != tc.rtc || l.rbc != tc.rbc {
					t.Fatalf("identity %v: refcount table %d clusters, %d blocks; want %d, %d", identity, l.rtc, l.rbc, tc.rtc, tc.rbc)
				}
				var d target.Disk = tc.d
				if identity {
					d = exportDisk{tc.d}
				}
				p := filepath.Join(t.TempDir(), "small.qcow2")
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := Write(context.Background(), f, d, Options{ChunkClusters: 7, clusterBits: 9}); err != nil {
					t.Fatal(err)
				}
				checkImageClusters(t, p, tc.d, 512)
			}
		})
	}
}
