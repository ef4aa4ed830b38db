package slacktest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Block Kit limits the server enforces.
const (
	MaxBlocks          = 50
	MaxSectionText     = 3000
	MaxHeaderText      = 150
	MaxFields          = 10
	MaxFieldText       = 2000
	MaxContextElements = 10
)

// blocksValue returns raw, or nil when it carries no blocks.
func blocksValue(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return append(json.RawMessage(nil), t...)
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type     string            `json:"type"`
	Text     *textObject       `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

// validBlocks checks the Block Kit rules Slack answers invalid_blocks for (the ones that
// matter for text messages).
func validBlocks(raw json.RawMessage) bool {
	var blocks []block
	if json.Unmarshal(raw, &blocks) != nil || len(blocks) > MaxBlocks {
		return false
	}
	long := func(s string, max int) bool { return utf8.RuneCountInString(s) > max }
	for _, b := range blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || long(b.Text.Text, MaxHeaderText) {
				return false
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return false
			}
			if b.Text != nil && (b.Text.Text == "" || long(b.Text.Text, MaxSectionText)) {
				return false
			}
			if len(b.Fields) > MaxFields {
				return false
			}
			for _, f := range b.Fields {
				if f.Text == "" || long(f.Text, MaxFieldText) {
					return false
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > MaxContextElements {
				return false
			}
			for _, e := range b.Elements {
				var t textObject
				if json.Unmarshal(e, &t) != nil {
					return false
				}
				if (t.Type == "mrkdwn" || t.Type == "plain_text") && (t.Text == "" || long(t.Text, MaxSectionText)) {
					return false
				}
			}
		case "":
			return false
		}
	}
	return true
}
