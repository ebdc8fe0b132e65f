package apiclient

import (
	"context"
	"strconv"

	"github.com/opensiterecovery/osr/internal/drill"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
)

// Recovery plans (internal/recoveryplan) and drills (internal/drill): docs/recovery-plans.md.

func planPath(v, plan string) string {
	return "/vaults/" + esc(v) + "/recovery-plans/" + esc(plan)
}

func (c *Client) ListPlans(ctx context.Context, v string) (out []recoveryplan.Plan, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/recovery-plans", nil, &out)
}

func (c *Client) CreatePlan(ctx context.Context, v string, req recoveryplan.CreateRequest) (out *recoveryplan.Plan, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/recovery-plans", req, &out)
}

func (c *Client) GetPlan(ctx context.Context, v, plan string) (out *recoveryplan.Plan, err error) {
	return out, c.Do(ctx, "GET", planPath(v, plan), nil, &out)
}

func (c *Client) DeletePlan(ctx context.Context, v, plan string) error {
	return c.Do(ctx, "DELETE", planPath(v, plan), nil, nil)
}

// StartPlanRun starts a run of a plan: op is failover, test-failover or cleanup.
func (c *Client) StartPlanRun(ctx context.Context, v, plan, op string, req recoveryplan.RunRequest) (out *recoveryplan.Run, err error) {
	return out, c.Do(ctx, "POST", planPath(v, plan)+"/"+esc(op), req, &out)
}

func (c *Client) ResumePlan(ctx context.Context, v, plan string) (out *recoveryplan.Run, err error) {
	return out, c.Do(ctx, "POST", planPath(v, plan)+"/resume", nil, &out)
}

func (c *Client) ListPlanRuns(ctx context.Context, v, plan string) (out []recoveryplan.Run, err error) {
	return out, c.Do(ctx, "GET", planPath(v, plan)+"/runs", nil, &out)
}

func (c *Client) GetPlanRun(ctx context.Context, v, plan, run string) (out *recoveryplan.Run, err error) {
	return out, c.Do(ctx, "GET", planPath(v, plan)+"/runs/"+esc(run), nil, &out)
}

// Drills (internal/drill).

func drillPath(v, name string) string {
	return "/vaults/" + esc(v) + "/drills/" + esc(name)
}

func (c *Client) ListDrills(ctx context.Context, v string) (out []drill.Drill, err error) {
	return out, c.Do(ctx, "GET", "/vaults/"+esc(v)+"/drills", nil, &out)
}

func (c *Client) CreateDrill(ctx context.Context, v string, req drill.CreateRequest) (out *drill.Drill, err error) {
	return out, c.Do(ctx, "POST", "/vaults/"+esc(v)+"/drills", req, &out)
}

func (c *Client) GetDrill(ctx context.Context, v, name string) (out *drill.Drill, err error) {
	return out, c.Do(ctx, "GET", drillPath(v, name), nil, &out)
}

func (c *Client) DeleteDrill(ctx context.Context, v, name string) error {
	return c.Do(ctx, "DELETE", drillPath(v, name), nil, nil)
}

func (c *Client) RunDrill(ctx context.Context, v, name string) (out *drill.Drill, err error) {
	return out, c.Do(ctx, "POST", drillPath(v, name)+"/run", nil, &out)
}

func (c *Client) DrillReports(ctx context.Context, v, name string, limit int) (out []drill.Report, err error) {
	q := ""
	if limit > 0 {
		q = "?limit=" + strconv.Itoa(limit)
	}
	return out, c.Do(ctx, "GET", drillPath(v, name)+"/reports"+q, nil, &out)
}
