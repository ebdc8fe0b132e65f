package portal

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestFailoverBrowser: headless Chromium goes from the item page to its failover page, starts a
// test failover at a chosen point and follows the job page until it has succeeded.
func TestFailoverBrowser(t *testing.T) {
	exe := chromiumPath(t)
	e := newFailoverEnv(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors", true), // the vault's own CA, loopback only
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	var mu sync.Mutex
	var pageErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				pageErrors = append(pageErrors, ev.Entry.Text+" ("+ev.Entry.URL+")")
			}
		case *runtime.EventExceptionThrown:
			pageErrors = append(pageErrors, ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if len(pageErrors) > 0 {
			t.Errorf("pages logged errors: %q", pageErrors)
		}
	}()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	click := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, steps...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp.Status != 200 {
			t.Fatalf("%s: status %d", what, resp.Status)
		}
	}
	expect := func(sel string, want ...string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q not in %q", sel, w, got)
			}
		}
	}

	click("open the portal", chromedp.Navigate(e.url+"/"))
	do("sign-in form", chromedp.SendKeys(css("#user"), "operator1"), chromedp.SendKeys(css("#password"), password("operator")))
	click("sign in", chromedp.Click(css(`button[type=submit]`)))
	click("item page", chromedp.Navigate(e.url+"/vaults/"+e.vaultID+"/items/web01"))
	click("failover link", chromedp.Click(css(`a[href$="/items/web01/failover"]`)))
	expect("h1", "Failover of web01")
	do("choose the point", chromedp.SetValue(css(`form[action$="/failover/test"] select[name=point]`), e.pointID))
	click("start the test failover", chromedp.Click(css(`form[action$="/failover/test"] button`)))
	do("the job succeeds", chromedp.WaitVisible(css(`#job-progress .job-succeeded`)))
	expect("#job-progress", "test failover of web01 at point "+e.pointID[:12])
	click("back to the failover page", chromedp.Navigate(e.url+"/vaults/"+e.vaultID+"/items/web01/failover"))
	expect("main", "Test failover: succeeded", "Clean up test failover")
}
