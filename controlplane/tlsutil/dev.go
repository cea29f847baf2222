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

// Dev makes what `codeint dev` needs when no certificates were given: under
// dir (created 0700) a CA, a server cert and an agent cert for region,
// created once and reused on the next start. A certificate that no longer
// loads (e.g. ca.pem was removed and a new CA made) or expires within 30
// days is replaced; the CA is never replaced.
func Dev(dir, region string) (server, agent Files, err error) {
	if err := checkLabel("region", region); err != nil {
		return Files{}, Files{}, fmt.Errorf("dev certificates: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, Files{}, fmt.Errorf("dev certificates: %w", err)
	}
	if _, _, _, err := CreateCA(dir, "", 0); err != nil && !errors.Is(err, fs.ErrExist) {
		return Files{}, Files{}, fmt.Errorf("dev certificates: %w", err)
	}
	if server, err = devCert(dir, RoleServer, region); err != nil {
		return Files{}, Files{}, err
	}
	if agent, err = devCert(dir, RoleAgent, region); err != nil {
		return Files{}, Files{}, err
	}
	return server, agent, nil
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
