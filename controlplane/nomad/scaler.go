package nomad

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Scaler changes the count of the agent job's group in Nomad as its
// Policy decides. Create it with NewScaler. A Scaler is safe for
// concurrent use; the checks of one region run one at a time.
type Scaler struct {
	client *api.Client
	policy Policy
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	regions map[string]*regionScale
}

// regionScale is what the Scaler keeps of one region.
type regionScale struct {
	mu         sync.Mutex // held for a whole Check of the region
	lastChange time.Time  // of the last count this Scaler set; zero if none
}

// NewScaler returns a Scaler that applies p through client. logger may be
// nil (logs are then discarded). It does not contact Nomad.
func NewScaler(client *api.Client, p Policy, logger *slog.Logger) *Scaler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scaler{
		client:  client,
		policy:  p,
		log:     logger.With("component", "nomad_scaler"),
		now:     time.Now,
		regions: map[string]*regionScale{},
	}
}

// Check reads the group's desired count in Nomad region c.Region, decides
// with Decide and, when the count should change, asks Nomad to scale the
// group, with the decision's Reason as the scaling event's message. It
// returns the decision, also when nothing changes. The cooldown runs from
// the last change this Scaler made in the region. A stopped job is left
// alone. Errors from Nomad are wrapped.
func (s *Scaler) Check(ctx context.Context, c Capacity) (Decision, error) {
	p := s.policy
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	r := s.region(c.Region)
	r.mu.Lock()
	defer r.mu.Unlock()

	q := (&api.QueryOptions{Region: c.Region}).WithContext(ctx)
	status, _, err := s.client.Jobs().ScaleStatus(p.Job, q)
	if err != nil {
		return Decision{}, fmt.Errorf("nomad: scale status of job %s in region %q: %w", p.Job, c.Region, err)
	}
	group, ok := status.TaskGroups[p.Group]
	if !ok {
		return Decision{}, fmt.Errorf("nomad: job %s in region %q has no group %s", p.Job, c.Region, p.Group)
	}
	if status.JobStopped {
		return Decision{Region: c.Region, Current: group.Desired, Want: group.Desired,
			Reason: fmt.Sprintf("Job %s is stopped: leaving its count alone.", p.Job)}, nil
	}
	now := s.now()
	d := Decide(p, group.Desired, c, now, r.lastChange)
	if d.Want == d.Current {
		s.log.Debug("nomad group count kept", "event", "scale_keep", "region", c.Region,
			"job", p.Job, "group", p.Group, "count", d.Current, "reason", d.Reason)
		return d, nil
	}
	want := d.Want
	meta := map[string]any{"codeint_region": c.Region, "codeint_previous_count": d.Current}
	w := (&api.WriteOptions{Region: c.Region}).WithContext(ctx)
	resp, _, err := s.client.Jobs().Scale(p.Job, p.Group, &want, d.Reason, false, meta, w)
	if err != nil {
		return d, fmt.Errorf("nomad: scale %s/%s in region %q from %d to %d: %w",
			p.Job, p.Group, c.Region, d.Current, d.Want, err)
	}
	r.lastChange = now
	s.log.Info("nomad group scaled", "event", "scale", "region", c.Region, "job", p.Job,
		"group", p.Group, "from", d.Current, "to", d.Want, "eval_id", resp.EvalID, "reason", d.Reason)
	return d, nil
}

// region returns the Scaler's record of a region, creating it.
func (s *Scaler) region(name string) *regionScale {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[name]
	if r == nil {
		r = &regionScale{}
		s.regions[name] = r
	}
	return r
}
