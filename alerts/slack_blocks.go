package alerts

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack Block Kit limits, and how much of them a message uses.
const (
	slackMaxBlocks       = 50
	slackMaxSectionText  = 3000
	slackMaxHeaderText   = 150
	slackMaxFieldText    = 2000
	slackMaxListed       = 20    // alerts shown one by one; the rest are summed up
	slackAlertsBudget    = 24000 // characters for all the alerts' sections together
	slackMinAlertText    = 600   // … but at least this much per alert
	slackMaxEvidence     = 8     // evidence lines shown per alert
	slackMaxEvidenceLine = 300
	slackMaxSummary      = 400
	// slackEvidenceMarkerRoom is kept free for the "…and N more lines of evidence" line.
	slackEvidenceMarkerRoom = 48
	slackMaxFallbackText    = 3000
)

// SlackBlocks renders n as Slack Block Kit blocks a person can act on at a glance: a header
// (🔴 firing critical, 🟠 firing warning, 🔵 firing info, 🔁 still firing, ✅ resolved) with the
// title; the severity, rule, start (or resolution) time and scope; one section per alert
// (subject, host, vendor, since when, summary and evidence), at most 20 and then "and N
// more"; and a context line linking the status page and the rule's runbook entry. Text from
// alerts is escaped and every text stays within Slack's limits (≤ 3000 characters a section,
// ≤ 150 a header, ≤ 50 blocks), cut with an ellipsis.
func SlackBlocks(n Notification) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
			slackTruncate(slackHeadline(n), slackMaxHeaderText), true, false)),
		slack.NewSectionBlock(nil, slackSummaryFields(n), nil),
		slack.NewDividerBlock(),
	}
	listed := n.Alerts
	if len(listed) > slackMaxListed {
		listed = listed[:slackMaxListed]
	}
	budget := slackMaxSectionText
	if len(listed) > 0 {
		budget = min(slackMaxSectionText, max(slackMinAlertText, slackAlertsBudget/len(listed)))
	}
	for _, a := range listed {
		blocks = append(blocks, slackMrkdwnSection(slackAlertText(n, a, budget), budget))
	}
	if rest := n.Alerts[len(listed):]; len(rest) > 0 {
		names := make([]string, len(rest))
		for i, a := range rest {
			names[i] = slackAlertName(a)
		}
		text := "*…and " + strconv.Itoa(len(rest)) + " more:* " + strings.Join(names, ", ")
		blocks = append(blocks, slackMrkdwnSection(text, slackMaxSectionText))
	}
	if len(n.Alerts) == 0 {
		blocks = append(blocks, slackMrkdwnSection("_No alert details in this notification._", slackMaxSectionText))
	}
	blocks = append(blocks, slack.NewDividerBlock(), slackContext(n))
	if len(blocks) > slackMaxBlocks { // cannot happen with the numbers above; kept as a guard
		blocks = append(blocks[:slackMaxBlocks-1], blocks[len(blocks)-1])
	}
	return blocks
}

// slackHeadline is the header's plain text: an emoji for the kind and severity, then the title.
func slackHeadline(n Notification) string {
	title := strings.TrimSpace(n.Title)
	if title == "" {
		title = n.Rule
	}
	switch n.Kind {
	case KindResolved:
		return "✅ Resolved: " + title
	case KindRepeat:
		return "🔁 Still firing: " + title
	}
	switch n.Severity {
	case SeverityCritical:
		return "🔴 Firing: " + title
	case SeverityWarning:
		return "🟠 Firing: " + title
	}
	return "🔵 Firing: " + title
}

// slackSummaryFields are the two-column facts under the header.
func slackSummaryFields(n Notification) []*slack.TextBlockObject {
	field := func(label, value string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType,
			slackTruncate("*"+label+"*\n"+value, slackMaxFieldText), false, false)
	}
	sev := slackEscape(string(n.Severity))
	if sev == "" {
		sev = "unknown"
	}
	fleet, vendors, hosts := 0, []string{}, 0
	seen := map[string]bool{}
	for _, a := range n.Alerts {
		if a.Fleet {
			fleet++
		}
		if a.Host != "" {
			hosts++
		}
		if a.Vendor != "" && !seen[a.Vendor] {
			seen[a.Vendor] = true
			vendors = append(vendors, a.Vendor)
		}
	}
	if fleet > 0 {
		sev += " · 🏢 fleet"
	}
	fields := []*slack.TextBlockObject{
		field("Severity", sev),
		field("Rule", slackCode(n.Rule)),
	}
	since, resolved := slackTimes(n)
	switch {
	case n.Kind == KindResolved && !resolved.IsZero():
		v := slackDate(resolved)
		if !since.IsZero() && resolved.After(since) {
			v += " (after " + slackDuration(resolved.Sub(since)) + ")"
		}
		fields = append(fields, field("Resolved", v))
	case !since.IsZero():
		v := slackDate(since)
		if at := n.CreatedAt; !at.IsZero() && at.After(since) {
			v += " (for " + slackDuration(at.Sub(since)) + ")"
		}
		fields = append(fields, field("Since", v))
	}
	scope := strconv.Itoa(len(n.Alerts)) + " alert" + slackPlural(len(n.Alerts))
	if hosts > 0 {
		scope += " · " + strconv.Itoa(hosts) + " host" + slackPlural(hosts)
	}
	if fleet > 0 {
		scope += " · " + strconv.Itoa(fleet) + " of the fleet"
	}
	fields = append(fields, field("Scope", scope))
	if len(vendors) > 0 {
		label := "Vendor"
		if len(vendors) > 1 {
			label = "Vendors"
		}
		fields = append(fields, field(label, slackEscape(strings.Join(vendors, ", "))))
	}
	return fields
}

// slackTimes returns when the notification's condition started (the earliest alert start) and,
// for a resolution, when it ended (the latest alert resolution).
func slackTimes(n Notification) (since, resolved time.Time) {
	for _, a := range n.Alerts {
		start := a.Since
		if start.IsZero() {
			start = a.FiredAt
		}
		if !start.IsZero() && (since.IsZero() || start.Before(since)) {
			since = start
		}
		if a.Resolved.After(resolved) {
			resolved = a.Resolved
		}
	}
	return since, resolved
}

// slackAlertText is one alert, in mrkdwn.
func slackAlertText(n Notification, a Alert, budget int) string {
	var b strings.Builder
	subject := strings.TrimSpace(a.Subject)
	if subject == "" {
		subject = slackAlertName(a)
	} else {
		subject = slackEscape(subject)
	}
	b.WriteString("*" + subject + "*")
	if a.Fleet {
		b.WriteString("  🏢 fleet")
	}
	if a.Severity != "" && a.Severity != n.Severity {
		b.WriteString("  _" + slackEscape(string(a.Severity)) + "_")
	}
	var facts []string
	if a.Host != "" {
		facts = append(facts, "*Host* "+slackCode(a.Host))
	}
	if a.Vendor != "" {
		facts = append(facts, "*Vendor* "+slackEscape(a.Vendor))
	}
	start := a.Since
	if start.IsZero() {
		start = a.FiredAt
	}
	if !start.IsZero() {
		facts = append(facts, "*Since* "+slackDate(start))
	}
	if !a.Resolved.IsZero() {
		facts = append(facts, "*Resolved* "+slackDate(a.Resolved))
	}
	if len(facts) > 0 {
		b.WriteString("\n" + strings.Join(facts, " · "))
	}
	if s := strings.TrimSpace(a.Summary); s != "" {
		b.WriteString("\n" + slackTruncate(slackEscape(slackOneLine(s)), slackMaxSummary))
	}
	// Evidence, line by line while the budget lasts, keeping room to say what was left out.
	var lines []string
	for _, e := range a.Evidence {
		if e = strings.TrimSpace(e); e != "" {
			lines = append(lines, "\n> "+slackTruncate(slackEscape(slackOneLine(e)), slackMaxEvidenceLine))
		}
	}
	used := utf8.RuneCountInString(b.String())
	for i, l := range lines {
		if i == slackMaxEvidence || used+utf8.RuneCountInString(l)+slackEvidenceMarkerRoom > budget {
			b.WriteString("\n> _…and " + strconv.Itoa(len(lines)-i) + " more lines of evidence_")
			break
		}
		b.WriteString(l)
		used += utf8.RuneCountInString(l)
	}
	return b.String()
}

// slackAlertName is a short name for an alert: its host, else its subject, else its key.
func slackAlertName(a Alert) string {
	switch {
	case a.Host != "":
		return slackCode(a.Host)
	case a.Subject != "":
		return slackEscape(slackOneLine(a.Subject))
	}
	return slackCode(a.Key)
}

// slackContext is the footer: links to the status page and the runbook, and the notification.
func slackContext(n Notification) *slack.ContextBlock {
	var elems []slack.MixedElement
	text := func(s string) {
		elems = append(elems, slack.NewTextBlockObject(slack.MarkdownType, slackTruncate(s, slackMaxSectionText), false, false))
	}
	if l := slackLink(n.StatusURL, "📊 Status page"); l != "" {
		text(l)
	}
	if n.RunbookURL != "" {
		u := n.RunbookURL
		if n.Rule != "" {
			u = strings.TrimRight(u, "#") + "#" + strings.ToLower(n.Rule)
		}
		if l := slackLink(u, "📖 Runbook: "+n.Rule); l != "" {
			text(l)
		}
	}
	text("aikwatch · " + slackCode(n.ID))
	return slack.NewContextBlock("", elems...)
}

// slackText is the message's plain text: what notifications and clients without blocks show.
func slackText(n Notification) string {
	var names []string
	for i, a := range n.Alerts {
		if i == 5 {
			names = append(names, "+"+strconv.Itoa(len(n.Alerts)-i)+" more")
			break
		}
		if a.Host != "" {
			names = append(names, a.Host)
		} else {
			names = append(names, slackOneLine(a.Subject))
		}
	}
	s := slackHeadline(n)
	if n.Severity != "" {
		s += " [" + string(n.Severity) + "]"
	}
	if len(names) > 0 {
		s += " — " + strings.Join(names, ", ")
	}
	return slackTruncate(slackEscape(s), slackMaxFallbackText)
}

// slackMrkdwnSection is a mrkdwn section of at most limit characters.
func slackMrkdwnSection(text string, limit int) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, slackTruncate(text, limit), false, false), nil, nil)
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackCode shows s as inline code (escaped; backticks cannot be escaped, so they go).
func slackCode(s string) string {
	s = strings.ReplaceAll(slackOneLine(s), "`", "'")
	if s == "" {
		return ""
	}
	return "`" + slackEscape(s) + "`"
}

// slackOneLine folds white space, new lines included.
func slackOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// slackLink is a mrkdwn link to an http(s) URL, or "" when u is not one.
func slackLink(u, label string) string {
	p, err := url.Parse(u)
	if u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	target := strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20").Replace(u)
	return "<" + target + "|" + strings.ReplaceAll(slackEscape(label), "|", "¦") + ">"
}

// slackDate is a date Slack shows in the reader's time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// slackDuration is a short human duration: "3d 4h", "2h 5m", "12m", "<1m".
func slackDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return strconv.Itoa(days) + "d " + strconv.Itoa(hours) + "h"
	case hours > 0:
		return strconv.Itoa(hours) + "h " + strconv.Itoa(mins) + "m"
	case mins > 0:
		return strconv.Itoa(mins) + "m"
	}
	return "<1m"
}

func slackPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// slackTruncate cuts s to at most limit characters, ending with an ellipsis, without splitting
// a character, an escape (&amp;), a link or date (<…>) or an inline code span.
func slackTruncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	if limit < 1 {
		return ""
	}
	r := []rune(s)
	cut := string(r[:limit-1])
	if i := strings.LastIndexByte(cut, '\n'); i > len(cut)*4/5 {
		cut = cut[:i] // end on a whole line when one ends near the limit
	}
	if lt := strings.LastIndexByte(cut, '<'); lt > strings.LastIndexByte(cut, '>') {
		cut = cut[:lt]
	}
	if amp := strings.LastIndexByte(cut, '&'); amp >= 0 && !strings.Contains(cut[amp:], ";") {
		cut = cut[:amp]
	}
	if strings.Count(cut, "`")%2 == 1 {
		cut = cut[:strings.LastIndexByte(cut, '`')]
	}
	return strings.TrimRight(cut, " \n") + "…"
}
