// Package capability owns the channel capability matrix: what each messaging
// channel can render (text length, reply buttons, list messages, quick
// replies, media kinds, templates, message tags). It is pure data with a few
// lookups, so the flow validator, the channel renderers and the generated
// documentation (docs/channels.md) all read the same table.
//
// It imports only runtime/message and must not do I/O nor import the
// executor, store or channel packages.
//
// The numbers come from ../shared/reference/channels.md (Meta and Viber
// documentation, see its source tags); the few it does not give are marked
// "not in channels.md" where they are set and should be confirmed in staging.
package capability

import (
	"slices"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Capabilities is what one channel can render. A zero limit means "no limit
// enforced here" only where Supported is true; an unsupported feature has
// Supported false and zero limits.
type Capabilities struct {
	// Channel the row describes.
	Channel message.Channel
	// TextMax is the maximum length of a text message, in characters.
	TextMax int
	// Buttons are reply buttons the contact taps (the id comes back as
	// message.buttonId).
	Buttons Buttons
	// List is the menu message (WhatsApp list).
	List List
	// QuickReplies are the chips shown above the composer (Messenger, Instagram).
	QuickReplies QuickReplies
	// Media lists the attachment kinds the channel can send, in the order of
	// message's media constants.
	Media []message.MediaKind
	// Templates says whether approved message templates can be sent (WhatsApp).
	Templates bool
	// Tags lists the message tags the channel accepts outside the 24-hour
	// window (Messenger, Instagram). Empty: tags are not supported.
	Tags []string
}

// Buttons describes reply buttons.
type Buttons struct {
	Supported bool
	// Form is how the channel shows them: "reply buttons", "button
	// template", "keyboard".
	Form string
	// Max is the number of buttons in one message.
	Max int
	// TitleMax is the maximum length of a button title, in characters.
	TitleMax int
	// TextMax is the maximum length of the text that carries the buttons,
	// when it is lower than the channel's TextMax (0: TextMax applies).
	TextMax int
	// UniqueTitles says the channel rejects two buttons with the same title.
	UniqueTitles bool
}

// List describes list (menu) messages.
type List struct {
	Supported bool
	// MaxRows is the number of rows in all sections together.
	MaxRows int
	// MaxSections is the number of sections.
	MaxSections int
	// ButtonMax is the maximum length of the label of the button that opens the list.
	ButtonMax int
	// RowTitleMax, RowDescriptionMax and SectionTitleMax are length limits in characters.
	RowTitleMax       int
	RowDescriptionMax int
	SectionTitleMax   int
	// RowIDMax is the maximum length of a row id.
	RowIDMax int
}

// QuickReplies describes quick replies.
type QuickReplies struct {
	Supported bool
	// Max is the number of quick replies in one message.
	Max int
	// TitleMax is the maximum length of a title, in characters.
	TitleMax int
}

// The table, in the stable order of All. Kept as a function of literals
// rather than a package variable so callers can never mutate the shared rows.
func table() []Capabilities {
	return []Capabilities{
		{
			Channel: message.WhatsApp,
			// channels.md §1.5: text body max 4096 characters.
			TextMax: 4096,
			// §1.5: up to 3 buttons, title ≤ 20, unique; body ≤ 1024.
			Buttons: Buttons{Supported: true, Form: "reply buttons", Max: 3, TitleMax: 20, TextMax: 1024, UniqueTitles: true},
			// §1.5: button label ≤ 20; up to 10 sections with up to 10 rows
			// in all; row id ≤ 200; row title ≤ 24; description ≤ 72. The
			// section title limit (24) is Meta's list doc value, not in channels.md.
			List: List{Supported: true, MaxRows: 10, MaxSections: 10, ButtonMax: 20,
				RowTitleMax: 24, RowDescriptionMax: 72, SectionTitleMax: 24, RowIDMax: 200},
			Media:     []message.MediaKind{message.Image, message.Video, message.Audio, message.Document, message.Sticker},
			Templates: true,
		},
		{
			Channel: message.Messenger,
			// §2.5: text "less than 2000 characters": at most 1999.
			TextMax: 1999,
			// §2.5: postback buttons in a button template; Meta allows 3 per
			// template, titles ≤ 20. The 640-character template text limit is
			// Meta's button template reference, not in channels.md.
			Buttons:      Buttons{Supported: true, Form: "button template", Max: 3, TitleMax: 20, TextMax: 640},
			QuickReplies: QuickReplies{Supported: true, Max: 13, TitleMax: 20},
			// §2.3/§2.5: image, audio, video and file attachments.
			Media: []message.MediaKind{message.Image, message.Video, message.Audio, message.Document},
			// §2.6: CONFIRMED_EVENT_UPDATE, ACCOUNT_UPDATE and
			// POST_PURCHASE_UPDATE get error code 100 since 2026-04-27, so
			// only HUMAN_AGENT is still accepted.
			Tags: []string{"HUMAN_AGENT"},
		},
		{
			Channel: message.Instagram,
			// §3.5: text "must be less than 1000 characters": at most 999.
			TextMax: 999,
			// Instagram has no reply buttons: use quick replies (§3.5).
			QuickReplies: QuickReplies{Supported: true, Max: 13, TitleMax: 20},
			// §3.5: audio, image and video attachments.
			Media: []message.MediaKind{message.Image, message.Video, message.Audio},
			// §3.6: only HUMAN_AGENT is available for Instagram.
			Tags: []string{"HUMAN_AGENT"},
		},
		{
			Channel: message.Viber,
			// §4.5: text ≤ 7000 characters.
			TextMax: 7000,
			// §4.5: a keyboard of reply buttons. 24 buttons and 250-character
			// button texts are Viber's keyboard doc values, not in channels.md.
			Buttons: Buttons{Supported: true, Form: "keyboard", Max: 24, TitleMax: 250},
			// §4.5 lists picture, video, file and sticker messages, but a
			// video needs its size in bytes, a file its size and name, and
			// a sticker a sticker_id rather than a URL: a flow's media is a
			// URL (and a caption), so only pictures can be sent.
			Media: []message.MediaKind{message.Image},
		},
	}
}

// All returns the capabilities of every channel in a stable order
// (WhatsApp, Messenger, Instagram, Viber). The result is a fresh copy.
func All() []Capabilities { return table() }

// For returns the capabilities of a channel; false for Manual, empty or
// unknown channels.
func For(ch message.Channel) (Capabilities, bool) {
	for _, c := range table() {
		if c.Channel == ch {
			return c, true
		}
	}
	return Capabilities{}, false
}

// SupportsMedia reports whether the channel can send the media kind.
func (c Capabilities) SupportsMedia(k message.MediaKind) bool { return slices.Contains(c.Media, k) }

// SupportsTag reports whether the channel accepts the message tag.
func (c Capabilities) SupportsTag(tag string) bool { return slices.Contains(c.Tags, tag) }
