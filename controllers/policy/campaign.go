package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// DefaultCampaignRate is a campaign's rate when spec.rate is unset.
const DefaultCampaignRate = 10

// AccountSendRate is how many messages per second a binding's account may
// send: its spec.sendRate, else the channel's default; and where that
// number comes from, for messages.
func AccountSendRate(b *v1alpha1.ChannelBinding) (rate int32, source string) {
	if b.Spec.SendRate > 0 {
		return b.Spec.SendRate, fmt.Sprintf("spec.sendRate of ChannelBinding %s", b.Name)
	}
	if r := channel.DefaultSendRate(message.Channel(b.Spec.Channel)); r > 0 {
		return int32(r), fmt.Sprintf("the %s default", b.Spec.Channel)
	}
	return channel.DefaultWhatsAppRate, "the default"
}

// CampaignRate is the rate a campaign starts contacts at: spec.rate (10
// when unset), lowered to the account's send rate when it exceeds it
// (clamped then says why). A flow without a binding sends nothing, so
// nothing lowers its rate.
func CampaignRate(spec *v1alpha1.CampaignSpec, b *v1alpha1.ChannelBinding) (rate int32, clamped string) {
	rate = spec.Rate
	if rate <= 0 {
		rate = DefaultCampaignRate
	}
	if b == nil {
		return rate, ""
	}
	account, source := AccountSendRate(b)
	if rate > account {
		return account, fmt.Sprintf("spec.rate %d exceeds the send rate of the %s account (%d per second, %s): the campaign starts %d contacts per second",
			rate, b.Spec.Channel, account, source, account)
	}
	return rate, ""
}

// CampaignFlowCheck judges the flow a campaign names: it returns ok, or
// the reason, a message that says what to do, and whether only the user
// can fix it (stalled) rather than time (a flow being published).
func CampaignFlowCheck(c *v1alpha1.Campaign, f *v1alpha1.ChatFlow) (reason, message string, stalled, ok bool) {
	name := c.Spec.FlowRef.Name
	switch {
	case f == nil:
		return v1alpha1.ReasonFlowNotFound, fmt.Sprintf(
			"ChatFlow %q does not exist in namespace %s: the campaign waits for it", name, c.Namespace), false, false
	case f.Spec.Trigger.Type != v1alpha1.TriggerManual:
		return v1alpha1.ReasonFlowNotManual, fmt.Sprintf(
			"ChatFlow %q is triggered by %s: a campaign starts Manual flows (trigger type Manual), through their run API", name, f.Spec.Trigger.Type), true, false
	case f.Spec.State != v1alpha1.StatePublished:
		return v1alpha1.ReasonFlowUnpublished, fmt.Sprintf(
			"ChatFlow %q is Unpublished: the campaign waits until it is Published (spec.state: Published)", name), false, false
	case f.Status.State != v1alpha1.StatePublished:
		return v1alpha1.ReasonFlowUnpublished, fmt.Sprintf(
			"ChatFlow %q is not live yet (see its Ready condition): the campaign waits for its executor", name), false, false
	}
	return "", "", false, true
}

// CampaignInputErrors are the inputs a campaign names (spec.inputs,
// spec.audience.columns.inputs, inline contacts' inputs) that its flow
// does not declare, each at its field.
func CampaignInputErrors(spec *v1alpha1.CampaignSpec, flowName string, fs *v1alpha1.ChatFlowSpec) field.ErrorList {
	declared := map[string]bool{}
	for _, in := range fs.Trigger.Inputs {
		declared[in.Name] = true
	}
	detail := func(name string) string {
		return fmt.Sprintf("ChatFlow %s declares no input %q in spec.trigger.inputs: use one of its inputs, or declare it there", flowName, name)
	}
	var errs field.ErrorList
	p := field.NewPath("spec")
	for i, in := range spec.Inputs {
		if !declared[in.Name] {
			errs = append(errs, field.Invalid(p.Child("inputs").Index(i).Child("name"), in.Name, detail(in.Name)))
		}
	}
	for i, m := range spec.Audience.Columns.Inputs {
		if !declared[m.Input] {
			errs = append(errs, field.Invalid(p.Child("audience", "columns", "inputs").Index(i).Child("input"), m.Input, detail(m.Input)))
		}
	}
	for i, ct := range spec.Audience.Contacts {
		keys := make([]string, 0, len(ct.Inputs))
		for k := range ct.Inputs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !declared[k] {
				errs = append(errs, field.Invalid(p.Child("audience", "contacts").Index(i).Child("inputs").Key(k), k, detail(k)))
			}
		}
	}
	return errs
}

// QuietHours are quiet hours read: minutes after midnight in a location.
type QuietHours struct {
	From, To int
	Location *time.Location
}

// ParseQuietHours reads quiet hours (HH:MM, an IANA time zone, UTC when
// unset), with a field error saying what does not read.
func ParseQuietHours(q *v1alpha1.QuietHours) (QuietHours, *field.Error) {
	p := field.NewPath("spec", "quietHours")
	out := QuietHours{Location: time.UTC}
	var err *field.Error
	if out.From, err = clockMinutes(p.Child("start"), q.Start); err != nil {
		return out, err
	}
	if out.To, err = clockMinutes(p.Child("end"), q.End); err != nil {
		return out, err
	}
	if out.From == out.To {
		return out, field.Invalid(p.Child("end"), q.End, "quiet hours need different start and end times")
	}
	if q.TimeZone != "" {
		loc, lerr := time.LoadLocation(q.TimeZone)
		if lerr != nil || strings.EqualFold(q.TimeZone, "local") {
			return out, field.Invalid(p.Child("timeZone"), q.TimeZone, "not a time zone the operator knows: use an IANA name such as Europe/Berlin or America/New_York")
		}
		out.Location = loc
	}
	return out, nil
}

func clockMinutes(p *field.Path, s string) (int, *field.Error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%2d:%2d", &h, &m); err != nil || n != 2 || len(s) != 5 || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, field.Invalid(p, s, "a time of day on the 24-hour clock, such as 21:00")
	}
	return h*60 + m, nil
}

// NormalizeContact turns a contact id as a list writes it into the id the
// flow's channel uses, which is also the session key its replies come
// back under: a WhatsApp number loses its +, spaces, dashes, dots and
// brackets ("+1 (555) 000-1111" is 15550001111) and must have 7 to 15
// digits; Messenger and Instagram ids are digits; a Viber id, or any id
// of a flow without a channel, is kept as written but may not hold spaces
// or braces. The second result says why an id cannot be a contact ("" when
// it can).
func NormalizeContact(ch message.Channel, id string) (string, string) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", "no contact id"
	}
	switch ch {
	case message.WhatsApp:
		var b strings.Builder
		for i, r := range id {
			switch {
			case r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
			default:
				return "", fmt.Sprintf("%q is not a phone number", clipID(id))
			}
		}
		if n := b.Len(); n < 7 || n > 15 {
			return "", fmt.Sprintf("%q is not a phone number of 7 to 15 digits", clipID(id))
		}
		return b.String(), ""
	case message.Messenger, message.Instagram:
		if len(id) > 64 || strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return "", fmt.Sprintf("%q is not a %s id (digits)", clipID(id), ch)
		}
		return id, ""
	}
	if len(id) > 128 || strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || r == '{' || r == '}' }) >= 0 {
		return "", fmt.Sprintf("%q is not a contact id: at most 128 characters without spaces or braces", clipID(id))
	}
	return id, ""
}

func clipID(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
