package flow

import "github.com/chatflow-dev/chatflow/runtime/expr"

// DropScratch lets go of the buffers Step reuses from one call to the
// next (the effects of the last step, the expression scope): a session kept
// in memory while its contact is idle then costs its state only, not the
// several kilobytes of a turn's effects. The next Step grows them again.
func (s *Session) DropScratch() {
	s.effects = nil
	s.scope = expr.Scope{}
	s.media = expr.Media{}
	s.cacheProg, s.cacheIdx = nil, 0
}
