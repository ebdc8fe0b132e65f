//go:build linux

package mobility

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Tracker auto takes ebpf for block devices (with 5 s points unless the file says otherwise) and
// scan for image files, saying why; tracker ebpf on an image file is refused.
func TestTrackerChoice(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	testImage(t, img, 1<<20, 1)
	dev := loopDev(t, dir, 8<<20)
	notBlock := img + " is not a block device (the ebpf tracker follows block devices; image files need the scan tracker)"
	cases := []struct {
		name, tracker, path, interval string
		want                          string
		reason                        string
		crash                         time.Duration
		err                           string
	}{
		{"auto, device", "auto", dev, "", "ebpf", "", 5 * time.Second, ""},
		{"auto, device, interval set", "auto", dev, "crash_consistent_interval: 30s\n", "ebpf", "", 30 * time.Second, ""},
		{"auto, image", "auto", img, "", "scan", "scan, because the ebpf tracker cannot run: " + notBlock, 30 * time.Second, ""},
		{"ebpf, image", "ebpf", img, "", "", "", 0, "tracker ebpf: " + notBlock},
		{"scan, device", "scan", dev, "", "scan", "", 30 * time.Second, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := "machine: web01\nprocess_server: 127.0.0.1\ntls: {ca: ca.pem, cert: a.pem, key: a.key}\nstate_dir: " +
				filepath.Join(t.TempDir(), "state") + "\ntracker: " + c.tracker + "\ndisks: [{name: sda, path: " + c.path + "}]\n" + c.interval
			cfg, err := ParseConfig([]byte(y), dir)
			if err != nil {
				t.Fatal(err)
			}
			var events []Event
			a, err := New(cfg, Options{Observe: func(e Event) { events = append(events, e) }, Dial: noDial})
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			st := a.Status()
			if st.Tracker != c.want || st.TrackerReason != c.reason || cfg.CrashConsistentInterval != c.crash {
				t.Fatalf("tracker %q reason %q interval %v, want %q %q %v", st.Tracker, st.TrackerReason, cfg.CrashConsistentInterval, c.want, c.reason, c.crash)
			}
			if c.reason != "" && (len(events) == 0 || events[0].Kind != "tracker-fallback") {
				t.Fatalf("events %+v, want tracker-fallback", events)
			}
		})
	}
}

func noDial(context.Context) (net.Conn, error) {
	return nil, errors.New("no process server in this test")
}
