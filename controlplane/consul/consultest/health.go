package consultest

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// healthService handles GET /v1/health/service/{service}.
func (s *Server) healthService(w http.ResponseWriter, r *http.Request) {
	if !s.checkDatacenter(w, r) {
		return
	}
	passingOnly, err := boolParam(r, "passing")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name, tags := r.PathValue("service"), r.URL.Query()["tag"]

	s.mu.Lock()
	var picked []*instance
	for _, in := range s.instances {
		if strings.EqualFold(in.svc.Service, name) && hasTags(in.svc.Tags, tags) {
			picked = append(picked, in)
		}
	}
	s.mu.Unlock()

	results := s.runChecks(r.Context(), picked)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyResults(results, time.Now())
	entries := []serviceEntry{}
	for _, in := range picked {
		if s.instances[in.svc.ID] != in {
			continue // deregistered, replaced or reaped meanwhile
		}
		e := s.entry(in)
		if passingOnly && !allPassing(e.Checks) {
			continue
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b serviceEntry) int { return strings.Compare(a.Service.ID, b.Service.ID) })
	s.writeJSON(w, entries)
}

// catalogServices handles GET /v1/catalog/services: every service name
// with the union of its instances' tags, healthy or not.
func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) {
	if !s.checkDatacenter(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{"consul": {}}
	for _, in := range s.instances {
		tags := out[in.svc.Service]
		if tags == nil {
			tags = []string{} // Consul writes [] for a service without tags
		}
		out[in.svc.Service] = append(tags, in.svc.Tags...)
	}
	for name, tags := range out {
		slices.Sort(tags)
		out[name] = slices.Compact(tags)
	}
	s.writeJSON(w, out)
}

// checkDatacenter answers as Consul does for a ?dc it cannot reach.
func (s *Server) checkDatacenter(w http.ResponseWriter, r *http.Request) bool {
	if dc := r.URL.Query().Get("dc"); dc != "" && !strings.EqualFold(dc, Datacenter) {
		http.Error(w, "No path to datacenter", http.StatusInternalServerError)
		return false
	}
	return true
}

// writeJSON writes a query result with Consul's query-metadata headers.
// Called with s.mu held.
func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Consul-Index", strconv.FormatUint(s.index, 10))
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
	h.Set("X-Consul-Effective-Consistency", "leader")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// hasTags reports whether have holds every tag of want, ignoring case as
// Consul does.
func hasTags(have, want []string) bool {
	for _, t := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, t) }) {
			return false
		}
	}
	return true
}

func allPassing(checks []healthCheck) bool {
	for _, c := range checks {
		if c.Status != "passing" {
			return false
		}
	}
	return true
}

// result is the outcome of running one check during a query.
type result struct {
	c              *check
	status, output string
}

// runChecks runs every check of picked concurrently, without holding s.mu.
func (s *Server) runChecks(ctx context.Context, picked []*instance) []result {
	s.mu.Lock()
	var todo []result // each with the check's last outcome, read under s.mu
	for _, in := range picked {
		for _, c := range in.checks {
			todo = append(todo, result{c: c, status: c.status, output: c.output})
		}
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for i := range todo {
		wg.Go(func() {
			todo[i].status, todo[i].output = probe(ctx, todo[i])
		})
	}
	wg.Wait()
	return todo
}

// applyResults records check outcomes and reaps instances whose check has
// been critical for longer than its DeregisterCriticalServiceAfter.
// Called with s.mu held.
func (s *Server) applyResults(results []result, now time.Time) {
	for _, res := range results {
		c := res.c
		if c.status != res.status || c.output != res.output {
			s.index++
			c.modifyIndex = s.index
		}
		c.status, c.output = res.status, res.output
		if c.status != "critical" {
			c.criticalSince = time.Time{}
		} else if c.criticalSince.IsZero() {
			c.criticalSince = now
		}
	}
	for id, in := range s.instances {
		for _, c := range in.checks {
			if c.deregAfter > 0 && !c.criticalSince.IsZero() && now.Sub(c.criticalSince) >= c.deregAfter {
				delete(s.instances, id)
				s.index++
				break
			}
		}
	}
}

// probe runs the check of last and returns its status and output. A
// check the fake cannot run keeps its last outcome (at first, the status
// it was registered with). Only last.c's immutable fields are read.
func probe(ctx context.Context, last result) (status, output string) {
	c := last.c
	timeout := CheckTimeout
	if c.timeout > 0 && c.timeout < timeout {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch c.kind {
	case "http":
		return probeHTTP(ctx, c.def)
	case "tcp":
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.def.TCP)
		if err != nil {
			return "critical", err.Error()
		}
		conn.Close()
		return "passing", fmt.Sprintf("TCP connect %s: Success", c.def.TCP)
	default:
		return last.status, last.output
	}
}

// probeHTTP runs an HTTP check: 2xx is passing, 429 warning, anything
// else (or no answer) critical.
func probeHTTP(ctx context.Context, d CheckDefinition) (status, output string) {
	method := cmp.Or(d.Method, http.MethodGet)
	req, err := http.NewRequestWithContext(ctx, method, d.HTTP, strings.NewReader(d.Body))
	if err != nil {
		return "critical", err.Error()
	}
	for k, vs := range d.Header {
		req.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Consul Health Check")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/plain, text/*, */*")
	}
	tr := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: d.TLSSkipVerify},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "critical", err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	output = fmt.Sprintf("HTTP %s %s: %s Output: %s", method, d.HTTP, resp.Status, body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "passing", output
	case resp.StatusCode == http.StatusTooManyRequests:
		return "warning", output
	default:
		return "critical", output
	}
}

// entry builds the health result of in. Called with s.mu held.
func (s *Server) entry(in *instance) serviceEntry {
	svc := in.svc
	svc.Tags = slices.Clone(svc.Tags)
	svc.Meta = maps.Clone(svc.Meta)
	svc.CreateIndex = in.createIndex
	svc.ModifyIndex = in.createIndex
	checks := []healthCheck{{
		Node:        NodeName,
		CheckID:     "serfHealth",
		Name:        "Serf Health Status",
		Status:      "passing",
		Output:      "Agent alive and reachable",
		ServiceTags: []string{},
		Definition: checkDefinitionOut{ // Consul writes zero durations as "0s"
			Interval:                       "0s",
			Timeout:                        "0s",
			DeregisterCriticalServiceAfter: "0s",
		},
		CreateIndex: 1,
		ModifyIndex: 1,
	}}
	for _, c := range in.checks {
		checks = append(checks, healthCheck{
			Node:        NodeName,
			CheckID:     c.id,
			Name:        c.name,
			Status:      c.status,
			Notes:       c.def.Notes,
			Output:      c.output,
			ServiceID:   svc.ID,
			ServiceName: svc.Service,
			ServiceTags: slices.Clone(svc.Tags),
			Type:        c.kind,
			Interval:    durationString(c.interval),
			Timeout:     durationString(c.timeout),
			Definition: checkDefinitionOut{
				HTTP:                           c.def.HTTP,
				Header:                         c.def.Header,
				Method:                         c.def.Method,
				Body:                           c.def.Body,
				TLSSkipVerify:                  c.def.TLSSkipVerify,
				TCP:                            c.def.TCP,
				Interval:                       c.interval.String(),
				Timeout:                        c.timeout.String(),
				DeregisterCriticalServiceAfter: c.deregAfter.String(),
			},
			CreateIndex: c.createIndex,
			ModifyIndex: c.modifyIndex,
		})
	}
	return serviceEntry{
		Node: node{
			ID:              NodeID,
			Node:            NodeName,
			Address:         NodeAddress,
			Datacenter:      Datacenter,
			TaggedAddresses: map[string]string{"lan": NodeAddress, "wan": NodeAddress},
			Meta:            map[string]string{"consul-network-segment": ""},
			CreateIndex:     1,
			ModifyIndex:     1,
		},
		Service: svc,
		Checks:  checks,
	}
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
