package store

import (
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// nodeUpsert records a node. It publishes REGISTERED for a node the state
// did not know and READY for a DOWN node that is READY again.
func (f *fsm) nodeUpsert(index uint64, r *command.NodeUpsertRequest) any {
	node := r.Node
	if node.ID == "" {
		return apperr.New(apperr.InvalidArgument, "a node needs an id")
	}
	var evtType structs.NodeEventType
	err := f.write(index, func(txn *state.WriteTxn) error {
		prev := txn.NodeByID(node.ID)
		if prev != nil {
			// A drain is the operator's or Nomad's, never the agent's.
			node.Draining, node.DrainReason = prev.Draining, prev.DrainReason
		}
		switch {
		case prev == nil:
			evtType = structs.NodeEventRegistered
		case prev.Status == structs.NodeDown && node.Status == structs.NodeReady:
			evtType = structs.NodeEventReady
		}
		return txn.UpsertNode(&node)
	})
	if err != nil {
		return err
	}
	if evtType != "" {
		f.emitNode(structs.NodeEvent{Index: index, Type: evtType, At: node.UpdatedAt, Node: &node})
	}
	return result(&node, nil)
}

// nodeDown marks a silent node DOWN and, in the same transaction, every
// sandbox on it that is not terminal LOST, so billing stops at r.At. A
// node already DOWN is left alone.
func (f *fsm) nodeDown(index uint64, r *command.NodeDownRequest) any {
	switch {
	case r.NodeID == "":
		return apperr.New(apperr.InvalidArgument, "node down: the command names no node")
	case r.At.IsZero():
		return apperr.New(apperr.InvalidArgument, "node %s down: the command has no time", r.NodeID)
	}
	var (
		node    *structs.Node
		lost    []*structs.Sandbox
		already bool
	)
	err := f.write(index, func(txn *state.WriteTxn) error {
		cur := txn.NodeByID(r.NodeID)
		if cur == nil {
			return apperr.New(apperr.NotFound, "node %s not found", r.NodeID)
		}
		if cur.Status == structs.NodeDown {
			node, already = cur, true
			return nil
		}
		n := *cur
		n.Status, n.UpdatedAt = structs.NodeDown, r.At
		node = &n
		if err := txn.UpsertNode(node); err != nil {
			return err
		}
		for _, sb := range txn.SandboxesByNode(r.NodeID) {
			if sb.State.Terminal() {
				continue
			}
			c := sb.Copy()
			c.State, c.StopReason, c.StoppedAt, c.ModifyIndex = structs.SandboxLost, structs.StopReasonNodeLost, r.At, index
			if err := txn.UpsertSandbox(c); err != nil {
				return err
			}
			lost = append(lost, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res := &command.NodeDownResult{Node: *node}
	if already {
		return res
	}
	for _, sb := range lost {
		res.Lost = append(res.Lost, sb.ID)
		f.emit(structs.SandboxEvent{Index: index, Type: structs.SandboxEventStateChanged, At: r.At, Sandbox: sb})
	}
	f.emitNode(structs.NodeEvent{Index: index, Type: structs.NodeEventDown, At: r.At, Node: node,
		Lost: append([]string(nil), res.Lost...)})
	return res
}

func (f *fsm) serverUpsert(index uint64, r *command.ServerUpsertRequest) any {
	srv := r.Server
	if srv.ID == "" {
		return apperr.New(apperr.InvalidArgument, "a server needs an id")
	}
	err := f.write(index, func(txn *state.WriteTxn) error { return txn.UpsertServer(&srv) })
	return result(&srv, err)
}

func (f *fsm) serverRemove(index uint64, r *command.ServerRemoveRequest) any {
	if r.ID == "" {
		return apperr.New(apperr.InvalidArgument, "server remove: the command names no server")
	}
	if err := f.write(index, func(txn *state.WriteTxn) error { return txn.DeleteServer(r.ID) }); err != nil {
		return err
	}
	return nil
}

func (f *fsm) emitNode(ev structs.NodeEvent) {
	if f.onNodeEvent != nil {
		f.onNodeEvent(ev)
	}
}

// nodeDrain starts or ends a node's drain.
func (f *fsm) nodeDrain(index uint64, r *command.NodeDrainRequest) any {
	switch {
	case r.NodeID == "":
		return apperr.New(apperr.InvalidArgument, "node drain: the command names no node")
	case r.At.IsZero():
		return apperr.New(apperr.InvalidArgument, "node %s drain: the command has no time", r.NodeID)
	}
	var node *structs.Node
	changed := false
	err := f.write(index, func(txn *state.WriteTxn) error {
		cur := txn.NodeByID(r.NodeID)
		if cur == nil {
			return apperr.New(apperr.NotFound, "node %s not found", r.NodeID)
		}
		if cur.Draining == r.Draining && (!r.Draining || cur.DrainReason == r.Reason) {
			node = cur
			return nil
		}
		n := *cur
		n.Draining, n.DrainReason, n.UpdatedAt = r.Draining, r.Reason, r.At
		if !r.Draining {
			n.DrainReason = ""
		}
		node, changed = &n, true
		return txn.UpsertNode(node)
	})
	if err != nil {
		return err
	}
	if changed {
		evt := structs.NodeEventDrain
		if !r.Draining {
			evt = structs.NodeEventEligible
		}
		f.emitNode(structs.NodeEvent{Index: index, Type: evt, At: r.At, Node: node})
	}
	return result(node, nil)
}
