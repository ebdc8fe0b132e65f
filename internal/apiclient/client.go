package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/opensiterecovery/osr/internal/vault"
)

// Client calls the API. It is safe for concurrent use.
type Client struct {
	servers *servers // the replicas' https://host:port/api/v1, tried in turn (failover.go)
	token   string
	hc      *http.Client
}

// Error is an error answer of the API.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// New builds a client for a resolved configuration.
func New(r *Resolved) (*Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", r.CAFile)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	return &Client{servers: newServers(r.Servers(), vault.APIPrefix), token: r.Token, hc: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}, nil
}

// Do sends a request with in as its JSON body (nil: none) and decodes the answer into out (nil:
// discarded). Error answers come back as *Error. With several servers (replicas of one vault), a
// request that could not reach one goes to the next (see failover.go for when that is safe).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		payload = b
	}
	resp, err := c.servers.do(ctx, method, func(base string) (*http.Response, error) {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		return c.hc.Do(req)
	})
	if err != nil {
		return fmt.Errorf("vault service: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("vault service: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("vault service answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("vault service: decode answer: %w", err)
		}
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// Vaults.

func (c *Client) ListVaults(ctx context.Context) (out []vault.Vault, err error) {
	return out, c.Do(ctx, "GET", "/vaults", nil, &out)
}
func (c *Client) CreateVault(ctx context.Context, req vault.CreateVaultRequest) (out *vault.Vault, err error) {
	return out, c.Do(ctx, "POST", "/vaults", req, &out)
}
func (c *Client) GetVault(ctx context.Context, name string) (out *vault.Vault, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(name), nil, &out)
}
func (c *Client) DeleteVault(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(name), nil, nil)
}
func (c *Client) SetTarget(ctx context.Context, name string, t vault.Target) (out *vault.Vault, err error) {
	return out, c.Do(ctx, "PUT", "/vaults/"+esc(name)+"/target", t, &out)
}
func (c *Client) CreateRegistrationKey(ctx context.Context, name string) (out *vault.RegistrationKey, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(name)+"/registration-keys", nil, &out)
}
func (c *Client) ListConfigServers(ctx context.Context, v string) (out []vault.ConfigServer, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/config-servers", nil, &out)
}
func (c *Client) RemoveConfigServer(ctx context.Context, v, name string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(v)+"/config-servers/"+esc(name), nil, nil)
}
func (c *Client) ListMachines(ctx context.Context, v string) (out []vault.Machine, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/machines", nil, &out)
}

// Policies.

func (c *Client) ListPolicies(ctx context.Context, v string) (out []vault.Policy, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/policies", nil, &out)
}
func (c *Client) CreatePolicy(ctx context.Context, v string, req vault.CreatePolicyRequest) (out *vault.Policy, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/policies", req, &out)
}
func (c *Client) GetPolicy(ctx context.Context, v, name string) (out *vault.Policy, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/policies/"+esc(name), nil, &out)
}
func (c *Client) DeletePolicy(ctx context.Context, v, name string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(v)+"/policies/"+esc(name), nil, nil)
}
func (c *Client) AssociatePolicy(ctx context.Context, v, name, cs string) (out *vault.Policy, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/policies/"+esc(name)+"/associations", vault.AssociateRequest{ConfigServer: cs}, &out)
}

// Protected items.

func (c *Client) ListItems(ctx context.Context, v string) (out []vault.ProtectedItem, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/protected-items", nil, &out)
}
func (c *Client) GetItem(ctx context.Context, v, machine string) (out *vault.ProtectedItem, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/protected-items/"+esc(machine), nil, &out)
}
func (c *Client) EnableReplication(ctx context.Context, v string, req vault.EnableRequest) (out *vault.ProtectedItem, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/protected-items", req, &out)
}
func (c *Client) DisableReplication(ctx context.Context, v, machine string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(v)+"/protected-items/"+esc(machine), nil, nil)
}
func (c *Client) RecoveryPoints(ctx context.Context, v, machine string) (out []vault.RecoveryPoint, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/protected-items/"+esc(machine)+"/recovery-points", nil, &out)
}

// Jobs, events, alerts, audit.

func listQuery(v string, extra url.Values) string {
	q := url.Values{}
	for k, vs := range extra {
		q[k] = vs
	}
	if v != "" {
		q.Set("vault", v)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func (c *Client) ListJobs(ctx context.Context, v string) (out []vault.Job, err error) {
	return out, c.Do(ctx, "GET", "/jobs"+listQuery(v, nil), nil, &out)
}
func (c *Client) GetJob(ctx context.Context, id string) (out *vault.Job, err error) {
	return out, c.Do(ctx, "GET", "/jobs/"+esc(id), nil, &out)
}
func (c *Client) ListEvents(ctx context.Context, v string) (out []vault.Event, err error) {
	return out, c.Do(ctx, "GET", "/events"+listQuery(v, nil), nil, &out)
}
func (c *Client) ListAlerts(ctx context.Context, v string, all bool) (out []vault.Alert, err error) {
	extra := url.Values{}
	if all {
		extra.Set("all", "true")
	}
	return out, c.Do(ctx, "GET", "/alerts"+listQuery(v, extra), nil, &out)
}
func (c *Client) ListAudit(ctx context.Context) (out []vault.AuditEntry, err error) {
	return out, c.Do(ctx, "GET", "/audit", nil, &out)
}

// Webhooks.

func (c *Client) ListWebhooks(ctx context.Context) (out []vault.Webhook, err error) {
	return out, c.Do(ctx, "GET", "/webhooks", nil, &out)
}
func (c *Client) AddWebhook(ctx context.Context, url string) (out *vault.Webhook, err error) {
	return out, c.Do(ctx, "POST", "/webhooks", vault.AddWebhookRequest{URL: url}, &out)
}
func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/webhooks/"+esc(id), nil, nil)
}

// Users and tokens.

func (c *Client) ListUsers(ctx context.Context) (out []vault.User, err error) {
	return out, c.Do(ctx, "GET", "/users", nil, &out)
}
func (c *Client) AddUser(ctx context.Context, req vault.AddUserRequest) (out *vault.User, err error) {
	return out, c.Do(ctx, "POST", "/users", req, &out)
}
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE", "/users/"+esc(name), nil, nil)
}
func (c *Client) ListTokens(ctx context.Context) (out []vault.Token, err error) {
	return out, c.Do(ctx, "GET", "/tokens", nil, &out)
}
func (c *Client) CreateToken(ctx context.Context, req vault.CreateTokenRequest) (out *vault.Token, err error) {
	return out, c.Do(ctx, "POST", "/tokens", req, &out)
}
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/tokens/"+esc(id), nil, nil)
}

// ResolveVault returns name if set, else $OSR_VAULT, else the only vault there is.
func (c *Client) ResolveVault(ctx context.Context, name string, getenv func(string) string) (string, error) {
	if name != "" {
		return name, nil
	}
	if v := getenv("OSR_VAULT"); v != "" {
		return v, nil
	}
	vs, err := c.ListVaults(ctx)
	if err != nil {
		return "", err
	}
	switch len(vs) {
	case 0:
		return "", fmt.Errorf("no vault exists yet: create one with osr vault create")
	case 1:
		return vs[0].Name, nil
	}
	return "", fmt.Errorf("there are %d vaults: name one with --vault or OSR_VAULT", len(vs))
}
