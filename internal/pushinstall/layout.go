package pushinstall

import "path"

// Layout is where the agent's files go on a machine, under Root ("" or "/" for the machine's own
// root; tests give each namespace host its own directory, as they share one file system).
type Layout struct{ Root string }

func (l Layout) p(rel string) string { return path.Join("/", l.Root, rel) }

// Binary is the agent's executable.
func (l Layout) Binary() string { return l.p("opt/osr/bin/osr") }

// Supervisor is the fallback supervisor script.
func (l Layout) Supervisor() string { return l.p("opt/osr/bin/osr-mobility-supervise") }

// ConfigDir holds mobility.yaml, the certificate and the link to the configuration server.
func (l Layout) ConfigDir() string { return l.p("etc/osr/mobility") }

// Config is the agent's configuration file.
func (l Layout) Config() string { return l.p("etc/osr/mobility/mobility.yaml") }

// StateDir is the agent's state directory.
func (l Layout) StateDir() string { return l.p("var/lib/osr/mobility") }

// LogFile is where the supervised process writes.
func (l Layout) LogFile() string { return l.p("var/log/osr/mobility.log") }

// PIDFile holds the supervisor's process group.
func (l Layout) PIDFile() string { return l.p("run/osr-mobility.pid") }

// Unit is the systemd unit.
func (l Layout) Unit() string { return l.p("etc/systemd/system/" + UnitName) }

// UnitName is the systemd service name.
const UnitName = "osr-mobility.service"

// owned lists the directories a push creates, outermost first, for removal on failure and
// uninstall; a directory that existed before a push is kept (only the agent's files in it go).
func (l Layout) owned() []string {
	return []string{l.p("opt/osr"), l.p("etc/osr"), l.p("var/lib/osr"), l.p("var/log/osr")}
}
