package lint

import "github.com/chatflow-dev/chatflow/internal/manifest"

// LintAfresh is Lint with nothing remembered from earlier calls.
func LintAfresh(sources []manifest.Source) *Result { return lint(sources, false) }
