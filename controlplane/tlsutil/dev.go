package tlsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// devRenewBefore is how long before its expiry Dev replaces a certificate.
const devRenewBefore = 30 * 24 * time.Hour

// DevFiles are the certificates `codeint dev` makes for itself.
type DevFiles struct {
	Server Files // the dev server's
	Agent  Files // for `codeint agent` processes that join it
	Client Files // for operator commands
}

// Dev makes what `codeint dev` needs when no certificates were given: under
// dir (created 0700) a CA and a server, an agent and a client certificate
// for region, created once and reused on the next start. A certificate
// that no longer loads (e.g. ca.pem was removed and a new CA made) or
// expires within 30 days is replaced; the CA is never replaced.
func Dev(dir, region string) (DevFiles, error) {
	if err := checkLabel("region", region); err != nil {
		return DevFiles{}, fmt.Errorf("dev certificates: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DevFiles{}, fmt.Errorf("dev certificates: %w", err)
	}
	if _, _, _, err := CreateCA(dir, "", 0); err != nil && !errors.Is(err, fs.ErrExist) {
		return DevFiles{}, fmt.Errorf("dev certificates: %w", err)
	}
	var out DevFiles
	for _, c := range []struct {
		role Role
		f    *Files
	}{{RoleServer, &out.Server}, {RoleAgent, &out.Agent}, {RoleClient, &out.Client}} {
		f, err := devCert(dir, c.role, region)
		if err != nil {
			return DevFiles{}, err
		}
		*c.f = f
	}
	return out, nil
}

// devCert reuses dir's certificate of role in region when it loads and is
// not about to expire, and makes it otherwise.
func devCert(dir string, role Role, region string) (Files, error) {
	base := filepath.Join(dir, fileBase(Identity{Role: role, Region: region}))
	f := Files{CA: filepath.Join(dir, caCertFile), Cert: base + ".pem", Key: base + "-key.pem"}
	b, err := Load(f)
	if err == nil && time.Until(b.Certificate().NotAfter) > devRenewBefore {
		return f, nil
	}
	for _, p := range []string{f.Cert, f.Key} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Files{}, fmt.Errorf("dev certificates: %w", err)
		}
	}
	f, err = CreateCert(CertRequest{CADir: dir, Role: role, Region: region})
	if err != nil {
		return Files{}, fmt.Errorf("dev certificates: %w", err)
	}
	return f, nil
}
