package consultest

// The JSON shapes below follow Consul's API documentation; field names are
// Consul's (encoding/json matches them case-insensitively, as Consul does).

// Registration is the body of PUT /v1/agent/service/register.
type Registration struct {
	ID                string
	Name              string
	Kind              string
	Tags              []string
	Address           string
	Port              int
	Meta              map[string]string
	EnableTagOverride bool
	Weights           *Weights
	Check             *CheckDefinition
	Checks            []*CheckDefinition
}

// Weights are a service's DNS SRV weights.
type Weights struct {
	Passing int
	Warning int
}

// CheckDefinition is a check inside a registration ("Check" or "Checks").
type CheckDefinition struct {
	CheckID                        string
	Name                           string
	Notes                          string
	Status                         string
	Interval                       string
	Timeout                        string
	TTL                            string
	HTTP                           string
	Method                         string
	Header                         map[string][]string
	Body                           string
	TLSSkipVerify                  bool
	TCP                            string
	ScriptArgs                     []string
	GRPC                           string
	DeregisterCriticalServiceAfter string
}

// serviceEntry is one element of GET /v1/health/service/{service}.
type serviceEntry struct {
	Node    node
	Service nodeService
	Checks  []healthCheck
}

type node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

type nodeService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Address           string
	Meta              map[string]string
	Port              int
	Weights           Weights
	EnableTagOverride bool
	CreateIndex       uint64
	ModifyIndex       uint64
}

type healthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Interval    string
	Timeout     string
	ExposedPort int
	Definition  checkDefinitionOut
	CreateIndex uint64
	ModifyIndex uint64
}

// checkDefinitionOut is the "Definition" of a check in health results;
// durations are Go duration strings.
type checkDefinitionOut struct {
	HTTP                           string
	Header                         map[string][]string
	Method                         string
	Body                           string
	TLSSkipVerify                  bool
	TCP                            string
	Interval                       string
	Timeout                        string
	DeregisterCriticalServiceAfter string
}
