package v1alpha1

// ForwardToFlowNode hands the contact to another Published flow of the same
// namespace. The called flow runs on the caller's account (the contact keeps
// writing to, and hearing from, the same number) inside the caller's
// session: the operator gives the caller's executor the called flow, and a
// change of either flow rolls the caller.
//
// Without return the caller's run ends here and the called flow's run takes
// the contact over; with return the called flow's End comes back to this
// node's next, like a subroutine (a call stack in the session, at most 8
// deep). A flow may not reach itself through forwards.
type ForwardToFlowNode struct {
	// flowRef names the ChatFlow to hand the contact to. Its trigger type
	// must be Manual or the caller's channel.
	// +required
	FlowRef FlowReference `json:"flowRef"`

	// variables the called flow starts with, as its inputs (trigger.<name>)
	// and variables (vars.<name>), computed in the caller: each a template
	// value or a CEL expr. Required inputs of the called flow must be given.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Variables []Assignment `json:"variables,omitempty"`

	// return makes the called flow's End come back to this node's next,
	// with the caller's variables as they were. Without it the node has no
	// next: the caller's run ends when the called flow takes over.
	// +optional
	Return bool `json:"return,omitempty"`

	// saveAs stores the called flow's variables, as a map, in
	// vars.<saveAs> of the caller when it returns. Only with return.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	SaveAs string `json:"saveAs,omitempty"`
}

// ReasonForwardTargetUnavailable: a flow the ChatFlow forwards to does not
// exist or is not Published; the last good revision stays live.
const ReasonForwardTargetUnavailable = "ForwardTargetUnavailable"
