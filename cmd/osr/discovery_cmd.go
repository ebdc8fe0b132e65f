package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// discoveryCommands are `osr vcenter` and `osr machines`: the configuration server's source
// inventory (discovery_cmd.go, discovery_push.go). rootCommand registers them.
func (a *app) discoveryCommands() []*cobra.Command {
	return []*cobra.Command{a.vcenterCommand(), a.machinesCommand()}
}

func (a *app) inventory(dataDir string) (*vcenter.Inventory, error) {
	if _, err := configserver.LoadRegistration(dataDir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", dataDir)
	}
	return vcenter.Open(dataDir, a.clock)
}

func (a *app) syncer(dataDir string) (*vcenter.Syncer, *vcenter.Inventory, error) {
	inv, err := a.inventory(dataDir)
	if err != nil {
		return nil, nil, err
	}
	acc, err := a.accountStore(dataDir)
	if err != nil {
		return nil, nil, err
	}
	s, err := vcenter.NewSyncer(inv, acc, vcenter.SyncerOptions{Clock: a.clock, Logger: a.logger})
	return s, inv, err
}

func printChanges(a *app, changes []vcenter.Change) {
	for _, c := range changes {
		fmt.Fprintf(a.stdout, "  %s %s\n", c.Kind, c.VM)
	}
}

func (a *app) vcenterCommand() *cobra.Command {
	var dataDir string
	var vf vcenterVault
	cmd := &cobra.Command{
		Use:   "vcenter",
		Short: "vCenter Servers (or ESXi hosts) the configuration server discovers virtual machines from",
		Long: `On the configuration server, these commands change its inventory directly (--data-dir). With
--vault they go through the vault service instead (--server, --token-file, --ca-file as for the
other vault commands): the request reaches the configuration server with its desired state, the
command waits (--wait) until it is carried out, and the account is named only (its credentials
stay on the configuration server).`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	vf.register(cmd)

	var v vcenter.VCenter
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a vCenter with a vcenter account, pin its certificate and discover its machines",
		Long: `Add reads the certificate the vCenter presents and pins its SHA-256 thumbprint (compare it with
the one vCenter shows; give --thumbprint to pin a known one instead), then logs in with the account
and discovers the virtual machines. If that first sync fails, the vCenter stays added with status
Disconnected and the reason; fix it and run osr vcenter refresh. Exit code 1 then.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vf.on(cmd) {
				if v.PushAccount != "" {
					return errors.New("--push-account stays on the configuration server: set it there with osr vcenter set NAME --push-account ACCOUNT")
				}
				return a.vcVaultAdd(cmd, &vf, v)
			}
			if v.PushAccount != "" {
				if err := a.checkPushAccount(cmd, dataDir, v.PushAccount); err != nil {
					return err
				}
			}
			s, inv, err := a.syncer(dataDir)
			if err != nil {
				return err
			}
			if v.Thumbprint == "" {
				tp, err := vcenter.Probe(cmd.Context(), v.Address, v.Port, 10*time.Second)
				if err != nil {
					return fmt.Errorf("vcenter %s: %w; nothing was added", v.Name, err)
				}
				v.Thumbprint = tp
				fmt.Fprintf(a.stdout, "Certificate of %s: SHA-256 %s (pinned; compare it with the one vCenter shows)\n", v.Address, tp)
			}
			changes, err := s.Add(cmd.Context(), v)
			if got, gerr := inv.VCenter(cmd.Context(), v.Name); gerr == nil {
				fmt.Fprintf(a.stdout, "vCenter %s added: %s, %d virtual machines\n", v.Name, got.Status, len(got.VMs))
				printChanges(a, changes)
			}
			return err
		},
	}
	add.Flags().StringVar(&v.Name, "name", "", "name of the vCenter in osr")
	add.Flags().StringVar(&v.Address, "address", "", "IP address or FQDN")
	add.Flags().IntVar(&v.Port, "port", vcenter.DefaultPort, "HTTPS port")
	add.Flags().StringVar(&v.Account, "account", "", "a vcenter account (osr account add --type vcenter)")
	add.Flags().StringVar(&v.Thumbprint, "thumbprint", "", "SHA-256 thumbprint of the vCenter's certificate (default: the one presented now)")
	add.Flags().StringVar(&v.PushAccount, "push-account", "", "ssh account the mobility service is pushed to this vCenter's Linux VMs with (automatic push when replication is enabled)")
	add.Flags().StringVar(&vf.configServer, "config-server", "", "with --vault: the configuration server that discovers it (default: the vault's only one)")
	for _, f := range []string{"name", "address", "account"} {
		_ = add.MarkFlagRequired(f)
	}

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List vCenters with their status, machine count and last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vf.on(cmd) {
				return a.vcVaultList(cmd, &vf, asJSON)
			}
			inv, err := a.inventory(dataDir)
			if err != nil {
				return err
			}
			vs, err := inv.VCenters(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if vs == nil {
					vs = []vcenter.VCenter{}
				}
				return json.NewEncoder(a.stdout).Encode(vs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tACCOUNT\tSTATUS\tVMS\tLAST SYNC\tERROR")
			for _, v := range vs {
				last := "-"
				if !v.LastSync.IsZero() {
					last = v.LastSync.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%d\t%s\t%s\n", v.Name, v.Address, v.Port, v.Account, v.Status, len(v.VMs), last, orDash(v.Error))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "JSON, with every discovered VM")

	refresh := &cobra.Command{
		Use:   "refresh [NAME...]",
		Short: "Discover the machines of the named vCenters (default: all) now",
		RunE: func(cmd *cobra.Command, args []string) error {
			if vf.on(cmd) {
				return a.vcVaultRefresh(cmd, &vf, args)
			}
			s, inv, err := a.syncer(dataDir)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				vs, err := inv.VCenters(cmd.Context())
				if err != nil {
					return err
				}
				for _, v := range vs {
					args = append(args, v.Name)
				}
			}
			var errs []error
			for _, n := range args {
				changes, err := s.Refresh(cmd.Context(), n)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				v, _ := inv.VCenter(cmd.Context(), n)
				fmt.Fprintf(a.stdout, "vCenter %s: %s, %d virtual machines, %d changes\n", n, v.Status, len(v.VMs), len(changes))
				printChanges(a, changes)
			}
			return errors.Join(errs...)
		},
	}

	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a vCenter and the machines discovered through it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vf.on(cmd) {
				return a.vcVaultRemove(cmd, &vf, args[0])
			}
			inv, err := a.inventory(dataDir)
			if err != nil {
				return err
			}
			if err := inv.RemoveVCenter(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "vCenter %s removed\n", args[0])
			return nil
		},
	}
	var pushAccount string
	set := &cobra.Command{
		Use:   "set NAME --push-account ACCOUNT",
		Short: "Set the ssh account the mobility service is pushed to a vCenter's VMs with (\"\" clears it)",
		Long: `Enabling replication on a virtual machine without an agent pushes the mobility service to its first
IP address with this ssh account (osr mobility push --account overrides it). It stays on the
configuration server; set it for vCenters added through the vault too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("push-account") {
				return errors.New("nothing to set: give --push-account")
			}
			if pushAccount != "" {
				if err := a.checkPushAccount(cmd, dataDir, pushAccount); err != nil {
					return err
				}
			}
			inv, err := a.inventory(dataDir)
			if err != nil {
				return err
			}
			if err := inv.SetPushAccount(cmd.Context(), args[0], pushAccount); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "vCenter %s: VMs are pushed with account %s\n", args[0], orDash(pushAccount))
			return nil
		},
	}
	set.Flags().StringVar(&pushAccount, "push-account", "", "an ssh account of the configuration server")
	cmd.AddCommand(add, list, refresh, remove, set)
	return cmd
}

// checkPushAccount refuses an account that is missing or not an ssh account.
func (a *app) checkPushAccount(cmd *cobra.Command, dataDir, name string) error {
	acc, err := a.accountStore(dataDir)
	if err != nil {
		return err
	}
	got, _, err := acc.Secret(cmd.Context(), name)
	if err != nil {
		return err
	}
	if got.Type != "ssh" {
		return fmt.Errorf("account %s is a %s account; pushing to VMs needs an ssh account", name, got.Type)
	}
	return nil
}

// machineRow is one line of osr machines list.
type machineRow struct {
	Name       string   `json:"name"`              // the osr machine name (vault, protected item, agent)
	VMName     string   `json:"vm_name,omitempty"` // its name in vCenter
	Source     string   `json:"source"`            // "physical" or "vcenter:NAME"
	Addresses  []string `json:"addresses"`
	Account    string   `json:"account,omitempty"`
	GuestOS    string   `json:"guest_os,omitempty"`
	PowerState string   `json:"power_state,omitempty"`
	Disks      int      `json:"disks"`
	SizeBytes  int64    `json:"size_bytes"`
}

func (a *app) machinesCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "machines",
		Short: "Source machines: physical servers added by address and virtual machines discovered in vCenter",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	var m vcenter.Machine
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a physical server by IP address or FQDN, with the account that push install uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			inv, err := a.inventory(dataDir)
			if err != nil {
				return err
			}
			acc, err := a.accountStore(dataDir)
			if err != nil {
				return err
			}
			got, _, err := acc.Secret(cmd.Context(), m.Account)
			if err != nil {
				return err
			}
			if got.Type == "vcenter" {
				return fmt.Errorf("account %s is a vcenter account; a machine needs an ssh or windows account", m.Account)
			}
			added, err := inv.AddMachine(cmd.Context(), m)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "machine %s added (%s, account %s)\n", added.Name, added.Address, added.Account)
			return nil
		},
	}
	add.Flags().StringVar(&m.Address, "address", "", "IP address or FQDN")
	add.Flags().StringVar(&m.Account, "account", "", "ssh or windows account for push install")
	add.Flags().StringVar(&m.Name, "name", "", "machine name (default: the address)")
	add.Flags().StringArrayVar(&m.Disks, "disk", nil, "disk a push protects, NAME=PATH (repeat; default: every whole disk the machine lists)")
	add.Flags().StringVar(&m.Root, "install-root", "", "installation root on the machine for pushes (default /; a chroot)")
	_ = add.Flags().MarkHidden("install-root")
	_ = add.MarkFlagRequired("address")
	_ = add.MarkFlagRequired("account")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List physical servers and discovered virtual machines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := a.machineRows(cmd, dataDir)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSOURCE\tVM\tADDRESSES\tOS\tPOWER\tDISKS\tSIZE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Name, r.Source, orDash(r.VMName), orDash(strings.Join(r.Addresses, ",")), orDash(r.GuestOS),
					orDash(r.PowerState), r.Disks, discoveryGiB(r.SizeBytes))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "JSON")
	cmd.AddCommand(add, list)
	return cmd
}

func discoveryGiB(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

func (a *app) machineRows(cmd *cobra.Command, dataDir string) ([]machineRow, error) {
	inv, err := a.inventory(dataDir)
	if err != nil {
		return nil, err
	}
	ms, err := inv.Machines(cmd.Context())
	if err != nil {
		return nil, err
	}
	vs, err := inv.VCenters(cmd.Context())
	if err != nil {
		return nil, err
	}
	rows := []machineRow{}
	for _, m := range ms {
		rows = append(rows, machineRow{Name: m.Name, Source: "physical", Addresses: []string{m.Address}, Account: m.Account})
	}
	for _, v := range vs {
		for _, vm := range v.VMs {
			r := machineRow{Name: vm.Machine, VMName: vm.Name, Source: "vcenter:" + v.Name, Addresses: vm.IPs, GuestOS: vm.GuestOS, PowerState: vm.PowerState, Disks: len(vm.Disks)}
			for _, d := range vm.Disks {
				r.SizeBytes += d.SizeBytes
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}
