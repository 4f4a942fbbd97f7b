package cli

import "testing"

// Golden conversations of `chatflow chat --file`: a flow of a file run in
// this process, its HTTP calls answered from the test file's stubs, its AI
// nodes by the sandbox's stand-in model.
func TestLocalChatGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"chat-local", "Where is my order?\n12\n10452\n", []string{"chat", "--file", "../../config/samples/order-status.yaml"}},
		{"chat-local-manual", "1\n", []string{"chat", "-f", "../../config/samples/appointment-reminder.yaml",
			"--input", "patientName=Sam", "--input", "appointmentTime=Tue 10:30", "--contact", "15550100200", "--name", "Sam"}},
		{"chat-local-handoff", "hi\n4\nhello?\n/resume\n", []string{"chat", "-f", "../../config/samples/instagram-faq.yaml"}},
		{"chat-local-ai", "When are your classes?\nmy order 10452 is late\nI want to talk to a person\n", []string{"chat", "-f", "../../config/samples/ai-support.yaml"}},
		{"chat-local-wrong-channel", "", []string{"chat", "-f", "../../config/samples/order-status.yaml", "--channel", "Viber"}},
		{"chat-remote-no-flow", "", []string{"chat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name+".golden", run(t, tc.stdin, tc.args...))
		})
	}
}
