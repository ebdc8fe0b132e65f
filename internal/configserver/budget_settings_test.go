package configserver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestScaleOutSettings(t *testing.T) {
	good := `{"version":1,"automatic":true,"lost_after_seconds":90,"unreachable_after_seconds":60,"overload_after_seconds":120,"settle_seconds":120,"hold_seconds":600,"resync_budget_per_process_server":4,"resync_budget_per_site":16}`
	for _, tc := range []struct {
		name, in, err string
	}{
		{"good", good, ""},
		{"version", `{"version":2}`, "version 2, this osr reads version 1"},
		{"unknown field", `{"version":1,"budget":3}`, `json: unknown field "budget"`},
		{"lost zero", `{"version":1,"lost_after_seconds":0,"unreachable_after_seconds":1,"overload_after_seconds":1}`, "lost_after_seconds 0 is not between 60 and 604800"},
		{"lost within a heartbeat", `{"version":1,"lost_after_seconds":30,"unreachable_after_seconds":1,"overload_after_seconds":1}`, "lost_after_seconds 30 is not between 60 and 604800"},
		{"hold negative", `{"version":1,"lost_after_seconds":60,"unreachable_after_seconds":1,"overload_after_seconds":1,"hold_seconds":-1}`, "hold_seconds -1 is not between 0 and 604800"},
		{"budget", `{"version":1,"lost_after_seconds":60,"unreachable_after_seconds":1,"overload_after_seconds":1,"resync_budget_per_site":-2}`, "resync_budget_per_site -2 is not between 0 (no cap) and 10000"},
		{"trailing", good + `{}`, "data after the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodeScaleOut([]byte(tc.in))
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && s != DefaultScaleOut():
				t.Fatalf("decoded %+v, want the defaults", s)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
	dir := t.TempDir()
	if s, err := LoadScaleOut(dir); err != nil || s != DefaultScaleOut() {
		t.Fatalf("no file: %+v %v", s, err)
	}
	s := DefaultScaleOut()
	s.ResyncBudgetPerSite = 2
	if err := SaveScaleOut(dir, s); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadScaleOut(dir); err != nil || got != s {
		t.Fatalf("saved %+v, loaded %+v %v", s, got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, ScaleOutFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi, err)
	}
	s.HoldSeconds = -5
	if err := SaveScaleOut(dir, s); err == nil || err.Error() != "hold_seconds -5 is not between 0 and 604800" {
		t.Fatalf("saved bad settings: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ScaleOutFile), []byte(`{"version":1`), 0o600)
	if _, err := LoadScaleOut(dir); err == nil || err.Error() != "read scale-out settings: "+filepath.Join(dir, ScaleOutFile)+": unexpected EOF" {
		t.Fatalf("damaged file: %v", err)
	}
}

// FuzzDecodeScaleOut: the scale-out settings decoder never panics and accepts only settings
// within their bounds.
func FuzzDecodeScaleOut(f *testing.F) {
	f.Add([]byte(`{"version":1,"automatic":true,"lost_after_seconds":90,"unreachable_after_seconds":60,"overload_after_seconds":120,"settle_seconds":120,"hold_seconds":600,"resync_budget_per_process_server":4,"resync_budget_per_site":16}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeScaleOut(b)
		if err == nil && s.Check() != nil {
			t.Fatalf("accepted %+v", s)
		}
	})
}
