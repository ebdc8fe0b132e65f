package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// The manifest is JSON lines (docs/formats/workload-manifest.md): a header, then for every
// operation a begin record before it starts and a done record after its fsyncs returned.

const (
	manifestKind    = "osr-workload-manifest"
	manifestVersion = 1
	maxManifestLine = 64 << 10
	maxFileSize     = 1 << 30
)

// Operation names.
const (
	opCreate    = "create"
	opOverwrite = "overwrite"
	opAppend    = "append"
	opDelete    = "delete"
	opRename    = "rename"
)

// header is the manifest's first line.
type header struct {
	Kind  string   `json:"kind"`
	V     int      `json:"v"`
	Seed  uint64   `json:"seed"`
	Roots []string `json:"roots"`
}

// record is one later line: ev is "begin" or "done".
type record struct {
	Ev     string `json:"ev"`
	Seq    int    `json:"seq"`
	T      int64  `json:"t"`
	Op     string `json:"op,omitempty"`
	Path   string `json:"path,omitempty"`
	To     string `json:"to,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

// fileState is what a path holds: absent, or a file of a size and SHA-256.
type fileState struct {
	Present bool
	SHA256  string
	Size    int64
}

func (s fileState) String() string {
	if !s.Present {
		return "absent"
	}
	return fmt.Sprintf("%d bytes sha256 %s", s.Size, s.SHA256[:16])
}

// op is one operation of the manifest, numbered from 1.
type op struct {
	Seq      int
	Op       string
	Path, To string
	Begin    int64 // unix ns, before the operation started
	Done     int64 // unix ns, after its fsyncs returned; 0: never completed
	Result   fileState
}

// atomic reports whether the operation moves its paths from the old state to the new one in one
// step (rename, unlink); the others can be seen half done while they are in flight.
func (o *op) atomic() bool { return o.Op == opDelete || o.Op == opRename }

// manifest is a decoded manifest.
type manifest struct {
	Header header
	Ops    []op // Ops[i].Seq == i+1
}

var labelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// checkPath returns the root label of a manifest path ("root/dir/file"), or an error.
func checkPath(p string, roots []string) (string, error) {
	if p == "" || len(p) > 1024 || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", fmt.Errorf("bad path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("bad path %q", p)
		}
	}
	root, rest, ok := strings.Cut(p, "/")
	if !ok || rest == "" {
		return "", fmt.Errorf("bad path %q: no root label", p)
	}
	for _, r := range roots {
		if r == root {
			return root, nil
		}
	}
	return "", fmt.Errorf("path %q names root %q, not in the header", p, root)
}

// decodeStrict decodes one JSON object with no unknown fields and nothing after it.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// parseManifest reads and checks a whole manifest: record order, sequence numbers, times that
// never go back, and that every operation fits the files the earlier ones left (a create of an
// absent path, an overwrite of a present one, and so on). The last operation may lack its done
// record (the writer stopped while it was in flight); nothing may follow it.
func parseManifest(r io.Reader) (*manifest, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxManifestLine)
	m := &manifest{}
	files := map[string]fileState{}
	var lastT int64
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if lineNo == 1 {
			if err := decodeStrict(line, &m.Header); err != nil {
				return nil, fmt.Errorf("manifest line 1: bad header: %w", err)
			}
			h := m.Header
			if h.Kind != manifestKind {
				return nil, fmt.Errorf("manifest line 1: kind %q, want %q", h.Kind, manifestKind)
			}
			if h.V != manifestVersion {
				return nil, fmt.Errorf("manifest line 1: version %d, this tool reads version %d", h.V, manifestVersion)
			}
			if len(h.Roots) == 0 || len(h.Roots) > 64 {
				return nil, fmt.Errorf("manifest line 1: %d roots, want 1-64", len(h.Roots))
			}
			seen := map[string]bool{}
			for _, root := range h.Roots {
				if !labelRE.MatchString(root) || seen[root] {
					return nil, fmt.Errorf("manifest line 1: bad or repeated root label %q", root)
				}
				seen[root] = true
			}
			continue
		}
		var rec record
		if err := decodeStrict(line, &rec); err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", lineNo, err)
		}
		if rec.T < lastT || rec.T <= 0 {
			return nil, fmt.Errorf("manifest line %d: time %d goes back (previous %d)", lineNo, rec.T, lastT)
		}
		lastT = rec.T
		if err := m.apply(rec, files); err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest line %d: %w", lineNo+1, err)
	}
	if lineNo == 0 {
		return nil, errors.New("manifest is empty")
	}
	return m, nil
}

// apply adds one record to m; files is the state the completed operations left.
func (m *manifest) apply(rec record, files map[string]fileState) error {
	n := len(m.Ops)
	switch rec.Ev {
	case "begin":
		if n > 0 && m.Ops[n-1].Done == 0 {
			return fmt.Errorf("begin of op %d while op %d is not done", rec.Seq, n)
		}
		if rec.Seq != n+1 {
			return fmt.Errorf("begin of op %d, want op %d", rec.Seq, n+1)
		}
		if rec.SHA256 != "" || rec.Size != 0 {
			return errors.New("begin record with a result")
		}
		if _, err := checkPath(rec.Path, m.Header.Roots); err != nil {
			return err
		}
		cur := files[rec.Path]
		switch rec.Op {
		case opCreate:
			if cur.Present {
				return fmt.Errorf("create of %s, which exists", rec.Path)
			}
		case opOverwrite, opAppend, opDelete, opRename:
			if !cur.Present {
				return fmt.Errorf("%s of %s, which does not exist", rec.Op, rec.Path)
			}
		default:
			return fmt.Errorf("unknown op %q", rec.Op)
		}
		if rec.Op == opRename {
			root, _ := checkPath(rec.Path, m.Header.Roots)
			toRoot, err := checkPath(rec.To, m.Header.Roots)
			if err != nil {
				return err
			}
			if toRoot != root {
				return fmt.Errorf("rename from root %s to root %s", root, toRoot)
			}
			if files[rec.To].Present || rec.To == rec.Path {
				return fmt.Errorf("rename to %s, which exists", rec.To)
			}
		} else if rec.To != "" {
			return fmt.Errorf("%s record with a target", rec.Op)
		}
		m.Ops = append(m.Ops, op{Seq: rec.Seq, Op: rec.Op, Path: rec.Path, To: rec.To, Begin: rec.T})
	case "done":
		if n == 0 || m.Ops[n-1].Done != 0 || rec.Seq != n {
			return fmt.Errorf("done of op %d, which is not in flight", rec.Seq)
		}
		if rec.Op != "" || rec.Path != "" || rec.To != "" {
			return errors.New("done record with op fields")
		}
		o := &m.Ops[n-1]
		if o.Op == opDelete {
			if rec.SHA256 != "" || rec.Size != 0 {
				return errors.New("done of a delete with a result")
			}
			delete(files, o.Path)
		} else {
			if b, err := hex.DecodeString(rec.SHA256); err != nil || len(b) != 32 || strings.ToLower(rec.SHA256) != rec.SHA256 {
				return fmt.Errorf("bad sha256 %q", rec.SHA256)
			}
			if rec.Size < 0 || rec.Size > maxFileSize {
				return fmt.Errorf("bad size %d", rec.Size)
			}
			o.Result = fileState{Present: true, SHA256: rec.SHA256, Size: rec.Size}
			prev := files[o.Path]
			switch {
			case o.Op == opRename && o.Result != prev:
				return fmt.Errorf("rename of %s changed its content", o.Path)
			case o.Op == opOverwrite && rec.Size != prev.Size:
				return fmt.Errorf("overwrite of %s changed its size from %d to %d", o.Path, prev.Size, rec.Size)
			case o.Op == opAppend && rec.Size <= prev.Size:
				return fmt.Errorf("append to %s did not grow it (%d to %d bytes)", o.Path, prev.Size, rec.Size)
			}
			if o.Op == opRename {
				delete(files, o.Path)
				files[o.To] = o.Result
			} else {
				files[o.Path] = o.Result
			}
		}
		o.Done = rec.T
	default:
		return fmt.Errorf("unknown record %q", rec.Ev)
	}
	return nil
}

// manifestWriter appends records to a manifest.
type manifestWriter struct {
	w io.Writer
}

func (mw *manifestWriter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = mw.w.Write(append(b, '\n'))
	return err
}
