package portal

// Actions the portal offers; can says which role may do each. The API decides in the end (it
// refuses with 403 whatever the portal shows): this only keeps the pages free of buttons that
// would fail.
const (
	actVaultCreate  = "vault.create"
	actVaultDelete  = "vault.delete"
	actRegKey       = "registration-key.create"
	actTargetSet    = "target.set"
	actPolicyCreate = "policy.create"
	actPolicyAssoc  = "policy.associate"
	actReplEnable   = "replication.enable"
	actReplDisable  = "replication.disable"
	actFailover     = "failover"
	actUsers        = "users" // list, add and remove users
)

// roleActions lists what each role may do: owner everything, contributor everything but user
// management, operator failover only, reader nothing (all roles read, the audit log included).
var roleActions = map[string]map[string]bool{
	"owner": {actVaultCreate: true, actVaultDelete: true, actRegKey: true, actTargetSet: true,
		actPolicyCreate: true, actPolicyAssoc: true, actReplEnable: true, actReplDisable: true, actFailover: true, actUsers: true},
	"contributor": {actVaultCreate: true, actVaultDelete: true, actRegKey: true, actTargetSet: true,
		actPolicyCreate: true, actPolicyAssoc: true, actReplEnable: true, actReplDisable: true, actFailover: true},
	"operator": {actFailover: true},
	"reader":   {},
}

// can reports whether role may do action.
func can(role, action string) bool { return roleActions[role][action] }
