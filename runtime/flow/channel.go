package flow

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// channelChecks reports what the target channel cannot render, from the
// capability table. Lengths are checked on static strings only: a template's
// length is known when it is rendered, and the channel then rejects it
// (the node's onError handles that).
func (c *compiler) channelChecks(p *field.Path, m *v1alpha1.SendMessageNode) {
	caps := c.caps
	ch := string(caps.Channel)

	if isStatic(m.Text) {
		limit, why := caps.TextMax, ""
		if len(m.Buttons) > 0 && caps.Buttons.Supported && caps.Buttons.TextMax > 0 {
			limit, why = caps.Buttons.TextMax, " with "+caps.Buttons.Form
		}
		if n := utf8.RuneCountInString(m.Text); n > limit {
			c.add(tooLong(p.Child("text"), fmt.Sprintf("the text is %d characters; %s allows at most %d%s: shorten it or split it over several messages", n, ch, limit, why)))
		}
	}

	if md := m.Media; md != nil {
		if kind, ok := mediaKinds[md.Type]; ok && !caps.SupportsMedia(kind) {
			kinds := make([]string, len(caps.Media))
			for i, k := range caps.Media {
				kinds[i] = string(k)
			}
			c.add(field.Invalid(p.Child("media", "type"), md.Type, fmt.Sprintf("%s cannot send %s attachments; it sends %s", ch, strings.ToLower(string(md.Type)), strings.Join(kinds, ", "))))
		}
	}

	if len(m.Buttons) > 0 {
		bp := p.Child("buttons")
		b := caps.Buttons
		switch {
		case !b.Supported && caps.QuickReplies.Supported:
			c.add(field.Forbidden(bp, fmt.Sprintf("%s has no reply buttons: use quickReplies (up to %d) instead", ch, caps.QuickReplies.Max)))
		case !b.Supported:
			c.add(field.Forbidden(bp, ch+" has no reply buttons"))
		default:
			if len(m.Buttons) > b.Max {
				hint := ""
				if caps.List.Supported {
					hint = ": use a list message for more choices"
				}
				c.add(tooMany(bp, len(m.Buttons), fmt.Sprintf("%s allows at most %d buttons (%s)%s", ch, b.Max, b.Form, hint)))
			}
			titles := map[string]int{}
			for j, btn := range m.Buttons {
				tp := bp.Index(j).Child("title")
				c.titleLen(tp, btn.Title, b.TitleMax, ch, "a button title")
				if b.UniqueTitles && btn.Title != "" {
					if k, dup := titles[btn.Title]; dup {
						c.add(dupErr(tp, btn.Title, fmt.Sprintf("%s needs unique button titles; %s has the same", ch, bp.Index(k).Child("title"))))
					} else {
						titles[btn.Title] = j
					}
				}
			}
		}
	}

	if len(m.QuickReplies) > 0 {
		qp := p.Child("quickReplies")
		q := caps.QuickReplies
		switch {
		case !q.Supported && caps.Buttons.Supported:
			alt := fmt.Sprintf("buttons (up to %d)", caps.Buttons.Max)
			if caps.List.Supported {
				alt += " or a list"
			}
			c.add(field.Forbidden(qp, fmt.Sprintf("%s has no quick replies: use %s instead", ch, alt)))
		case !q.Supported:
			c.add(field.Forbidden(qp, ch+" has no quick replies"))
		default:
			if len(m.QuickReplies) > q.Max {
				c.add(tooMany(qp, len(m.QuickReplies), fmt.Sprintf("%s allows at most %d quick replies", ch, q.Max)))
			}
			for j, btn := range m.QuickReplies {
				c.titleLen(qp.Index(j).Child("title"), btn.Title, q.TitleMax, ch, "a quick reply title")
			}
		}
	}

	if l := m.List; l != nil {
		lp := p.Child("list")
		ll := caps.List
		if !ll.Supported {
			alt := ""
			switch {
			case caps.Buttons.Supported && caps.QuickReplies.Supported:
				alt = fmt.Sprintf(": use buttons (up to %d) or quickReplies (up to %d)", caps.Buttons.Max, caps.QuickReplies.Max)
			case caps.Buttons.Supported:
				alt = fmt.Sprintf(": use buttons (up to %d)", caps.Buttons.Max)
			case caps.QuickReplies.Supported:
				alt = fmt.Sprintf(": use quickReplies (up to %d)", caps.QuickReplies.Max)
			}
			c.add(field.Forbidden(lp, "list messages are WhatsApp only; "+ch+" cannot show them"+alt))
		} else {
			c.titleLen(lp.Child("button"), l.Button, ll.ButtonMax, ch, "the list button label")
			sp := lp.Child("sections")
			if len(l.Sections) > ll.MaxSections {
				c.add(tooMany(sp, len(l.Sections), fmt.Sprintf("%s allows at most %d sections", ch, ll.MaxSections)))
			}
			rows := 0
			for j, s := range l.Sections {
				pj := sp.Index(j)
				rows += len(s.Rows)
				if s.Title == "" && len(l.Sections) > 1 {
					c.add(field.Required(pj.Child("title"), ch+" needs a title on every section when a list has several"))
				}
				c.titleLen(pj.Child("title"), s.Title, ll.SectionTitleMax, ch, "a section title")
				for k, r := range s.Rows {
					pk := pj.Child("rows").Index(k)
					c.titleLen(pk.Child("title"), r.Title, ll.RowTitleMax, ch, "a row title")
					c.titleLen(pk.Child("description"), r.Description, ll.RowDescriptionMax, ch, "a row description")
					if len(r.ID) > ll.RowIDMax {
						c.add(tooLong(pk.Child("id"), fmt.Sprintf("%s allows row ids of at most %d characters", ch, ll.RowIDMax)))
					}
				}
			}
			if rows > ll.MaxRows {
				c.add(tooMany(sp, rows, fmt.Sprintf("%s allows at most %d rows in all sections together: split the menu over two messages", ch, ll.MaxRows)))
			}
		}
	}

	if m.Template != nil && !caps.Templates {
		c.add(field.Forbidden(p.Child("template"), "message templates are WhatsApp only; send text, media or buttons on "+ch))
	}

	if m.Tag != "" {
		switch {
		case len(caps.Tags) == 0:
			c.add(field.Forbidden(p.Child("tag"), "message tags are Messenger and Instagram only; remove tag for "+ch))
		case !caps.SupportsTag(m.Tag):
			c.add(field.Invalid(p.Child("tag"), m.Tag, fmt.Sprintf("%s accepts only %s (the other tags are rejected with error 100)", ch, strings.Join(caps.Tags, ", "))))
		}
	}
}

// titleLen reports a static string longer than max characters.
func (c *compiler) titleLen(p *field.Path, s string, max int, ch, what string) {
	if max <= 0 || !isStatic(s) {
		return
	}
	if n := utf8.RuneCountInString(s); n > max {
		c.add(tooLong(p, fmt.Sprintf("%s is %d characters; %s allows at most %d", what, n, ch, max)))
	}
}

func isStatic(s string) bool { return !strings.Contains(s, "{{") }

func tooLong(p *field.Path, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeTooLong, Field: p.String(), Detail: detail}
}

func tooMany(p *field.Path, n int, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeTooMany, Field: p.String(), BadValue: n, Detail: detail}
}
