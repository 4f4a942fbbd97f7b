package chat

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

// ChoiceKind says how picking a choice goes back to the flow.
type ChoiceKind string

// The kinds of choices a flow offers.
const (
	// ChoiceButton is a WhatsApp reply button (interactive button_reply).
	ChoiceButton ChoiceKind = "button"
	// ChoiceListRow is a WhatsApp list row (interactive list_reply).
	ChoiceListRow ChoiceKind = "list"
	// ChoiceTemplateButton is a quick-reply button of a WhatsApp template.
	ChoiceTemplateButton ChoiceKind = "template-button"
	// ChoiceQuickReply is a Messenger or Instagram quick reply.
	ChoiceQuickReply ChoiceKind = "quick-reply"
	// ChoicePostback is a Messenger or Instagram postback button.
	ChoicePostback ChoiceKind = "postback"
	// ChoiceKeyboard is a Viber reply keyboard button.
	ChoiceKeyboard ChoiceKind = "keyboard"
)

// Choice is one button, quick reply or list row a message offers.
type Choice struct {
	Kind ChoiceKind
	// ID is what goes back to the flow (button id, payload, or for Viber
	// the ActionBody text).
	ID          string
	Title       string
	Description string
	// Section is the title of a list row's section.
	Section string
}

// Reply is one message the flow sent, as the user reads it.
type Reply struct {
	// Seq is the sandbox's sequence number of the message.
	Seq int64
	// MessageID is the id the sandbox gave it (wamid, mid, token).
	MessageID string
	// Lines are the text, media and template lines.
	Lines   []string
	Choices []Choice
	// Tracking is Viber's tracking_data, returned with the next reply.
	Tracking string
}

// record is a message the sandbox accepted (GET /sandbox/messages), as
// the sandbox itself describes it.
type record = sandbox.Record

// parseReply reads a send request the sandbox recorded, in the channel's
// wire format, as a Reply.
func parseReply(r record) Reply {
	out := Reply{Seq: r.Seq, MessageID: r.MessageID}
	var err error
	switch strings.ToLower(r.Channel) {
	case "whatsapp":
		err = parseWhatsApp(r.Body, &out)
	case "messenger", "instagram":
		err = parseMessenger(r.Body, &out)
	case "viber":
		err = parseViber(r.Body, &out)
	default:
		err = fmt.Errorf("unknown channel %q", r.Channel)
	}
	if err != nil || (len(out.Lines) == 0 && len(out.Choices) == 0) {
		out.Lines = []string{"[" + r.Channel + " message] " + string(r.Body)}
	}
	return out
}

type waMedia struct {
	Link     string `json:"link"`
	ID       string `json:"id"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

func (m *waMedia) describe(kind string) string {
	if m == nil {
		return ""
	}
	s := "[" + kind + "] " + firstNonEmpty(m.Link, m.ID)
	if m.Filename != "" {
		s += " (" + m.Filename + ")"
	}
	if m.Caption != "" {
		s += " " + m.Caption
	}
	return s
}

func parseWhatsApp(body []byte, out *Reply) error {
	var b struct {
		Type string `json:"type"`
		Text *struct {
			Body string `json:"body"`
		} `json:"text"`
		Image    *waMedia `json:"image"`
		Video    *waMedia `json:"video"`
		Audio    *waMedia `json:"audio"`
		Document *waMedia `json:"document"`
		Sticker  *waMedia `json:"sticker"`

		Interactive *struct {
			Type   string `json:"type"`
			Header *struct {
				Type     string   `json:"type"`
				Text     string   `json:"text"`
				Image    *waMedia `json:"image"`
				Video    *waMedia `json:"video"`
				Document *waMedia `json:"document"`
			} `json:"header"`
			Body struct {
				Text string `json:"text"`
			} `json:"body"`
			Action struct {
				Button  string `json:"button"`
				Buttons []struct {
					Reply struct {
						ID    string `json:"id"`
						Title string `json:"title"`
					} `json:"reply"`
				} `json:"buttons"`
				Sections []struct {
					Title string `json:"title"`
					Rows  []struct {
						ID          string `json:"id"`
						Title       string `json:"title"`
						Description string `json:"description"`
					} `json:"rows"`
				} `json:"sections"`
			} `json:"action"`
		} `json:"interactive"`
		Template *struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
			Components []struct {
				Type       string `json:"type"`
				SubType    string `json:"sub_type"`
				Parameters []struct {
					Type    string `json:"type"`
					Text    string `json:"text"`
					Payload string `json:"payload"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	add := func(s string) {
		if s != "" {
			out.Lines = append(out.Lines, s)
		}
	}
	switch {
	case b.Text != nil:
		add(b.Text.Body)
	case b.Interactive != nil:
		it := b.Interactive
		if h := it.Header; h != nil {
			add(h.Text)
			add(h.Image.describe("image"))
			add(h.Video.describe("video"))
			add(h.Document.describe("document"))
		}
		add(it.Body.Text)
		for _, btn := range it.Action.Buttons {
			out.Choices = append(out.Choices, Choice{Kind: ChoiceButton, ID: btn.Reply.ID, Title: btn.Reply.Title})
		}
		if len(it.Action.Sections) > 0 {
			add("[list: " + it.Action.Button + "]")
		}
		for _, s := range it.Action.Sections {
			for _, row := range s.Rows {
				out.Choices = append(out.Choices, Choice{Kind: ChoiceListRow, ID: row.ID, Title: row.Title,
					Description: row.Description, Section: s.Title})
			}
		}
	case b.Template != nil:
		t := b.Template
		var params []string
		for _, c := range t.Components {
			for _, p := range c.Parameters {
				switch {
				case c.SubType == "quick_reply" && p.Payload != "":
					out.Choices = append(out.Choices, Choice{Kind: ChoiceTemplateButton, ID: p.Payload, Title: p.Payload})
				case p.Text != "":
					params = append(params, p.Text)
				}
			}
		}
		line := fmt.Sprintf("[template %s (%s)]", t.Name, t.Language.Code)
		if len(params) > 0 {
			line += " " + strings.Join(params, " | ")
		}
		add(line)
	default:
		add(b.Image.describe("image"))
		add(b.Video.describe("video"))
		add(b.Audio.describe("audio"))
		add(b.Document.describe("document"))
		add(b.Sticker.describe("sticker"))
	}
	return nil
}

func parseMessenger(body []byte, out *Reply) error {
	var b struct {
		Message struct {
			Text       string `json:"text"`
			Attachment *struct {
				Type    string `json:"type"`
				Payload struct {
					URL     string `json:"url"`
					Text    string `json:"text"`
					Buttons []struct {
						Type    string `json:"type"`
						Title   string `json:"title"`
						Payload string `json:"payload"`
						URL     string `json:"url"`
					} `json:"buttons"`
				} `json:"payload"`
			} `json:"attachment"`
			QuickReplies []struct {
				Title   string `json:"title"`
				Payload string `json:"payload"`
			} `json:"quick_replies"`
		} `json:"message"`
		Tag string `json:"tag"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	if b.Message.Text != "" {
		out.Lines = append(out.Lines, b.Message.Text)
	}
	if a := b.Message.Attachment; a != nil {
		switch a.Type {
		case "template":
			if a.Payload.Text != "" {
				out.Lines = append(out.Lines, a.Payload.Text)
			}
			for _, btn := range a.Payload.Buttons {
				if btn.Type == "postback" {
					out.Choices = append(out.Choices, Choice{Kind: ChoicePostback, ID: btn.Payload, Title: btn.Title})
				} else if btn.URL != "" {
					out.Lines = append(out.Lines, "["+btn.Title+"] "+btn.URL)
				}
			}
		default:
			out.Lines = append(out.Lines, "["+a.Type+"] "+a.Payload.URL)
		}
	}
	for _, q := range b.Message.QuickReplies {
		out.Choices = append(out.Choices, Choice{Kind: ChoiceQuickReply, ID: q.Payload, Title: q.Title})
	}
	return nil
}

func parseViber(body []byte, out *Reply) error {
	var b struct {
		Type         string `json:"type"`
		Text         string `json:"text"`
		Media        string `json:"media"`
		TrackingData string `json:"tracking_data"`
		Keyboard     *struct {
			Buttons []struct {
				ActionType string `json:"ActionType"`
				ActionBody string `json:"ActionBody"`
				Text       string `json:"Text"`
			} `json:"Buttons"`
		} `json:"keyboard"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	if b.Type == "picture" {
		out.Lines = append(out.Lines, "[picture] "+b.Media)
	}
	if b.Text != "" {
		out.Lines = append(out.Lines, b.Text)
	}
	if b.Keyboard != nil {
		for _, btn := range b.Keyboard.Buttons {
			if btn.ActionType == "reply" || btn.ActionType == "" {
				out.Choices = append(out.Choices, Choice{Kind: ChoiceKeyboard, ID: btn.ActionBody, Title: firstNonEmpty(btn.Text, btn.ActionBody)})
			}
		}
	}
	out.Tracking = b.TrackingData
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
