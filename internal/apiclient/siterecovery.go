package apiclient

import (
	"context"

	"github.com/opensiterecovery/osr/internal/failover"
)

// Failover endpoints (internal/failover): network mappings, failover targets, NIC settings, and
// the failover operations of a protected machine.

func itemPath(v, machine string) string {
	return "/vaults/" + esc(v) + "/protected-items/" + esc(machine)
}

func (c *Client) ListNetworkMappings(ctx context.Context, v string) (out []failover.NetworkMapping, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/network-mappings", nil, &out)
}
func (c *Client) AddNetworkMapping(ctx context.Context, v string, req failover.AddMappingRequest) (out *failover.NetworkMapping, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/network-mappings", req, &out)
}
func (c *Client) RemoveNetworkMapping(ctx context.Context, v, source string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(v)+"/network-mappings/"+esc(source), nil, nil)
}

func (c *Client) ListFailoverTargets(ctx context.Context, v string) (out []failover.Target, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/targets", nil, &out)
}
func (c *Client) AddFailoverTarget(ctx context.Context, v string, req failover.AddTargetRequest) (out *failover.Target, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/targets", req, &out)
}
func (c *Client) RemoveFailoverTarget(ctx context.Context, v, name string) error {
	return c.Do(ctx, "DELETE", "/vaults/"+esc(v)+"/targets/"+esc(name), nil, nil)
}

func (c *Client) ListFailovers(ctx context.Context, v string) (out []failover.Record, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/failovers", nil, &out)
}
func (c *Client) FailoverStatus(ctx context.Context, v, machine string) (out *failover.Status, err error) {
	return out, c.Do(ctx, "GET", itemPath(v, machine)+"/failover", nil, &out)
}
func (c *Client) SetNIC(ctx context.Context, v, machine, nic string, req failover.SetNICRequest) (out *failover.NICSetting, err error) {
	return out, c.Do(ctx, "PUT", itemPath(v, machine)+"/nics/"+esc(nic), req, &out)
}

func (c *Client) TestFailover(ctx context.Context, v, machine string, req failover.TestRequest) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/failover/test", req, &out)
}
func (c *Client) CleanupTestFailover(ctx context.Context, v, machine string) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/failover/test/cleanup", nil, &out)
}
func (c *Client) Failover(ctx context.Context, v, machine string, req failover.FailoverRequest) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/failover/run", req, &out)
}
func (c *Client) CommitFailover(ctx context.Context, v, machine string) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/failover/commit", nil, &out)
}
func (c *Client) ChangeRecoveryPoint(ctx context.Context, v, machine string, req failover.ChangePointRequest) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/failover/change-point", req, &out)
}
func (c *Client) CompleteMigration(ctx context.Context, v, machine string, req failover.CompleteMigrationRequest) (out *failover.Operation, err error) {
	return out, c.Do(ctx, "POST", itemPath(v, machine)+"/migration/complete", req, &out)
}
