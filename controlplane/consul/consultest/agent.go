package consultest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// register handles PUT /v1/agent/service/register.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var reg Registration
	if err := json.NewDecoder(r.Body).Decode(&reg); err != nil {
		http.Error(w, "Request decode failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	replace, err := boolParam(r, "replace-existing-checks")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in, checks, err := newInstance(reg)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.index++
	in.createIndex = s.index
	if old, ok := s.instances[in.svc.ID]; ok {
		in.createIndex = old.createIndex
		if !replace {
			checks = keepOldChecks(old.checks, checks)
		}
	}
	for _, c := range checks {
		if c.createIndex == 0 {
			c.createIndex = s.index
		}
		c.modifyIndex = s.index
	}
	in.checks = checks
	s.instances[in.svc.ID] = in
	w.WriteHeader(http.StatusOK)
}

// deregister handles PUT /v1/agent/service/deregister/{id}.
func (s *Server) deregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.instances[id]; !ok {
		http.Error(w, fmt.Sprintf("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id), http.StatusNotFound)
		return
	}
	delete(s.instances, id)
	s.index++
	w.WriteHeader(http.StatusOK)
}

// newInstance validates reg as Consul's agent does and fills defaults.
func newInstance(reg Registration) (*instance, []*check, error) {
	if reg.Name == "" {
		return nil, nil, fmt.Errorf("Missing service name")
	}
	if err := validateMeta(reg.Meta); err != nil {
		return nil, nil, fmt.Errorf("Invalid Service Meta: %w", err)
	}
	svc := nodeService{
		Kind:              reg.Kind,
		ID:                reg.ID,
		Service:           reg.Name,
		Tags:              slices.Clone(reg.Tags),
		Address:           reg.Address,
		Meta:              reg.Meta,
		Port:              reg.Port,
		Weights:           Weights{Passing: 1, Warning: 1},
		EnableTagOverride: reg.EnableTagOverride,
	}
	if svc.ID == "" {
		svc.ID = reg.Name
	}
	if svc.Tags == nil {
		svc.Tags = []string{}
	}
	if reg.Weights != nil {
		if reg.Weights.Passing < 1 {
			return nil, nil, fmt.Errorf("Passing must be greater than 0")
		}
		svc.Weights = *reg.Weights
	}
	defs := reg.Checks
	if reg.Check != nil {
		defs = append([]*CheckDefinition{reg.Check}, defs...)
	}
	var checks []*check
	for i, d := range defs {
		if d == nil {
			continue
		}
		c, err := newCheck(*d, svc, i+1, len(defs))
		if err != nil {
			return nil, nil, fmt.Errorf("Invalid check: %w", err)
		}
		checks = append(checks, c)
	}
	return &instance{reg: reg, svc: svc}, checks, nil
}

// newCheck validates one check definition; n of total numbers the check
// ids Consul makes up ("service:<id>", or "service:<id>:<n>" for several).
func newCheck(d CheckDefinition, svc nodeService, n, total int) (*check, error) {
	c := &check{def: d, id: d.CheckID, name: d.Name, status: d.Status, output: ""}
	if c.id == "" {
		c.id = "service:" + svc.ID
		if total > 1 {
			c.id += ":" + strconv.Itoa(n)
		}
	}
	if c.name == "" {
		c.name = fmt.Sprintf("Service '%s' check", svc.Service)
	}
	switch c.status {
	case "":
		c.status = "critical"
	case "passing", "warning", "critical":
	default:
		return nil, fmt.Errorf("Status %q is not passing, warning or critical", c.status)
	}
	var err error
	for _, f := range []struct {
		name string
		in   string
		out  *time.Duration
	}{
		{"Interval", d.Interval, &c.interval},
		{"Timeout", d.Timeout, &c.timeout},
		{"DeregisterCriticalServiceAfter", d.DeregisterCriticalServiceAfter, &c.deregAfter},
	} {
		if f.in == "" {
			continue
		}
		if *f.out, err = time.ParseDuration(f.in); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	switch {
	case d.HTTP != "":
		c.kind = "http"
	case d.TCP != "":
		c.kind = "tcp"
	case len(d.ScriptArgs) > 0:
		c.kind = "script"
	case d.GRPC != "":
		c.kind = "grpc"
	default:
		ttl, err := time.ParseDuration(cmp.Or(d.TTL, "0s"))
		if err != nil || ttl <= 0 {
			return nil, fmt.Errorf("TTL must be > 0 for TTL checks")
		}
		c.kind = "ttl"
	}
	if c.kind != "ttl" && c.interval <= 0 {
		return nil, fmt.Errorf("Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks")
	}
	return c, nil
}

// keepOldChecks adds to fresh the old checks it does not redefine, as the
// agent does when a service is re-registered without
// ?replace-existing-checks.
func keepOldChecks(old, fresh []*check) []*check {
	for _, o := range old {
		if !slices.ContainsFunc(fresh, func(c *check) bool { return c.id == o.id }) {
			fresh = append(fresh, o)
		}
	}
	return fresh
}

var metaKeyFormat = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// validateMeta applies Consul's limits on service metadata.
func validateMeta(meta map[string]string) error {
	if len(meta) > 64 {
		return fmt.Errorf("Node metadata cannot contain more than 64 key/value pairs")
	}
	for k, v := range meta {
		switch {
		case k == "":
			return fmt.Errorf("Key cannot be blank")
		case !metaKeyFormat.MatchString(k):
			return fmt.Errorf("Key contains invalid characters")
		case len(k) > 128:
			return fmt.Errorf("Key is too long (limit: 128 characters)")
		case strings.HasPrefix(k, "consul-"):
			return fmt.Errorf("Key prefix 'consul-' is reserved for internal use")
		case len(v) > 512:
			return fmt.Errorf("Value is too long (limit: 512 characters)")
		}
	}
	return nil
}

// boolParam reads a flag parameter as Consul does: present and empty
// means true, otherwise the value must parse as a bool.
func boolParam(r *http.Request, key string) (bool, error) {
	q := r.URL.Query()
	if !q.Has(key) {
		return false, nil
	}
	v := q.Get(key)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("Invalid value for ?%s", key)
	}
	return b, nil
}
