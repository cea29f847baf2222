package consul_test

import (
	"errors"
	"testing"

	"github.com/codeint/codeint/controlplane/consul"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    consul.Config
		wantOK  bool
		wantErr bool
	}{
		{in: "consul://127.0.0.1:8500", want: consul.Config{Address: "127.0.0.1:8500"}, wantOK: true},
		{in: "consul://consul.service:8500/", want: consul.Config{Address: "consul.service:8500"}, wantOK: true},
		{in: "CONSUL://h:1", want: consul.Config{Address: "h:1"}, wantOK: true},
		{in: "consul://[::1]:8500?token=s3cret&dc=eu-west", want: consul.Config{Address: "[::1]:8500", Token: "s3cret", Datacenter: "eu-west"}, wantOK: true},
		// Not meant as Consul: the caller handles them.
		{in: "127.0.0.1:8300"},
		{in: "10.0.0.1:8300,10.0.0.2:8300"},
		{in: ""},
		// Other schemes: neither Consul nor a plain address.
		{in: "http://127.0.0.1:8500", wantErr: true},
		{in: "consl://127.0.0.1:8500", wantErr: true},
		// Meant as Consul, but malformed.
		{in: "consul:127.0.0.1:8500", wantOK: true, wantErr: true},
		{in: "consul://127.0.0.1", wantOK: true, wantErr: true},
		{in: "consul://127.0.0.1:", wantOK: true, wantErr: true},
		{in: "consul://:8500", wantOK: true, wantErr: true},
		{in: "consul://h:port", wantOK: true, wantErr: true},
		{in: "consul://h:70000", wantOK: true, wantErr: true},
		{in: "consul://h:8500/v1", wantOK: true, wantErr: true},
		{in: "consul://tok@h:8500", wantOK: true, wantErr: true},
		{in: "consul://h:8500?datacenter=x", wantOK: true, wantErr: true},
		{in: "consul://h:8500?token=", wantOK: true, wantErr: true},
		{in: "consul://h:8500?dc=a&dc=b", wantOK: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok, err := consul.ParseAddr(tt.in)
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantErr {
				if !errors.Is(err, consul.ErrBadAddr) {
					t.Fatalf("err = %v, want ErrBadAddr", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("cfg = %+v, want %+v", got, tt.want)
			}
		})
	}
}
