package builders

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretsVersion identifies the current content of the Secrets an executor
// mounts, from their metadata alone: uid and resourceVersion change
// whenever a Secret is replaced or updated. The operator thereby never
// holds Secret data to decide a restart. It is empty when there are none.
func SecretsVersion(secrets []metav1.ObjectMeta) string {
	if len(secrets) == 0 {
		return ""
	}
	s := slices.Clone(secrets)
	slices.SortFunc(s, func(a, b metav1.ObjectMeta) int { return cmp.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, m := range s {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", m.Name, m.UID, m.ResourceVersion)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
