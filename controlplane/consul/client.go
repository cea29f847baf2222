package consul

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/codeint/codeint/controlplane/consul")

// Client registers and finds codeint services in Consul.
type Client struct {
	api *api.Client
}

// New returns a Client for the Consul agent described by cfg. It does not
// contact Consul.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("%w: empty address", ErrBadAddr)
	}
	c, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		Scheme:     "http",
		Token:      cfg.Token,
		Datacenter: cfg.Datacenter,
	})
	if err != nil {
		return nil, fmt.Errorf("consul: new client for %s: %w", cfg.Address, err)
	}
	return &Client{api: c}, nil
}

// Register registers s with the Consul agent, replacing any earlier
// registration (and checks) under the same id.
func (c *Client) Register(ctx context.Context, s Service) (err error) {
	reg, err := s.registration()
	if err != nil {
		return err
	}
	ctx, span := start(ctx, "consul.Register", attribute.String("consul.service_id", reg.ID))
	defer func() { end(span, err) }()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := c.api.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("consul: register %s: %w", reg.ID, err)
	}
	return nil
}

// Deregister removes the instance serviceID from the Consul agent. An id
// the agent does not know gives an error wrapping ErrUnknownService.
func (c *Client) Deregister(ctx context.Context, serviceID string) (err error) {
	ctx, span := start(ctx, "consul.Deregister", attribute.String("consul.service_id", serviceID))
	defer func() { end(span, err) }()
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := c.api.Agent().ServiceDeregisterOpts(serviceID, q); err != nil {
		var se api.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			return fmt.Errorf("%w %q: %w", ErrUnknownService, serviceID, err)
		}
		return fmt.Errorf("consul: deregister %s: %w", serviceID, err)
	}
	return nil
}

// Instances returns the passing instances of service name in region (""
// means every region), sorted by NodeID.
func (c *Client) Instances(ctx context.Context, name, region string) (_ []Service, err error) {
	ctx, span := start(ctx, "consul.Instances",
		attribute.String("consul.service", name), attribute.String("codeint.region", region))
	defer func() { end(span, err) }()
	tag := ""
	if region != "" {
		tag = RegionTag(region)
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := c.api.Health().Service(name, tag, true, q)
	if err != nil {
		return nil, fmt.Errorf("consul: instances of %s in region %q: %w", name, region, err)
	}
	out := make([]Service, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil || e.Checks.AggregatedStatus() != api.HealthPassing {
			continue
		}
		s := serviceFromEntry(e)
		// Consul matches tags without regard to case; regions are exact.
		if region != "" && s.Region != region {
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.ID, b.ID))
	})
	span.SetAttributes(attribute.Int("consul.instances", len(out)))
	return out, nil
}

// Regions returns, sorted, the regions that have passing instances of
// service name.
func (c *Client) Regions(ctx context.Context, name string) ([]string, error) {
	all, err := c.Instances(ctx, name, "")
	if err != nil {
		return nil, err
	}
	regions := make([]string, 0, len(all))
	for _, s := range all {
		if s.Region != "" {
			regions = append(regions, s.Region)
		}
	}
	slices.Sort(regions)
	return slices.Compact(regions), nil
}

func start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
