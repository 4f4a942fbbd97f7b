package messenger

import (
	"github.com/chatflow-dev/chatflow/runtime/channel/capability"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Flavor is Messenger or Instagram: the channel name, the webhook object and
// the capability row differ, the code does not.
type Flavor struct {
	channel message.Channel
	object  string
}

// The flavours.
var (
	// Messenger is Facebook Messenger: webhooks of object "page", entry.id
	// the Page id, contacts by Page-scoped id (PSID).
	Messenger = Flavor{channel: message.Messenger, object: meta.ObjectPage}
	// Instagram is Instagram Messaging: webhooks of object "instagram",
	// entry.id the Instagram professional account id, contacts by
	// Instagram-scoped id (IGSID).
	Instagram = Flavor{channel: message.Instagram, object: meta.ObjectInstagram}
)

// FlavorOf returns the flavour of a channel; false for channels other than
// Messenger and Instagram.
func FlavorOf(ch message.Channel) (Flavor, bool) {
	switch ch {
	case message.Messenger:
		return Messenger, true
	case message.Instagram:
		return Instagram, true
	}
	return Flavor{}, false
}

// Channel is the flavour's channel name.
func (f Flavor) Channel() message.Channel { return f.channel }

// Object is the webhook envelope's "object" value.
func (f Flavor) Object() string { return f.object }

// caps is the flavour's row of the capability table.
func (f Flavor) caps() capability.Capabilities {
	c, _ := capability.For(f.channel)
	return c
}

func (f Flavor) String() string {
	if f.channel == "" {
		return "unknown flavour"
	}
	return string(f.channel)
}
