package portal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowser drives headless Chromium through the seed's flow: sign in, create a vault, prepare
// its infrastructure (protection goal, download a registration key, target, create a policy,
// capacity planning), then the replicated items page and an item's page.
func TestBrowser(t *testing.T) {
	e := newEnvWith(t, Config{RefreshInterval: time.Second}) // self-refreshing parts poll every second
	shots := artifacts(t)
	downloads := t.TempDir()
	b := newChrome(t, e.url)
	ctx := b.ctx
	do, click, expect := b.do, b.click, b.expect

	step := 0
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			step++
			return os.WriteFile(filepath.Join(shots, strings.Join([]string{pad(step), name}, "-")+".png"), buf, 0o644)
		})
	}
	click("open the portal", chromedp.Navigate(e.url+"/"))
	expect("h1", "Sign in")
	do("sign-in form",
		chromedp.SendKeys(css("#user"), "owner1"),
		chromedp.SendKeys(css("#password"), password("owner")),
		shot("sign-in"))
	click("sign in", chromedp.Click(css(`button[type=submit]`)))
	expect("h1", "Dashboard")
	expect("header .user", "owner1", "(owner)")

	click("vaults", chromedp.Click(css(`header nav a[href="/vaults"]`)))
	do("vault form",
		chromedp.SendKeys(css("#name"), "lab"),
		chromedp.SendKeys(css("#storage_url"), e.storage(t, "lab")),
		shot("vaults"))
	click("create the vault", chromedp.Click(css(`form[action="/vaults"] button`)))
	expect("main .notice", "Vault lab created. Prepare its infrastructure.")
	expect("h1", "Prepare infrastructure: Protection goal")
	do("protection goal",
		chromedp.Click(css(`input[name=to][value=local]`)),
		chromedp.Click(css(`input[name=machines][value=physical]`)),
		shot("goal"))
	click("goal OK", chromedp.Click(css(`form[action$="/prepare/goal"] button`)))
	expect("h1", "Prepare infrastructure: Source")
	expect("main", "Configuration server", "valid for five days")

	// Download the registration key: the browser saves the file.
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	do("download the registration key",
		shot("source"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true),
			})
			return err
		}),
		chromedp.Click(css(`form[action$="/registration-key"] button`)),
	)
	var keyFile string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the browser canceled the download of the registration key")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			keyFile = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	vid := e.vaultID(t, "lab")
	e.checkKey(t, vid, string(key))
	// The configuration server installs with the downloaded key; the source step lists it by
	// itself (htmx refresh).
	e.register(t, vid, string(key), "web01")
	do("configuration server appears", chromedp.WaitVisible(css(`#source-servers li`)), shot("source-registered"))
	expect("#source-servers", "cs1 (cs1.example.net) Connected")

	click("next: target", chromedp.Click(css(`a.button[href*="step=target"]`)))
	expect("h1", "Prepare infrastructure: Target")
	do("target form",
		chromedp.SetValue(css("#provider"), "local"),
		chromedp.SendKeys(css("#location"), e.failoverDir),
		chromedp.SendKeys(css("#network"), "recovery-net"),
		shot("target"))
	click("target OK", chromedp.Click(css(`form[action$="/target"] button`)))
	expect("main .notice", "Target settings saved.")
	expect("h1", "Prepare infrastructure: Replication policy")
	for sel, want := range map[string]string{"#rpo": "15", "#ret": "24", "#app": "60"} {
		got, err := chromedp.Run(ctx, chromedp.Value(css(sel)))
		if err != nil || got != want {
			t.Errorf("policy form %s: %q (%v), want the seed's default %q", sel, got, err, want)
		}
	}
	checked, err := chromedp.Run(ctx, chromedp.JavascriptAttribute[bool](css(`input[name=associate]`), "checked"))
	if err != nil || !checked {
		t.Errorf("a new policy is not associated with cs1 by default (%v)", err)
	}
	do("policy form", chromedp.SendKeys(css("#pname"), "gold"), shot("policy-form"))
	click("create the policy", chromedp.Click(css(`form[action$="/policies"] button`)))
	do("policy created", shot("policy-created"))
	expect("main .notice", "Replication policy gold created, with its twin gold-failback.")
	expect("main table", "gold", "gold-failback", "15 min", "24 h", "60 min", "cs1")

	click("next: capacity planning", chromedp.Click(css(`a.button[href*="step=capacity"]`)))
	expect("main .capacity-intro", "osr mobility profile")
	// A profile file chosen in the file input is read into the text area; the plan shows.
	profFile := filepath.Join(t.TempDir(), "web01.json")
	if err := os.WriteFile(profFile, []byte(capacityProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	do("profile file", chromedp.SetUploadFiles(css("#profile-files"), []string{profFile}),
		chromedp.Poll[chromedp.Void](`document.getElementById("profiles").value.includes("web01")`))
	click("plan capacity", chromedp.Click(css(`form[action*="/capacity?"] button`)))
	expect("main dl.plan", "1 (set by machines), each 8 vCPU, 16 GB RAM, 600 GB cache", "40 GB of used data in 4m46s at 140 MB/s")
	do("capacity plan", shot("capacity-plan"))
	do("capacity form", chromedp.Click(css(`input[name=completed]`)), shot("capacity"))
	click("capacity OK", chromedp.Click(css(`form[action$="/capacity"] button`)))
	expect("h1", "Vault lab")
	expect("dl.facts", "local", e.failoverDir)
	do("vault", shot("vault"))

	click("servers", chromedp.Click(css(`nav.vault a[href$="/servers"]`)))
	expect("main", "Configuration server cs1", "ps1", "10.0.0.5:9443", "web01", "Connected")
	do("servers", shot("servers"))

	click("replicated items", chromedp.Click(css(`nav.vault a[href$="/items"]`)))
	expect("#items", "No replicated items yet.")
	do("enable form",
		chromedp.SetValue(css("#machine"), "web01"),
		chromedp.SetValue(css("#policy"), "gold"),
		shot("enable"))
	click("enable replication", chromedp.Click(css(`form[action$="/items"] button`)))
	expect("main .notice", "Replication of web01 is being enabled.")
	expect("#items", "web01", "Enabling protection", "gold")
	// The configuration server reports progress: the table refreshes itself (htmx, every 5 s).
	e.report(t, vid, initialReport(e.clock.Now(), "web01", 42.5))
	do("items refresh", chromedp.WaitVisible(css(`#items progress[value="42.5"]`)), shot("items"))
	expect("#items", "Initial replication", "42 %")

	click("item page", chromedp.Click(css(`#items a[href$="/items/web01"]`)))
	expect("h1", "web01")
	expect("main", "Initial replication", "42 %", "Recovery points", "No recovery point yet.", "replication of web01 enabled with policy gold")
	do("item", shot("item"))

	click("jobs", chromedp.Click(css(`nav.vault a[href$="/jobs"]`)))
	expect("#jobs", "enable-replication", "web01", "running", "create-vault", "succeeded")
	do("jobs", shot("jobs"))
	// The process server runs hot: the servers page says so, the vault raises alerts.
	hot := initialReport(e.clock.Now(), "web01", 60)
	hot.ProcessServers[0].CPUPercent, hot.ProcessServers[0].CacheFreePercent = 91, 22
	e.report(t, vid, hot)
	e.evaluate(t)
	click("servers again", chromedp.Click(css(`nav.vault a[href$="/servers"]`)))
	expect("main", "Critical", "cache 22% free")
	do("servers critical", shot("servers-critical"))
	click("alerts", chromedp.Click(css(`nav.vault a[href$="/alerts"]`)))
	expect("main", "process-server-cpu", "process server ps1: CPU use 91% is over 80%", "process-server-cache")
	do("alerts", shot("alerts"))
	click("events", chromedp.Click(css(`nav.vault a[href$="/events"]`)))
	expect("main", "web01: enabling → initial-replication", "vault-created")
	do("events", shot("events"))

	click("dashboard", chromedp.Click(css(`header nav a[href="/"]`)))
	expect("main", "lab", "Initial replication 1")
	do("dashboard", shot("dashboard"))

	// The session ends while the items table refreshes itself: htmx follows HX-Redirect to the
	// sign-in page, which remembers where the user was.
	click("items again", chromedp.Navigate(e.url+"/vaults/"+vid+"/items"))
	b.endSession()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(12 * time.Second)
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(loc, "/login?next=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after the session ended", loc)
		}
		time.Sleep(200 * time.Millisecond)
	}
	do("signed out", chromedp.WaitVisible(css("#user")), shot("session-ended"))
	expect("h1", "Sign in")
}

func pad(n int) string {
	s := "0" + string(rune('0'+n%10))
	if n >= 10 {
		s = string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	return s
}

func ptr[T any](v T) *T { return &v }
