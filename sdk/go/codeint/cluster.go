package codeint

import "context"

// Cluster is a region's Raft cluster as the answering server sees it.
type Cluster struct {
	Region  string          `json:"region"`
	Leader  *ClusterServer  `json:"leader"`
	Servers []ClusterServer `json:"servers"`
}

// ClusterServer is one server of a region.
type ClusterServer struct {
	NodeID        string `json:"nodeId"`
	RaftAddress   string `json:"raftAddress"`
	RPCAddress    string `json:"rpcAddress"`
	Voter         bool   `json:"voter"`
	Leader        bool   `json:"leader"`
	Healthy       bool   `json:"healthy"`
	LastContactMs int    `json:"lastContactMs"`
}

// Cluster returns the region's cluster as the server reached sees it.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var data struct {
		Cluster Cluster `json:"cluster"`
	}
	const fields = `nodeId raftAddress rpcAddress voter leader healthy lastContactMs`
	q := `{ cluster { region leader { ` + fields + ` } servers { ` + fields + ` } } }`
	if err := c.Do(ctx, q, nil, &data); err != nil {
		return nil, err
	}
	return &data.Cluster, nil
}

// NodeEvent is a change to one of the region's nodes.
type NodeEvent struct {
	Type  string   `json:"type"` // REGISTERED, DOWN, READY
	At    string   `json:"at"`
	Index int64    `json:"index"`
	Node  Node     `json:"node"`
	Lost  []string `json:"lost"` // the sandboxes a DOWN node lost
}

// Node is a node agent's host as the region records it.
type Node struct {
	ID       string  `json:"id"`
	Region   string  `json:"region"`
	Zone     string  `json:"zone"`
	Status   string  `json:"status"`
	VCPUs    float64 `json:"vcpus"`
	MemoryMB int     `json:"memoryMB"`
}

// NodeEvents calls fn for every change to the region's nodes (admin keys
// only) until ctx ends, fn returns an error, or the server ends the
// stream; it returns that error (nil when ctx ended it).
func (c *Client) NodeEvents(ctx context.Context, fn func(NodeEvent) error) error {
	q := `subscription { nodeEvents { type at index lost node { id region zone status vcpus memoryMB } } }`
	return each(ctx, c, q, "nodeEvents", nil, fn)
}
