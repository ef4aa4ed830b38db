// Package slacktest is a fake Slack for tests: an HTTPS server on loopback that answers like
// Slack's incoming webhooks (POST /services/T…/B…/X…) and like the parts of the Web API that
// aikwatch uses (chat.postMessage, conversations.history, conversations.replies).
//
// The server presents a certificate for the host names [WebhookHost] and [APIHost] (reserved
// ".test" names, never resolvable in DNS) issued by a throw-away CA; [Server.Client] returns an
// HTTP client that trusts that CA and dials every connection to the server's loopback address,
// so the TLS handshake carries the real-looking server name (SNI) and nothing leaves the
// machine.
//
// Like Slack, the Web API answers HTTP 200 with {"ok":false,"error":"…"} for request errors
// (invalid_auth, channel_not_found, invalid_blocks…), 429 with Retry-After when rate limited,
// and 5xx with an HTML body when it is unwell; webhooks answer 200 "ok" or a 4xx/5xx status
// with a short plain-text reason (no_service, invalid_payload…). Block Kit limits are checked
// (at most 50 blocks, section text ≤ 3000 characters, header ≤ 150, ≤ 10 fields of ≤ 2000,
// ≤ 10 context elements) and a message breaking them is refused with invalid_blocks.
//
// Faults are programmed with [Server.Fail] and [Server.FailOn]: the next n matching requests
// are answered with the fault instead of the normal answer. Every accepted message is recorded
// and returned by [Server.Messages]. A Server is safe for concurrent use; [Server.Close]
// releases hanging handlers and waits for them.
package slacktest
