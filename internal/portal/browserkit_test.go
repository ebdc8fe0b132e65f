package portal

import (
	"context"
	"github.com/opensiterecovery/osr/internal/e2e/netlab"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser or fails the test with how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("install chromium (apt-get install chromium)")
	return ""
}

// artifacts is where screenshots go: $OSR_TEST_ARTIFACTS/portal, or a temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("OSR_TEST_ARTIFACTS"); d != "" {
		dir = filepath.Join(d, "portal")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// chrome is headless Chromium on the portal at origin, for one test of at most 60 s. At the
// test's end it fails the test if a page requested another origin or logged an error (a
// Content-Security-Policy violation, a script error, a failed load).
type chrome struct {
	t   *testing.T
	ctx context.Context

	mu           sync.Mutex
	foreign      []string
	pageErrors   []string
	sessionEnded bool
}

func newChrome(t *testing.T, origin string) *chrome {
	t.Helper()
	netlab.NetworkStill(t) // a lab's address coming or going aborts page loads (ERR_NETWORK_CHANGED)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		// The vault's certificate is issued by its own CA; these loopback tests trust it this way.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	b := &chrome{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelT()
		cancel()
		cancelA()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.foreign) > 0 {
			t.Errorf("pages made requests to other origins: %q", b.foreign)
		}
		if len(b.pageErrors) > 0 {
			t.Errorf("pages logged errors: %q", b.pageErrors)
		}
	})
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && u != "about:blank" {
				b.foreign = append(b.foreign, u)
			}
		case *cdplog.EventEntryAdded:
			expected401 := b.sessionEnded && strings.Contains(ev.Entry.Text, "status of 401") && strings.HasSuffix(ev.Entry.URL, "/items/table")
			if ev.Entry.Level == cdplog.EntryLevelError && !expected401 {
				b.pageErrors = append(b.pageErrors, ev.Entry.Text+" ("+ev.Entry.URL+")")
			}
		case *runtime.EventExceptionThrown:
			b.pageErrors = append(b.pageErrors, ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// endSession says that the session ends now: from here a refresh of the items table answered 401
// (with HX-Redirect) is expected, not a page error.
func (b *chrome) endSession() {
	b.mu.Lock()
	b.sessionEnded = true
	b.mu.Unlock()
}

// do runs steps, failing the test with what when they fail.
func (b *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// click runs steps that end in a page load (a link or a form) and checks the page's status.
func (b *chrome) click(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != 200 {
		b.t.Fatalf("%s: status %d", what, resp.Status)
	}
}

// text returns the text of the element sel selects.
func (b *chrome) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// expect checks that the text of sel holds each of want.
func (b *chrome) expect(sel string, want ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.t.Errorf("%s: %q not in %q", sel, w, got)
		}
	}
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }
