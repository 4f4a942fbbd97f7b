package policy

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestAPIBaseURLProblem(t *testing.T) {
	allow := []string{"graph.facebook.com", "*.proxy.example.com"}
	for _, tt := range []struct {
		url   string
		hosts []string
		want  string // a fragment of the problem; "" when allowed
	}{
		{url: "", want: ""},
		{url: "https://graph.example.com/v21.0", want: ""},
		{url: "http://127.0.0.1:9090", want: ""},
		{url: "http://127.3.4.5/x", want: ""},
		{url: "http://localhost:8090", want: ""},
		{url: "http://[::1]:8090", want: ""},
		{url: "http://sandbox:8090/v21.0", want: "must be https: the executor sends the account's access token to it"},
		{url: "http://sandbox:8090/v21.0", want: "use https://sandbox:8090/v21.0"},
		{url: "http://127.0.0.1.nip.io/", want: "must be https"},
		{url: "http://10.0.0.1/", want: "must be https"},
		{url: "ftp://graph.example.com", want: "must be an https URL"},
		{url: "graph.example.com/v21.0", want: "must be an absolute URL"},
		{url: "https://graph.facebook.com/v21.0", hosts: allow, want: ""},
		{url: "https://GRAPH.facebook.com./v21.0", hosts: allow, want: ""},
		{url: "https://eu.proxy.example.com", hosts: allow, want: ""},
		{url: "https://proxy.example.com", hosts: allow, want: "host proxy.example.com is not one the operator allows"},
		{url: "https://evil.example.org", hosts: allow, want: "graph.facebook.com, *.proxy.example.com"},
		{url: "https://graph.facebook.com.evil.org", hosts: allow, want: "is not one the operator allows"},
		{url: "http://127.0.0.1:9090", hosts: allow, want: "host 127.0.0.1 is not one the operator allows"},
	} {
		got := APIBaseURLProblem(tt.url, tt.hosts)
		if tt.want == "" {
			NewWithT(t).Expect(got).To(BeEmpty(), tt.url)
		} else {
			NewWithT(t).Expect(got).To(ContainSubstring(tt.want), tt.url)
		}
	}
}
