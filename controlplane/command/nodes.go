package command

import (
	"time"

	"github.com/codeint/codeint/controlplane/structs"
)

// NodeDownRequest marks a node that stopped heartbeating as DOWN. In the
// same transaction every sandbox on the node that is not terminal becomes
// LOST with StopReason NODE_LOST and StoppedAt At, so it stops being
// billed. A node already DOWN is left as it is (an empty result); an
// unknown node fails with NOT_FOUND.
type NodeDownRequest struct {
	NodeID string
	At     time.Time
}

// NodeDownResult is the result of NodeDown: the node as it now is and the
// ids of the sandboxes that became LOST, oldest first.
type NodeDownResult struct {
	Node structs.Node `json:"node"`
	Lost []string     `json:"lost,omitempty"`
}

// ServerUpsertRequest records a control-plane server of the region, or
// replaces its record.
type ServerUpsertRequest struct {
	Server structs.Server
}

// ServerRemoveRequest forgets a control-plane server. Removing an id that
// is not recorded does nothing.
type ServerRemoveRequest struct {
	ID string
}

// NodeDrainRequest starts or ends a node's drain: a draining node takes no
// new sandboxes and shrinks its warm pools; what runs there runs on.
// Reason says who asked ("nomad: draining", "operator"). An unknown node
// fails with NOT_FOUND; a node already in the asked state is left as it is.
// A heartbeat's re-registration keeps the drain.
type NodeDrainRequest struct {
	NodeID   string
	Draining bool
	Reason   string
	At       time.Time
}
