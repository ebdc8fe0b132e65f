// Package pushinstall installs the mobility service on source machines from the configuration
// server, over SSH with a stored account (the seed's "push installation").
//
// For each machine, Push:
//  1. logs in with the account's password or key; the host key is recorded on first contact and
//     must match afterwards (known_hosts in the configuration server's data directory);
//  2. detects the operating system and architecture with `uname -sm` (Linux on x86_64 or
//     aarch64; anything else is refused before anything is written);
//  3. copies the matching build from the install repository over SFTP, checks its SHA-256 on the
//     host and moves it into place (/opt/osr/bin/osr);
//  4. on a first install, registers the machine with the configuration server's passphrase
//     (`osr mobility install`, the passphrase in a 0600 file removed right after); on a machine
//     that is registered already it upgrades in place: new binary, service restarted, same
//     identity;
//  5. runs the agent as a service: a systemd unit (osr-mobility.service, Restart=always) where
//     systemd is running; elsewhere (containers, network-namespace test hosts) a supervised
//     process: a small shell supervisor started with setsid that restarts the agent 5 s after it
//     exits, its process group recorded in /run/osr-mobility.pid, its output in
//     /var/log/osr/mobility.log; it does not survive a reboot, which Push reports;
//  6. waits until the configuration server rates the agent's heartbeat Connected.
//
// A failure before the service starts (login, unreachable host, unsupported system, wrong
// passphrase, checksum) removes everything this push created, so the host is left as it was.
// PushAll runs many machines in parallel, at most Parallel at once. Uninstall stops the service
// and removes the agent's files. WinRM push to Windows is not available: Push answers with an
// error that points to the manual installation.
package pushinstall
