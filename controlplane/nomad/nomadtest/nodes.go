package nomadtest

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/nomad/api"
)

// NodeChange changes a node, held as Nomad's JSON (GET /v1/node/{id}).
type NodeChange func(n map[string]any)

// Drain is what `nomad node drain -enable` does to a node: a drain
// strategy (of one hour), and the node ineligible.
func Drain(n map[string]any) {
	n["Drain"] = true
	n["SchedulingEligibility"] = api.NodeSchedulingIneligible
	n["DrainStrategy"] = map[string]any{
		"Deadline": int64(time.Hour), "IgnoreSystemJobs": false,
		"ForceDeadline": "2026-10-20T10:02:11.403918213Z", "StartedAt": "2026-10-20T09:02:11.403918213Z",
	}
}

// Undrain is what `nomad node drain -disable` does: no drain strategy,
// and the node eligible again.
func Undrain(n map[string]any) {
	n["Drain"] = false
	n["DrainStrategy"] = nil
	n["SchedulingEligibility"] = api.NodeSchedulingEligible
}

// SetEligibility sets the node's SchedulingEligibility
// (api.NodeSchedulingEligible or api.NodeSchedulingIneligible), as
// `nomad node eligibility` does.
func SetEligibility(e string) NodeChange {
	return func(n map[string]any) { n["SchedulingEligibility"] = e }
}

// SetStatus sets the node's Status (api.NodeStatusReady,
// api.NodeStatusDown, …) and StatusDescription.
func SetStatus(status, why string) NodeChange {
	return func(n map[string]any) { n["Status"], n["StatusDescription"] = status, why }
}

// SetMeta sets the client meta key to value; "" removes it.
func SetMeta(key, value string) NodeChange {
	return func(n map[string]any) {
		meta, _ := n["Meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			n["Meta"] = meta
		}
		if value == "" {
			delete(meta, key)
			return
		}
		meta[key] = value
	}
}

// SetName sets the node's Name.
func SetName(name string) NodeChange {
	return func(n map[string]any) { n["Name"] = name }
}

// SetID sets the node's Nomad id (for AddNode: a second node from the
// same file).
func SetID(id string) NodeChange {
	return func(n map[string]any) { n["ID"] = id }
}

// AddNode registers a node modelled on a testdata node file, changed by
// changes (e.g. SetMeta("codeint_node_id", …) or SetName), at a new
// index, and publishes the NodeRegistration event. It returns the node's
// id. An id the fake already holds fails the test.
func (s *Server) AddNode(file string, changes ...NodeChange) (id string) {
	s.t.Helper()
	n := decodeNode(s.t, file)
	for _, c := range changes {
		c(n)
	}
	id, _ = n["ID"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.nodes[id]; dup || id == "" {
		s.t.Errorf("nomadtest: add node: id %q missing or taken", id)
		return id
	}
	s.index++
	n["CreateIndex"], n["ModifyIndex"] = s.index, s.index
	s.nodes[id] = n
	s.publishLocked(s.index, id, s.frameLocked(s.index, "NodeRegistration", n))
	return id
}

// Change applies changes to node id at a new index and returns the event
// frame of type typ ("NodeDrain", "NodeEligibility", "NodeStreamEvent",
// "NodeRegistration", …) Nomad streams for it. The frame is not sent: see
// Stream.Send, or Update. An unknown node fails the test (nil frame).
func (s *Server) Change(id, typ string, changes ...NodeChange) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, frame := s.changeLocked(id, typ, changes)
	return frame
}

// Remove deregisters node id at a new index and returns the
// NodeDeregistration frame, which carries the node as it was. The frame
// is not sent.
func (s *Server) Remove(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, frame := s.removeLocked(id)
	return frame
}

// Update applies changes to node id at a new index, as Change, and
// publishes the event of type typ: open streams that follow the node get
// it, and so do streams opened later from an index at or below it. It
// returns the event's index (0 for an unknown node, which fails the
// test).
func (s *Server) Update(id, typ string, changes ...NodeChange) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	index, frame := s.changeLocked(id, typ, changes)
	if frame != nil {
		s.publishLocked(index, id, frame)
	}
	return index
}

// DrainNode drains node id and publishes the NodeDrain event.
func (s *Server) DrainNode(id string) uint64 { return s.Update(id, "NodeDrain", Drain) }

// UndrainNode ends node id's drain and publishes the NodeDrain event.
func (s *Server) UndrainNode(id string) uint64 { return s.Update(id, "NodeDrain", Undrain) }

// SetNodeEligibility sets node id's eligibility and publishes the
// NodeEligibility event.
func (s *Server) SetNodeEligibility(id, e string) uint64 {
	return s.Update(id, "NodeEligibility", SetEligibility(e))
}

// SetNodeStatus sets node id's status and publishes the event Nomad sends
// for a status update (NodeStreamEvent).
func (s *Server) SetNodeStatus(id, status, why string) uint64 {
	return s.Update(id, "NodeStreamEvent", SetStatus(status, why))
}

// Deregister removes node id, as `nomad node purge` does, and publishes
// the NodeDeregistration event.
func (s *Server) Deregister(id string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	index, frame := s.removeLocked(id)
	if frame != nil {
		s.publishLocked(index, id, frame)
	}
	return index
}

func (s *Server) changeLocked(id, typ string, changes []NodeChange) (uint64, []byte) {
	n := s.nodes[id]
	if n == nil {
		s.t.Errorf("nomadtest: no node %s", id)
		return 0, nil
	}
	s.index++
	for _, c := range changes {
		c(n)
	}
	n["ModifyIndex"] = s.index
	return s.index, s.frameLocked(s.index, typ, n)
}

func (s *Server) removeLocked(id string) (uint64, []byte) {
	n := s.nodes[id]
	if n == nil {
		s.t.Errorf("nomadtest: no node %s", id)
		return 0, nil
	}
	delete(s.nodes, id)
	s.index++
	return s.index, s.frameLocked(s.index, "NodeDeregistration", n)
}

// frameLocked is the frame Nomad streams for one event of the Node topic.
func (s *Server) frameLocked(index uint64, typ string, n map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"Index": index,
		"Events": []map[string]any{{
			"Topic": "Node", "Type": typ, "Key": n["ID"], "Namespace": "",
			"FilterKeys": nil, "Index": index, "Payload": map[string]any{"Node": n},
		}},
	})
	if err != nil {
		s.t.Errorf("nomadtest: encode event: %v", err)
		return nil
	}
	return b
}
