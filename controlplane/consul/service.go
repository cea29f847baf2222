package consul

import (
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Service names under which codeint registers in Consul.
const (
	ServiceServer = "codeint-server"
	ServiceAgent  = "codeint-agent"
)

// Meta keys that Register fills from Service's fields.
const (
	MetaNodeID = "node_id"
	MetaRegion = "region"
)

// CheckInterval is how often Consul runs a Service's HTTP health check.
const CheckInterval = 5 * time.Second

// CheckTimeout bounds one run of a Service's HTTP health check.
const CheckTimeout = 2 * time.Second

// Service is one registered instance of a codeint service.
type Service struct {
	// ID is the instance's unique id; Register defaults it to
	// Name + "-" + NodeID (e.g. "codeint-server-n1").
	ID string
	// Name is the service name: ServiceServer or ServiceAgent.
	Name string
	// NodeID is the codeint node id, kept in Meta["node_id"].
	NodeID string
	// Region is the codeint region, kept as the tag "region=<R>" (which
	// Consul can filter on) and in Meta["region"].
	Region string
	// Address is the host the instance listens on; empty means the
	// address of the Consul node it registered with.
	Address string
	// Port is the instance's main port.
	Port int
	// Meta holds the instance's other addresses (raft_addr, rpc_addr,
	// http_addr, …). Keys must suit Consul: letters, digits, '-' and '_'.
	// Instances returns the full Meta, node_id and region included.
	Meta map[string]string
	// CheckHTTP is the health check URL (http://host:port/healthz), run
	// every CheckInterval. Empty means no check: Consul then counts the
	// instance as passing for as long as it is registered.
	CheckHTTP string
	// DeregisterAfter makes Consul remove the instance once its check has
	// been critical this long. Zero means never. Consul reaps at most
	// every 30s and treats values under a minute as one minute.
	DeregisterAfter time.Duration
}

// RegionTag is the tag that marks an instance of region.
func RegionTag(region string) string { return MetaRegion + "=" + region }

// registration validates s and turns it into Consul's registration body.
func (s Service) registration() (*api.AgentServiceRegistration, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	meta := make(map[string]string, len(s.Meta)+2)
	maps.Copy(meta, s.Meta)
	meta[MetaNodeID] = s.NodeID
	meta[MetaRegion] = s.Region
	reg := &api.AgentServiceRegistration{
		ID:      s.ID,
		Name:    s.Name,
		Tags:    []string{RegionTag(s.Region)},
		Address: s.Address,
		Port:    s.Port,
		Meta:    meta,
	}
	if reg.ID == "" {
		reg.ID = s.Name + "-" + s.NodeID
	}
	if s.CheckHTTP != "" {
		reg.Check = &api.AgentServiceCheck{
			Name:     s.Name + " health",
			HTTP:     s.CheckHTTP,
			Interval: CheckInterval.String(),
			Timeout:  CheckTimeout.String(),
		}
		if s.DeregisterAfter > 0 {
			reg.Check.DeregisterCriticalServiceAfter = s.DeregisterAfter.String()
		}
	}
	return reg, nil
}

func (s Service) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidService, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Name == "":
		return bad("missing name")
	case s.NodeID == "":
		return bad("%s: missing node id", s.Name)
	case s.Region == "":
		return bad("%s %s: missing region", s.Name, s.NodeID)
	case strings.ContainsAny(s.Region, ", "):
		return bad("%s %s: region %q has a comma or space", s.Name, s.NodeID, s.Region)
	case s.Port < 0 || s.Port > 65535:
		return bad("%s %s: port %d out of range", s.Name, s.NodeID, s.Port)
	case s.DeregisterAfter < 0:
		return bad("%s %s: negative DeregisterAfter", s.Name, s.NodeID)
	}
	for key, want := range map[string]string{MetaNodeID: s.NodeID, MetaRegion: s.Region} {
		if v, ok := s.Meta[key]; ok && v != want {
			return bad("%s %s: Meta[%q]=%q disagrees with %q", s.Name, s.NodeID, key, v, want)
		}
	}
	if s.CheckHTTP != "" {
		u, err := url.Parse(s.CheckHTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("%s %s: check URL %q is not http(s)://host/…", s.Name, s.NodeID, s.CheckHTTP)
		}
	}
	return nil
}

// serviceFromEntry turns one health/service result into a Service.
func serviceFromEntry(e *api.ServiceEntry) Service {
	as := e.Service
	s := Service{
		ID:      as.ID,
		Name:    as.Service,
		NodeID:  as.Meta[MetaNodeID],
		Region:  as.Meta[MetaRegion],
		Address: as.Address,
		Port:    as.Port,
		Meta:    maps.Clone(as.Meta),
	}
	if s.Region == "" {
		s.Region = regionFromTags(as.Tags)
	}
	if s.Address == "" && e.Node != nil {
		s.Address = e.Node.Address
	}
	for _, c := range e.Checks {
		if c.ServiceID == as.ID && c.Definition.HTTP != "" {
			s.CheckHTTP = c.Definition.HTTP
			s.DeregisterAfter = c.Definition.DeregisterCriticalServiceAfterDuration
			break
		}
	}
	return s
}

func regionFromTags(tags []string) string {
	for _, t := range tags {
		if r, ok := strings.CutPrefix(t, MetaRegion+"="); ok {
			return r
		}
	}
	return ""
}
