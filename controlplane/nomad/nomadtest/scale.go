package nomadtest

import (
	"encoding/json"
	"net/http"
	"slices"
)

// Failure is an error answer, as Nomad writes them: a status and a
// plain-text body.
type Failure struct {
	Status int
	Body   string
}

// Scale is one scale write: the request as Nomad reads it
// (structs.ScalingRequest) and where it was sent.
type Scale struct {
	Method string
	Job    string
	Region string
	Body   struct {
		Count          *int64
		Target         map[string]string
		Message        string
		Error          bool
		Meta           map[string]any
		PolicyOverride bool
		JobModifyIndex uint64
	}
}

// SetDesired sets Group's count.
func (s *Server) SetDesired(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = n
}

// Desired returns Group's count: DefaultDesired, or what SetDesired or
// the last scale write set.
func (s *Server) Desired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.desired
}

// SetJobStopped marks Job stopped (or running again).
func (s *Server) SetJobStopped(stopped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = stopped
}

// FailScaleStatus makes every scale status read fail with f; nil ends
// that.
func (s *Server) FailScaleStatus(f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusError = f
}

// FailScales makes every scale write fail with f (it is still recorded);
// nil ends that.
func (s *Server) FailScales(f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleError = f
}

// Scales returns the scale writes received, oldest first.
func (s *Server) Scales() []Scale {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scales)
}

// scaleStatus answers GET /v1/job/{job}/scale with testdata's recorded
// status, carrying the fake's count.
func (s *Server) scaleStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fail, desired, stopped := s.statusError, s.desired, s.stopped
	s.mu.Unlock()
	if fail != nil {
		http.Error(w, fail.Body, fail.Status)
		return
	}
	if r.PathValue("job") != Job {
		http.Error(w, "job not found", http.StatusNotFound)
		return
	}
	var status map[string]any
	if err := json.Unmarshal(file(scaleStatusFile), &status); err != nil {
		s.t.Errorf("nomadtest: testdata/scale_status.json: %v", err)
	}
	status["JobStopped"] = stopped
	status["TaskGroups"].(map[string]any)[Group].(map[string]any)["Desired"] = desired
	s.writeJSON(w, status)
}

// scale answers PUT or POST /v1/job/{job}/scale as Nomad does: it checks
// the request, sets the count and answers with testdata's recorded reply.
func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	var got Scale
	got.Method, got.Job, got.Region = r.Method, r.PathValue("job"), r.URL.Query().Get("region")
	if err := json.NewDecoder(r.Body).Decode(&got.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.scales = append(s.scales, got)
	fail := s.scaleError
	s.mu.Unlock()
	switch {
	case fail != nil:
		http.Error(w, fail.Body, fail.Status)
		return
	case got.Job != Job:
		http.Error(w, "job not found", http.StatusNotFound)
		return
	case got.Body.Target["Group"] != Group:
		http.Error(w, "task group does not exist", http.StatusBadRequest)
		return
	case got.Body.Message == "" && !got.Body.Error:
		http.Error(w, "error and message cannot both be empty", http.StatusBadRequest)
		return
	case got.Body.Count != nil && *got.Body.Count < 0:
		http.Error(w, "scaling action count can't be negative", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if got.Body.Count != nil {
		s.desired = int(*got.Body.Count)
	}
	s.index++
	s.mu.Unlock()
	writeHeaders(w, s.Index())
	_, _ = w.Write(file(scaleResponseFile))
}
