package capacity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeAll reads several profile documents: a JSON array of them, or documents one after the
// other (as pasted). Each is checked as Decode checks it; the first bad one fails the whole input,
// with its position.
func DecodeAll(r io.Reader) ([]*Profile, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxProfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	if len(b) > MaxProfileBytes {
		return nil, fmt.Errorf("profiles: larger than %d bytes", MaxProfileBytes)
	}
	var docs []json.RawMessage
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &docs); err != nil {
			return nil, fmt.Errorf("profiles: not a JSON array: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var m json.RawMessage
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("profiles: document %d: not JSON: %w", len(docs)+1, err)
			}
			docs = append(docs, m)
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("profiles: none given")
	}
	out := make([]*Profile, 0, len(docs))
	for i, d := range docs {
		p, err := Decode(bytes.NewReader(d))
		if err != nil {
			return nil, fmt.Errorf("profiles: document %d: %w", i+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}
