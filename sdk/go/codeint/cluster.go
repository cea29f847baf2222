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
