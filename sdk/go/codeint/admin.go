package codeint

import "context"

// CreatedAPIKey is a new key with its secret, which the server shows only
// once.
type CreatedAPIKey struct {
	Key    APIKey `json:"key"`
	Team   Team   `json:"team"`
	Secret string `json:"secret"`
}

// CreateTeam creates a team (admin keys only).
func (c *Client) CreateTeam(ctx context.Context, name string) (*Team, error) {
	var data struct {
		Team Team `json:"createTeam"`
	}
	if err := c.Do(ctx, `mutation ($name: String!) { createTeam(name: $name) { id name } }`,
		map[string]any{"name": name}, &data); err != nil {
		return nil, err
	}
	return &data.Team, nil
}

// CreateAPIKey creates a key for a team; an empty teamID means the
// caller's team.
func (c *Client) CreateAPIKey(ctx context.Context, teamID, name string) (*CreatedAPIKey, error) {
	var data struct {
		Created CreatedAPIKey `json:"createApiKey"`
	}
	vars := map[string]any{"name": name}
	if teamID != "" {
		vars["teamId"] = teamID
	}
	q := `mutation ($teamId: ID, $name: String!) { createApiKey(teamId: $teamId, name: $name) {
  key { id name prefix admin revoked } team { id name } secret } }`
	if err := c.Do(ctx, q, vars, &data); err != nil {
		return nil, err
	}
	return &data.Created, nil
}

// RevokeAPIKey revokes a key; it authenticates nothing from then on.
func (c *Client) RevokeAPIKey(ctx context.Context, keyID string) (*APIKey, error) {
	var data struct {
		Key APIKey `json:"revokeApiKey"`
	}
	if err := c.Do(ctx, `mutation ($id: ID!) { revokeApiKey(id: $id) { id name prefix admin revoked } }`,
		map[string]any{"id": keyID}, &data); err != nil {
		return nil, err
	}
	return &data.Key, nil
}

// RenameTeam renames a team.
func (c *Client) RenameTeam(ctx context.Context, teamID, name string) (*Team, error) {
	var data struct {
		Team Team `json:"renameTeam"`
	}
	if err := c.Do(ctx, `mutation ($id: ID!, $name: String!) { renameTeam(id: $id, name: $name) { id name } }`,
		map[string]any{"id": teamID, "name": name}, &data); err != nil {
		return nil, err
	}
	return &data.Team, nil
}
