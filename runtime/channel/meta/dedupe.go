package meta

// Dedupe drops repeats of a message id inside one webhook request: Meta may
// put the same wamid twice in one POST, or the same Messenger mid in two
// entries. Cross-request dedupe (≥ 7 days) is the executor's store's job.
// The zero value is ready to use; it is not safe for concurrent use (one
// per request).
type Dedupe struct {
	seen map[string]struct{}
}

// Seen reports whether id was already seen, and records it. Empty ids are
// never considered seen: they cannot be deduplicated.
func (d *Dedupe) Seen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := d.seen[id]; ok {
		return true
	}
	if d.seen == nil {
		d.seen = map[string]struct{}{}
	}
	d.seen[id] = struct{}{}
	return false
}
