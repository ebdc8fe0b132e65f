package winsvc

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestServeArgs(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "mobility.yaml")
	got, err := ServeArgs(abs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mobility", "serve", "--config", abs}; !slices.Equal(got, want) {
		t.Fatalf("ServeArgs = %q, want %q", got, want)
	}
	_, err = ServeArgs("mobility.yaml")
	if want := `configuration path "mobility.yaml" is not absolute: the service manager starts services in the system directory`; err == nil || err.Error() != want {
		t.Fatalf("relative path: %v, want %q", err, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "osr.exe")
	for _, tt := range []struct {
		name string
		c    Config
		want string // error, or the resulting name
		err  bool
	}{
		{"default name", Config{Exe: exe}, DefaultName, false},
		{"own name", Config{Name: "osr-mobility-2", Exe: exe}, "osr-mobility-2", false},
		{"bad name", Config{Name: "a b", Exe: exe}, `invalid service name "a b": use 1 to 80 letters, digits, '.', '_' or '-', starting with a letter or digit`, true},
		{"relative exe", Config{Exe: "osr.exe"}, `service program "osr.exe" is not an absolute path`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.c.withDefaults()
			switch {
			case tt.err && (err == nil || err.Error() != tt.want):
				t.Fatalf("error %v, want %q", err, tt.want)
			case !tt.err && err != nil:
				t.Fatal(err)
			case !tt.err && (c.Name != tt.want || c.DisplayName != "osr mobility service" || c.Description == ""):
				t.Fatalf("got %+v", c)
			}
		})
	}
}
