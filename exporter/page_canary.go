package exporter

import (
	"fmt"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
)

// canaryView is one Windows canary on the status page.
type canaryView struct {
	Name, Vendor, AIKHost string
	State, Class          string // "passing", "failing", "silent"
	Received, Since       stamp
	Failures              int
	Checks                []canaryCheckView
}

// canaryCheckView is one check of a canary's last report.
type canaryCheckView struct {
	Name, Status, Class, Detail string
}

// canariesOf lists the canaries for the page: failing first, then silent, then passing.
func canariesOf(st *state.State, now time.Time) []canaryView {
	var failing, silent, passing []canaryView
	for _, c := range st.Canaries {
		v := canaryView{Name: c.Name, Vendor: c.Vendor(), AIKHost: c.Report.AIKHost, Received: mkStamp(c.Received, now),
			Since: mkStamp(c.Since, now), Failures: c.Failures}
		for _, ch := range c.Report.Checks {
			cv := canaryCheckView{Name: ch.Name, Status: ch.Status, Class: "v-go"}
			switch {
			case state.CanaryCheckFailed(ch):
				cv.Class = "v-nogo"
			case !ch.OK():
				cv.Class = "v-unknown"
			}
			var parts []string
			if ch.HRESULT != "" {
				parts = append(parts, ch.HRESULT)
			}
			if ch.Message != "" && !ch.OK() {
				parts = append(parts, ch.Message)
			}
			cv.Detail = strings.Join(parts, " · ")
			v.Checks = append(v.Checks, cv)
		}
		switch {
		case c.Stale(now):
			v.State, v.Class = "silent", "v-degraded"
			silent = append(silent, v)
		case !c.OK:
			v.State, v.Class = "failing", "v-nogo"
			failing = append(failing, v)
		default:
			v.State, v.Class = "passing", "v-go"
			passing = append(passing, v)
		}
	}
	return append(append(failing, silent...), passing...)
}

// canaryStat is the hero's canary figure, or false when there are no canaries.
func canaryStat(cs []canaryView) (statView, bool) {
	if len(cs) == 0 {
		return statView{}, false
	}
	ok := 0
	for _, c := range cs {
		if c.State == "passing" {
			ok++
		}
	}
	return statView{Label: "Canaries", Value: fmt.Sprintf("%d/%d", ok, len(cs)), Note: "passing"}, true
}
