package portal

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestFailoverBrowser: headless Chromium goes from the item page to its failover page, starts a
// test failover at a chosen point and follows the job page until it has succeeded.
func TestFailoverBrowser(t *testing.T) {
	e := newFailoverEnv(t)
	b := newChrome(t, e.url)
	do, click, expect := b.do, b.click, b.expect

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
