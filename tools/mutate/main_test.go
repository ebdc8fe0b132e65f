package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const testBlock = 4096

// makeImage writes an image of n whole blocks plus tail extra bytes; every block holds a pattern
// of its own number, which neither kind of new content can produce.
func makeImage(t *testing.T, n, tail int) (string, []byte) {
	t.Helper()
	data := make([]byte, n*testBlock+tail)
	for i := range data {
		data[i] = byte(i/testBlock) ^ 0xA5
		if i%testBlock == 0 {
			data[i] = 0 // so a block never reads as all one byte either
		}
	}
	path := filepath.Join(t.TempDir(), "image.raw")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func runMutate(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("mutate %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

func readList(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, f := range strings.Fields(string(data)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// summaryField returns the value of key=value in mutate's summary line.
func summaryField(t *testing.T, summary, key string) int64 {
	t.Helper()
	for _, f := range strings.Fields(summary) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s in %q: %v", key, summary, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", key, summary)
	return 0
}

func TestMutateChangesExactlyTheChosenBlocks(t *testing.T) {
	for _, content := range []string{"random", "text"} {
		t.Run(content, func(t *testing.T) {
			const n, tail = 1000, 100
			path, before := makeImage(t, n, tail)
			dir := t.TempDir()
			list := filepath.Join(dir, "list")
			changedOut := filepath.Join(dir, "changed")
			summary := runMutate(t, "--image", path, "--percent", "10", "--seed", "42",
				"--content", content, "--list", list, "--changed-out", changedOut)

			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("size changed: %d -> %d", len(before), len(after))
			}
			blocks := readList(t, list)
			if len(blocks) != 100 {
				t.Fatalf("changed %d blocks, want 100", len(blocks))
			}
			if !slices.IsSorted(blocks) || len(slices.Compact(slices.Clone(blocks))) != len(blocks) {
				t.Fatalf("list not sorted or has repeats: %v", blocks)
			}
			if got := summaryField(t, summary, "changed"); got != 100 {
				t.Errorf("summary changed=%d, want 100", got)
			}
			if got := summaryField(t, summary, "bytes"); got != 100*testBlock {
				t.Errorf("summary bytes=%d, want %d", got, 100*testBlock)
			}
			if got := summaryField(t, summary, "blocks"); got != n {
				t.Errorf("summary blocks=%d, want %d", got, n)
			}

			chosen := map[int64]bool{}
			for _, b := range blocks {
				if b < 0 || b >= n {
					t.Fatalf("block %d out of range", b)
				}
				chosen[b] = true
			}
			var newContent []byte
			for b := range int64(n) {
				old := before[b*testBlock : (b+1)*testBlock]
				cur := after[b*testBlock : (b+1)*testBlock]
				if chosen[b] {
					if bytes.Equal(old, cur) {
						t.Errorf("block %d was chosen but is unchanged", b)
					}
					newContent = append(newContent, cur...)
				} else if !bytes.Equal(old, cur) {
					t.Errorf("block %d was not chosen but changed", b)
				}
			}
			if !bytes.Equal(before[n*testBlock:], after[n*testBlock:]) {
				t.Error("the partial block at the end changed")
			}
			written, err := os.ReadFile(changedOut)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(written, newContent) {
				t.Error("--changed-out does not hold the changed blocks' new contents in order")
			}

			// Compression: random content does not compress, text about 3:1.
			z := summaryField(t, summary, "zstd_bytes")
			ratio := float64(100*testBlock) / float64(z)
			switch content {
			case "random":
				if ratio > 1.0 {
					t.Errorf("random content compressed %.2f:1", ratio)
				}
			case "text":
				if ratio < 2.5 || ratio > 3.7 {
					t.Errorf("text content compressed %.2f:1, want about 3:1", ratio)
				}
			}
		})
	}
}

func TestMutateIsDeterministic(t *testing.T) {
	for _, content := range []string{"random", "text"} {
		t.Run(content, func(t *testing.T) {
			pathA, _ := makeImage(t, 500, 0)
			pathB, _ := makeImage(t, 500, 0)
			pathC, _ := makeImage(t, 500, 0)
			dir := t.TempDir()
			listA, listB, listC := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
			sumA := runMutate(t, "--image", pathA, "--percent", "3", "--seed", "7", "--content", content, "--list", listA)
			sumB := runMutate(t, "--image", pathB, "--percent", "3", "--seed", "7", "--content", content, "--list", listB)
			runMutate(t, "--image", pathC, "--percent", "3", "--seed", "8", "--content", content, "--list", listC)

			a, _ := os.ReadFile(pathA)
			b, _ := os.ReadFile(pathB)
			c, _ := os.ReadFile(pathC)
			if !bytes.Equal(a, b) {
				t.Error("the same seed gave different images")
			}
			if bytes.Equal(a, c) {
				t.Error("different seeds gave the same image")
			}
			if !slices.Equal(readList(t, listA), readList(t, listB)) {
				t.Error("the same seed gave different lists")
			}
			if slices.Equal(readList(t, listA), readList(t, listC)) {
				t.Error("different seeds gave the same list")
			}
			if strings.ReplaceAll(sumA, pathA, "") != strings.ReplaceAll(sumB, pathB, "") {
				t.Errorf("summaries differ:\n%s%s", sumA, sumB)
			}
			if got := len(readList(t, listA)); got != 15 {
				t.Errorf("changed %d blocks, want 15 (3%% of 500)", got)
			}
		})
	}
}

func TestMutateCounts(t *testing.T) {
	for _, tc := range []struct {
		percent string
		want    int
	}{{"0", 0}, {"0.04", 0}, {"0.05", 1}, {"0.1", 1}, {"1", 10}, {"33.3", 333}, {"100", 1000}} {
		path, _ := makeImage(t, 1000, 0)
		list := filepath.Join(t.TempDir(), "list")
		runMutate(t, "--image", path, "--percent", tc.percent, "--seed", "1", "--list", list)
		if got := len(readList(t, list)); got != tc.want {
			t.Errorf("--percent %s: changed %d blocks, want %d", tc.percent, got, tc.want)
		}
	}
}

func TestChooseBlocksUniform(t *testing.T) {
	// Every block is about as likely to be chosen: 4000 draws of 10 out of 20 blocks.
	const n, k, rounds = 20, 10, 4000
	var hits [n]int
	for seed := range uint64(rounds) {
		got := chooseBlocks(n, k, seed)
		if len(got) != k || len(slices.Compact(slices.Clone(got))) != k {
			t.Fatalf("seed %d: %v is not %d distinct blocks", seed, got, k)
		}
		for _, b := range got {
			hits[b]++
		}
	}
	want := rounds * k / n // 2000; the standard deviation is about 32
	for b, h := range hits {
		if h < want-200 || h > want+200 {
			t.Errorf("block %d chosen %d times, want about %d", b, h, want)
		}
	}
}

func TestMutateRejectsBadArguments(t *testing.T) {
	path, _ := makeImage(t, 10, 0)
	for _, args := range [][]string{
		{"--percent", "1", "--seed", "1"},
		{"--image", path, "--seed", "1"},
		{"--image", path, "--percent", "101", "--seed", "1"},
		{"--image", path, "--percent", "1"},
		{"--image", path, "--percent", "1", "--seed", "1", "--content", "zeros"},
		{"--image", path, "--percent", "1", "--seed", "1", "--block", "0"},
		{"--image", filepath.Join(t.TempDir(), "missing"), "--percent", "1", "--seed", "1"},
	} {
		var out, errOut bytes.Buffer
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("mutate %v: no error", args)
		}
	}
}
